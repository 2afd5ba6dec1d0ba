"""The chaos role's rules (plugins/filter/chaos.py): which nodes a phase hits,
when faults leave the log without a quorum, how a fault's effect, a run and a
suite's conclusions are judged."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "plugins" / "filter" / "chaos.py"
_spec = importlib.util.spec_from_file_location("chaos_filters", _PATH)
chaos = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chaos)

NODES = {f"r{r}n{n}": f"replica{r}" for r in (1, 2, 3) for n in (1, 2, 3)}
DL = ["replica1", "replica2", "replica3"]


def plan(*phases, **kw):
    return chaos.chaos_plan(list(phases), NODES, DL, **kw)


def phase(fault="killed", targets=("r1n1",), seconds=10, **extra):
    targets = targets if isinstance(targets, str) else list(targets)
    return {"fault": fault, "targets": targets, "seconds": seconds, **extra}


def test_a_replica_name_means_its_nodes_and_a_string_is_split():
    out = plan(phase(targets="replica2, r3n1"), allow_quorum_loss=True)
    assert out["errors"] == []
    (p,) = out["phases"]
    assert p["targets"] == ["r2n1", "r2n2", "r2n3", "r3n1"]
    assert p["asked"] == ["replica2", "r3n1"]


def test_two_data_log_replicas_down_is_refused_unless_allowed():
    refused = plan(phase(targets=["r1n1", "r2n3"]))
    assert refused["phases"] == []
    (msg,) = refused["errors"]
    assert 'chaos_targets is ["r1n1", "r2n3"]' in msg
    assert "span 2 of the 3 data+log replicas (replica1, replica2)" in msg
    assert "chaos_allow_quorum_loss=true" in msg
    allowed = plan(phase(targets=["r1n1", "r2n3"]), allow_quorum_loss=True)
    assert allowed["errors"] == [] and allowed["phases"][0]["quorum_loss"] is True


def test_faults_accumulate_and_remaining_means_the_nodes_still_up():
    out = plan(
        phase(targets=["r1n1"]),
        phase(targets=["replica2"], allow_quorum_loss=True),
        phase("skewed", ["remaining"], offsets=["+60s", "-1m"]),
    )
    assert out["errors"] == []
    first, second, third = out["phases"]
    assert not first["quorum_loss"] and second["quorum_loss"]
    # The skew takes nothing down: allowed without its own flag, still in the outage.
    assert third["quorum_loss"] and third["targets"] == ["r1n2", "r1n3", "r3n1", "r3n2", "r3n3"]
    assert third["offsets"] == {"r1n2": "+60s", "r1n3": "-1m", "r3n1": "+60s", "r3n2": "-1m",
                                "r3n3": "+60s"}  # fmt: skip
    assert third["offset_seconds"]["r1n3"] == -60


def test_a_later_phase_that_takes_more_down_needs_its_own_permission():
    out = plan(phase(targets=["r1n1"]), phase("paused", ["r2n1"]))
    assert out["phases"][0]["targets"] == ["r1n1"]
    assert "chaos_phases[1].targets is [\"r2n1\"]" in out["errors"][0]


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (phase("exploded"), "chaos_fault is 'exploded'; it must be one of: killed, stopped"),
        (phase(targets=["nope"]), '["nope"] is neither a node of faunadb_nodes nor a replica'),
        (phase(targets=[]), "name at least one node"),
        (phase(seconds=0), "chaos_fault_seconds is 0; it must be a number of seconds above 0"),
        (phase(seconds=601), "at most chaos_fault_seconds_max (600)"),
        (phase("skewed", offsets=["soon"]), "chaos_skew_offsets is ['soon']; ['soon'] is not"),
    ],
)
def test_bad_phases_are_refused_naming_the_variable(bad, needle):
    out = plan(bad)
    assert out["phases"] == []
    assert needle in out["errors"][0]


def probe(name, **state):
    return {"item": {"name": name}, "running": True, "paused": False, "cut_off": False,
            "skew": 0, **state}  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "took", "missed"),
    [
        ("killed", {"running": False}, {"running": True}),
        ("paused", {"paused": True}, {"paused": False}),
        ("cut_off", {"cut_off": True}, {"cut_off": None}),
        ("skewed", {"skew": 120}, {"skew": 60}),
    ],
)
def test_effect_of_each_fault(fault, took, missed):
    p = {"fault": fault, "targets": ["a", "b"], "offset_seconds": {"a": 120, "b": 120}}
    assert chaos.chaos_effect([probe("a", **took), probe("b", **took)], p)["ok"] is True
    out = chaos.chaos_effect([probe("a", **took), probe("b", **missed)], p)
    assert out["ok"] is False and out["missed"] == ["b"]


def test_effect_misses_a_target_that_was_never_probed():
    p = {"fault": "killed", "targets": ["a", "b"]}
    assert chaos.chaos_effect([probe("a", running=False)], p)["ok"] is False


def test_windows_cut_the_run_at_phase_and_heal_boundaries():
    phases = [{"name": "one", "start_epoch": 105.0}, {"name": "two", "start_epoch": 120.0}]
    out = chaos.chaos_windows(phases, 100.0, 140.0, 150.0, 170.0)
    assert [(w["name"], w["start_epoch"], w["end_epoch"]) for w in out] == [
        ("before the fault", 100.0, 105.0), ("one", 105.0, 120.0), ("two", 120.0, 140.0),
        ("heal", 140.0, 150.0), ("after the heal", 150.0, 170.0),
    ]  # fmt: skip
    assert [w["name"] for w in chaos.chaos_windows([], None, None, None, None)] == []


def run(**over):
    base = {
        "error": None,
        "steady": {"before": {"ok": True}, "after": {"ok": True}},
        "phases": [{"name": "p", "fault": "killed", "effect": {"ok": True, "detail": "x"}}],
        "workload": {"writes": 200, "acked_writes": 199, "lost_writes": 0, "duplicate_writes": 0,
                     "latency_ms": {"p99": 40.0}, "pings": {"sent": 30, "failed": 0}},
        "verification": {"complete": True},
        "heal": {"seconds": 9.5},
        "testinfra": {},
    }  # fmt: skip
    base.update(over)
    return base


EXPECT = {"write_success_pct": 99.5, "lost_writes": 0, "duplicate_writes": 0,
          "heal_seconds": 15}  # fmt: skip


def judged(r, **expect):
    return {e["name"]: e for e in chaos.chaos_judge(r, {**EXPECT, **expect})}


def test_a_good_run_meets_everything_and_each_miss_is_named():
    assert all(e["met"] for e in judged(run()).values())
    assert not judged(run(), write_success_pct=99.9)[chaos.WRITE_SUCCESS]["met"]
    assert judged(run(), write_success_pct=99.9)[chaos.WRITE_SUCCESS]["measured"] == 99.5
    lost = run(workload={**run()["workload"], "lost_writes": 1})
    assert not judged(lost)["lost writes"]["met"]
    incomplete = run(verification={"complete": False})
    assert not judged(incomplete)["lost writes"]["met"]
    assert not judged(run(heal={"seconds": None}))["heal seconds"]["met"]
    assert not judged(run(error="Inject: boom"))["no step failed"]["met"]


def test_a_register_history_that_is_not_linearizable_fails_the_run():
    assert "register history linearizable" not in judged(run())  # no registers, no claim
    good = {"ok": True, "keys": {"r0": {"linearizable": True}, "r1": {"linearizable": True}}}
    bad = {"ok": False, "keys": {"r0": {"linearizable": True}, "r1": {"linearizable": False}}}
    unknown = {"ok": False, "keys": {"r0": {"linearizable": None}}}
    for lin, met, measured in ((good, True, "yes"), (bad, False, "no: r1"),
                               (unknown, False, "no: r0")):
        e = judged(run(workload={**run()["workload"], "linearizability": lin}))[
            "register history linearizable"]
        assert (e["met"], e["measured"]) == (met, measured)


def test_the_heal_bound_adds_the_systems_allowance_and_clocks_put_back():
    slow = run(heal={"seconds": 38.4})
    assert not judged(slow)["heal seconds"]["met"]
    e = judged(slow, heal_allowance_seconds=45)["heal seconds"]
    assert e["met"] and e["expected"] == "< 15 + 45 (allowance of this system)"
    # A real build committed nothing until the wall clock passed the skew it had been given.
    skewed = run(heal={"seconds": 132.8}, phases=[
        {"name": "p", "fault": "skewed", "effect": {"ok": True},
         "offset_seconds": {"n1": 120.0, "n2": -120.0, "n3": 30.0}}])
    e = judged(skewed, heal_allowance_seconds=0)["heal seconds"]
    assert e["met"] and e["expected"] == "< 15 + 120 (clocks put back)"
    assert not judged(run(heal={"seconds": 136.0}, phases=skewed["phases"]))["heal seconds"][
        "met"]


def test_null_expectations_are_reported_but_still_need_a_measurement():
    e = judged(run(), write_success_pct=None, report_p99=True)
    assert e[chaos.WRITE_SUCCESS]["expected"] == "reported" and e[chaos.WRITE_SUCCESS]["met"]
    assert e["client p99 latency ms"]["measured"] == 40.0
    empty = run(workload={"writes": 0, "lost_writes": 0, "duplicate_writes": 0})
    e = judged(empty, write_success_pct=None, report_p99=True)
    assert not e[chaos.WRITE_SUCCESS]["met"] and not e["client p99 latency ms"]["met"]


def test_failed_pings_phase_windows_and_testinfra_are_judged():
    r = run(
        workload={**run()["workload"], "pings": {"sent": 30, "failed": 2}},
        phases=[{"name": "p", "fault": "killed", "effect": {"ok": True},
                 "expect_write_success_pct": 99, "window": {"write_success_pct": 80.0}}],
        testinfra={"phase1": {"ok": False, "tests": 4, "failures": 1, "errors": 0}},
    )  # fmt: skip
    e = judged(r, failed_pings=0)
    assert not e["failed write pings through the load balancer"]["met"]
    assert not e["write success % during p"]["met"]
    assert e["testinfra during phase1"]["measured"] == "4 tests, 1 failed, 0 errors"
    assert not e["testinfra during phase1"]["met"]


def journal(scenario, acked=100, writes=100, lost=0, heal=10.0, **extra):
    return {"scenario": scenario, "verdict": "pass", "heal": {"ok": True, "seconds": heal},
            "workload": {"acked_writes": acked, "writes": writes, "lost_writes": lost,
                         "duplicate_writes": 0, "stale_reads": 0,
                         "verification": {"complete": True}}, **extra}  # fmt: skip


def test_conclusions_claim_by_claim():
    story = journal("story", acked=80, phases=[
        {"name": "a node dies", "quorum_loss": False, "window": {"write_success_pct": 100.0}},
        {"name": "then a whole replica", "quorum_loss": True,
         "data_log_hit": ["replica1", "replica2"],
         "window": {"write_success_pct": 71.4, "writes": 70, "acked_writes": 50}},
    ])  # fmt: skip
    runs = [story, journal("kill_node"), journal("kill_replica"),
            journal("skew_clocks", acked=90)]  # fmt: skip
    out = {c["claim"]: c for c in chaos.chaos_conclusions(runs)}
    assert out["FaunaDB doesn't depend on specific hardware"]["held"] == "yes"
    assert out["FaunaDB is masterless, active-active"]["held"] == "yes"
    # Safe under skew, but 90 % is not available enough: partly, not averaged away.
    assert out["FaunaDB doesn't depend on clocks"]["held"] == "partly"
    quorum = out["Cumulative story, then a whole replica: writes under quorum loss"]
    assert quorum["held"] == "no" and "71.4 %" in quorum["why"]
    assert "replica1, replica2" in quorum["why"]
    assert out["Cumulative story: nothing acknowledged was lost"]["held"] == "yes"
    runs[1] = journal("kill_node", lost=1)
    out = {c["claim"]: c for c in chaos.chaos_conclusions(runs)}
    assert out["FaunaDB doesn't depend on specific hardware"]["held"] == "no"
    assert chaos.chaos_conclusions([])[0]["held"] == "untested"


def test_a_missing_journal_reads_as_a_failed_run(tmp_path):
    assert chaos.chaos_read_journal(tmp_path)["verdict"] == "fail"
    (tmp_path / "journal.json").write_text(json.dumps({"scenario": "x", "verdict": "pass"}))
    assert chaos.chaos_read_journal(tmp_path)["verdict"] == "pass"


SUT_NODES = {"replica1_node1": "replica1", "replica2_node1": "replica2",
             "replica3_node1": "replica3"}


def test_the_system_under_test_names_a_real_build_or_the_double():
    real = chaos.chaos_system("25.02.07.dev-4f8f8be", {"name": "faunalab/faunadb:25.02.07",
                                                       "id": "sha256:31a3cda10501", "digests": []},
                              "container", SUT_NODES)
    assert real["product"] == "faunadb" and not real["test_double"]
    assert real["summary"] == ("FaunaDB 25.02.07.dev-4f8f8be, 3 replicas x 1 node, image "
                               "faunalab/faunadb:25.02.07 (sha256:31a3cda10501)")
    double = chaos.chaos_system("1.0.0-double", {"name": "faunalab/faunadb-double:1.0.0"},
                                "container", {f"r{r}n{n}": f"replica{r}" for r in range(3)
                                              for n in range(3)})
    assert double["test_double"] and double["topology"] == "3 replicas x 3 nodes"
    assert "TEST DOUBLE" in double["summary"] and chaos.REHEARSAL in double["summary"]
    unknown = chaos.chaos_system(None, None, "service", SUT_NODES)
    assert unknown["product"] is None and not unknown["test_double"]
    assert unknown["summary"].startswith("unknown")


def test_conclusions_drawn_on_the_double_are_labelled_a_rehearsal():
    def j(scenario, double):
        return {**journal(scenario), "system_under_test": {"test_double": double}}

    on_double = chaos.chaos_conclusions([j("kill_node", True), j("kill_replica", True)])
    assert all(c["rehearsal"] and c["why"].startswith(chaos.REHEARSAL) for c in on_double)
    on_real = chaos.chaos_conclusions([j("kill_node", False), j("kill_replica", False)])
    assert not any(c.get("rehearsal") for c in on_real)
    assert on_real[0]["held"] == "yes" and chaos.REHEARSAL not in on_real[0]["why"]
