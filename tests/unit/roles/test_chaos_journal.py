"""The chaos run's records (plugins/filter/chaos_journal.py): each phase's end
and share of the workload, the journal verdict.yml writes, the heal."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[3] / "plugins" / "filter" / "chaos_journal.py"
_spec = importlib.util.spec_from_file_location("chaos_journal_filters", _PATH)
cj = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cj)

T0 = 1700000000.0  # 2023-11-14T22:13:20Z
PLANNED = [{"name": "kill", "fault": "killed", "seconds": 10},
           {"name": "down", "fault": "killed", "seconds": 5},
           {"name": "skew", "fault": "skewed", "seconds": 7.5}]


def records():
    return [{"name": "kill", "fault": "killed", "start_epoch": T0 + 10.5, "effect": {"ok": True}},
            {"name": "down", "fault": "killed", "start_epoch": T0 + 21}]


def run(**extra):
    base = {"scenario": "story", "started": T0, "ended": T0 + 90.5, "targets": ["r1n1"],
            "targets_asked": ["replica1"], "url": "https://lb:8443", "phases_planned": PLANNED,
            "phase_records": [], "fault_start": None, "fault_end": None, "verify": {},
            "workload_started": None, "testinfra": {}, "steady": {}, "heal": None,
            "expectations": [{"name": "no step failed", "met": True}], "verdict": "pass",
            "error": None, "max_in_flight": 128, "workload_seconds": "60", "rate": 20}
    return cj.chaos_journal({**base, **extra})


def test_each_phase_ends_where_the_next_starts_and_the_last_at_the_fault_end():
    out = cj.chaos_phase_records(records(), [], T0 + 30)
    assert [p["end_epoch"] for p in out] == [T0 + 21, T0 + 30]
    assert isinstance(out[1]["end_epoch"], float)
    assert out[0]["effect"] == {"ok": True} and out[0]["start_epoch"] == T0 + 10.5
    assert "end_epoch" not in records()[0]  # the input is left alone


def test_the_last_phase_has_no_end_while_the_fault_has_none():
    assert [p["end_epoch"] for p in cj.chaos_phase_records(records(), [], None)] == [T0 + 21, None]
    assert cj.chaos_phase_records(records(), [], "")[1]["end_epoch"] is None
    assert cj.chaos_phase_records([], [], T0) == []


def test_each_phase_gets_the_window_of_its_name_or_none():
    windows = [{"name": "before the fault", "requests": 3}, {"name": "down", "requests": 5}]
    kill, down = cj.chaos_phase_records(records(), windows, T0 + 30)
    assert kill["window"] == {} and down["window"] == {"name": "down", "requests": 5}


def test_a_run_without_a_fault_has_every_fault_time_unknown():
    j = run(fault_start="", fault_end="")
    assert j["fault"] == {"kind": "killed then skewed", "seconds_planned": 22.5, "start": None,
                          "end": None, "start_epoch": None, "end_epoch": None, "start_t": None,
                          "end_t": None, "seconds": None}
    assert j["started"] == "2023-11-14T22:13:20Z" and j["ended"] == "2023-11-14T22:14:50Z"
    assert j["started_epoch"] == T0 and j["ended_epoch"] == T0 + 90.5
    assert j["phases"] == [] and j["phases_planned"] == PLANNED
    assert j["heal"] == {"ok": False, "seconds": None, "skipped": True}
    assert j["steady_state_before"] == j["steady_state_after"] == {"ok": False, "skipped": True}
    assert j["verdict"] == "pass" and j["error"] is None and j["url"] == "https://lb:8443"


def test_fault_and_phase_times_count_from_the_workload_start():
    phases = cj.chaos_phase_records(records(), [], T0 + 34.777)
    verify = {"workload": {"started_epoch": T0 + 5.333}}
    j = run(fault_start=T0 + 10.4, fault_end=str(T0 + 34.777), phase_records=phases,
            verify=verify, workload_started=T0 + 5)
    f = j["fault"]
    assert f["start"] == "2023-11-14T22:13:30Z" and f["end"] == "2023-11-14T22:13:54Z"
    assert f["start_epoch"] == T0 + 10.4 and f["end_epoch"] == T0 + 34.777
    assert (f["start_t"], f["end_t"], f["seconds"]) == (5.07, 29.44, 24.38)
    assert [(p["start_t"], p["end_t"]) for p in j["phases"]] == [(5.17, 15.67), (15.67, 29.44)]
    assert j["workload"]["started_epoch"] == T0 + 5.333


def test_without_the_workload_start_the_times_on_its_timeline_are_unknown():
    phases = cj.chaos_phase_records(records(), [], None)
    j = run(fault_start=T0 + 10, fault_end=T0 + 30, phase_records=phases)
    assert (j["fault"]["start_t"], j["fault"]["end_t"], j["fault"]["seconds"]) == (None, None, 20)
    assert [(p["start_t"], p["end_t"]) for p in j["phases"]] == [(None, None), (None, None)]
    # The workload task's own start stands in for the workload's.
    assert run(fault_start=T0 + 10, workload_started=T0)["fault"]["start_t"] == 10


def test_the_workload_defaults_when_none_was_verified():
    w = run(verify={"skipped": True, "changed": False})["workload"]
    assert w == {"requests": 0, "ok": 0, "failed": 0, "indeterminate": 0, "skipped": 0,
                 "max_in_flight": 128, "planned": 0, "writes": 0, "reads": 0, "acked_writes": 0,
                 "lost_writes": None, "lost_write_ids": [], "duplicate_writes": 0,
                 "stale_reads": 0, "outcomes": {},
                 "latency_ms": {"p50": None, "p99": None, "max": None}, "per_second": [],
                 "run_id": None, "verification": {}, "started_epoch": None, "pings": {},
                 "registers": None, "linearizability": None, "windows": [],
                 "seconds_planned": 60.0, "rate": 20.0, "journal": "workload.json"}


def test_the_workload_as_verified_and_its_windows():
    verify = {"run_id": "r1", "verification": {"complete": True, "windows": [{"name": "v"}]},
              "workload": {"requests": 7, "lost_writes": 0, "max_in_flight": 64}}
    w = run(verify=verify)["workload"]
    assert (w["requests"], w["lost_writes"], w["max_in_flight"], w["run_id"]) == (7, 0, 64, "r1")
    assert w["windows"] == [{"name": "v"}]  # the verification's, when the result has none
    assert run(verify={**verify, "windows": [{"name": "top"}]})["workload"]["windows"] == [
        {"name": "top"}]


def test_steady_state_heal_and_error_as_recorded():
    heal = {"ok": True, "seconds": 3.2}
    j = run(steady={"before": {"ok": True}}, heal=heal, error="step: boom")
    assert j["steady_state_before"] == {"ok": True}
    assert j["steady_state_after"] == {"ok": False, "skipped": True}
    assert j["heal"] == heal and j["error"] == "step: boom"


NODES = [{"item": {"name": "r1n1"}, "running": True, "actions": ["start"]},
         {"item": {"name": "r2n1"}, "running": True, "actions": ["resume", "reconnect"]}]
OK = {"reason": "ok", "msg": ""}


def heal(nodes=NODES, status=OK, ping=OK, burst=None, size=16):
    burst = {"acked_writes": 16} if burst is None else burst
    return cj.chaos_heal_record(nodes, status, ping, burst, size, fault_end=T0 + 30,
                                end=T0 + 42.345)


def test_a_heal_is_timed_from_the_fault_end_when_everything_holds():
    h = heal()
    assert h["ok"] is True and h["seconds"] == 12.35
    assert h["start"] == "2023-11-14T22:13:50Z" and h["end"] == "2023-11-14T22:14:02Z"
    assert h["start_epoch"] == T0 + 30 and h["end_epoch"] == T0 + 42.345
    assert h["nodes_running"] == ["r1n1", "r2n1"]
    assert h["actions"] == [["start"], ["resume", "reconnect"]]
    assert (h["all_up_and_live"], h["write_ping_lb"], h["writes_commit"]) == (True, True, True)
    assert h["write_burst"] == "16 of 16 acknowledged in the last burst"
    assert h["detail"] == ""


def test_a_node_not_running_fails_the_heal():
    nodes = [NODES[0], {"item": {"name": "r2n1"}, "running": False},
             {"item": {"name": "r3n1"}, "failed": True, "msg": "unreachable"}]
    h = heal(nodes=nodes)
    assert h["ok"] is False and h["seconds"] is None
    assert h["nodes_running"] == ["r1n1"] and h["actions"] == [["start"], [], []]


def test_a_burst_that_misses_says_what_its_writes_got():
    burst = {"acked_writes": 9, "outcomes": {"write": {"ok": 9, "unavailable": 0, "timeout": 7},
                                             "read": {"ok": 0, "timeout": 0}}}
    h = heal(ping={"reason": "ok", "msg": "write ping ok"}, burst=burst)
    assert h["ok"] is False and h["seconds"] is None and h["writes_commit"] is False
    assert h["write_burst"] == "9 of 16 acknowledged in the last burst"
    assert h["detail"] == ("write ping ok; writes still fail: 9 of 16 committed in the last "
                           "burst (ok 9, timeout 7)")


def test_no_ping_means_no_burst_and_the_waits_say_why():
    h = heal(status={"reason": "timeout", "msg": "r2n1 down"}, ping={"failed": True}, burst={})
    assert h["ok"] is False and h["seconds"] is None
    assert (h["all_up_and_live"], h["write_ping_lb"]) == (False, False)
    assert h["write_burst"] == " of 16 acknowledged in the last burst"
    assert h["detail"] == "r2n1 down"


def test_no_burst_asked_leaves_the_writes_to_the_ping():
    h = heal(burst={}, size="0")
    assert h["ok"] is True and h["writes_commit"] is True and h["seconds"] == 12.35
    assert h["write_burst"] == " of 0 acknowledged in the last burst"
