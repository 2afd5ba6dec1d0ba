"""chaos/kill_node.yml and the quorum guard of chaos/kill_replica.yml on a 3x1
cluster of the double behind nginx (inventory.yml here: cluster chaostest,
172.29.41.0/24, load balancer on 127.0.0.1:18741), torn down at the end.

In file order, on one module-scoped cluster:
- --check prints the plan and touches nothing; an unknown target and a
  quorum-loss attempt (targets spanning 2 of the 3 data+log replicas) are
  refused before anything changes (no container touched, no report written);
- a steady state that does not hold stops the run before the fault, with a
  failing verdict and a report;
- kill_node with a 12 s fault under a 10 req/s workload: the report's numbers
  are checked against what the test saw (the container down only inside the
  fault-and-heal window, the counts adding up, nothing lost, the heal timed
  from the fault's end);
- kill_replica with an expectation it cannot meet: the play fails with the
  missed expectation named, after healing (every node running again).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from playbook_kit import ansible_playbook

pytestmark = [pytest.mark.docker, pytest.mark.slow]

INVENTORY = Path(__file__).with_name("inventory.yml")
CLUSTER = "chaostest"
NODES = ["ck_replica1_node1", "ck_replica2_node1", "ck_replica3_node1"]
SEED = NODES[0]
CONFIRM = f"faunadb_teardown_confirm={CLUSTER}"
FAULT_S, LEAD_S, RATE, WORKLOAD_S = 12, 4, 10, 30


def playbook(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return ansible_playbook(INVENTORY, *args, check=check)


def states() -> dict[str, tuple[bool, str]]:
    """Every container of the cluster: name -> (running, StartedAt)."""
    names = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=org.faunalab.cluster={CLUSTER}",
         "--format", "{{.Names}}"], capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.Name}} {{.State.Running}} {{.State.StartedAt}}", *names],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {
        n.lstrip("/"): (r == "true", s) for n, r, s in (line.split() for line in out.splitlines())
    }


@pytest.fixture(scope="module", autouse=True)
def cluster():
    playbook("playbooks/teardown.yml", "-e", CONFIRM)
    playbook("site.yml")
    yield
    playbook("playbooks/teardown.yml", "-e", CONFIRM)


def test_check_mode_prints_the_plan_and_touches_nothing(tmp_path):
    before = states()
    proc = playbook("chaos/kill_node.yml", "--check", "-e", f"chaos_reports_dir={tmp_path}")
    assert "scenario: kill_node" in proc.stdout
    assert f"- {SEED}" in proc.stdout  # the seed is the default target
    assert "killed for 20 s" in proc.stdout and "heal < 15 s" in proc.stdout
    assert states() == before
    assert list(tmp_path.iterdir()) == []


def test_unknown_target_is_refused(tmp_path):
    before = states()
    proc = playbook("chaos/kill_node.yml", "-e", "chaos_targets=replica9_node1",
                    "-e", f"chaos_reports_dir={tmp_path}", check=False)  # fmt: skip
    assert proc.returncode != 0
    assert 'chaos_targets is ["replica9_node1"]' in proc.stdout
    assert "neither a node of faunadb_nodes nor a replica" in proc.stdout
    assert states() == before
    assert list(tmp_path.iterdir()) == []


def test_quorum_loss_is_refused_before_anything_changes(tmp_path):
    before = states()
    assert all(running for running, _ in before.values()) and len(before) == 4
    proc = playbook("chaos/kill_replica.yml", "-e", "chaos_targets=replica1,ck_replica2_node1",
                    "-e", f"chaos_reports_dir={tmp_path}", check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "span 2 of the 3 data+log" in proc.stdout
    assert "chaos_allow_quorum_loss=true" in proc.stdout
    assert "Steady state before" not in proc.stdout and "Inject the fault" not in proc.stdout
    assert states() == before  # same containers, running, never restarted
    assert list(tmp_path.iterdir()) == []


def test_steady_state_miss_stops_before_the_fault_and_reports_it(tmp_path):
    before = states()
    proc = playbook("chaos/kill_node.yml", "-e", "chaos_url=http://127.0.0.1:9",
                    "-e", "chaos_steady_timeout=3", "-e", f"chaos_reports_dir={tmp_path}",
                    check=False)  # fmt: skip
    assert proc.returncode != 0
    assert "nothing to heal: no fault was injected" in proc.stdout
    assert "verdict FAIL" in proc.stdout
    assert states() == before
    (run_dir,) = tmp_path.iterdir()
    j = json.loads((run_dir / "journal.json").read_text())
    assert j["verdict"] == "fail" and j["fault"]["start"] is None
    assert j["steady_state_before"]["ok"] is False
    assert j["steady_state_before"]["all_up_and_live"] is True
    assert j["steady_state_before"]["write_ping_lb"] is False
    assert j["workload"]["requests"] == 0 and j["heal"]["ok"] is False
    assert "Steady state before does not hold" in j["error"]


def test_kill_node_reports_what_happened(tmp_path):
    before = states()
    down: list[float] = []  # when the test saw the seed not running
    stop = threading.Event()

    def watch():  # bounded: at most 600 looks, 0.3 s apart
        for _ in range(600):
            if stop.is_set():
                return
            if not states()[SEED][0]:
                down.append(time.time())
            time.sleep(0.3)

    watcher = threading.Thread(target=watch)
    t0 = time.time()
    watcher.start()
    try:
        proc = playbook(
            "chaos/kill_node.yml", "-e", f"chaos_reports_dir={tmp_path}",
            "-e", f"chaos_fault_seconds={FAULT_S}", "-e", f"chaos_lead_seconds={LEAD_S}",
            "-e", f"chaos_workload_rate={RATE}", "-e", f"chaos_workload_seconds={WORKLOAD_S}",
        )  # fmt: skip
    finally:
        stop.set()
        watcher.join(timeout=30)
    t1 = time.time()
    print(f"kill_node took {t1 - t0:.1f} s")

    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.endswith("-kill_node")
    assert f"verdict PASS; report {run_dir}/report.md" in proc.stdout.split("PLAY RECAP")[0][-400:]
    j = json.loads((run_dir / "journal.json").read_text())
    report = (run_dir / "report.md").read_text()
    assert j["scenario"] == "kill_node" and j["verdict"] == "pass"
    assert j["targets"] == [SEED]

    # The fault: inside the run, held about as long as asked, and what the
    # test itself saw (the seed down only between the fault's start and the heal's end).
    f, heal = j["fault"], j["heal"]
    assert f["kind"] == "killed"
    assert t0 <= j["started_epoch"] < f["start_epoch"] < f["end_epoch"] < j["ended_epoch"] <= t1
    assert FAULT_S - 0.5 <= f["end_epoch"] - f["start_epoch"] <= FAULT_S + 3
    assert f["during"]["targets_down"] and f["during"]["exit_codes"] == [137]
    assert f["during"]["write_ping_lb"] is True
    assert LEAD_S - 0.5 <= f["start_t"] <= LEAD_S + 4
    assert down, "the test never saw the seed down"
    assert f["start_epoch"] - 0.5 <= min(down) and max(down) <= heal["end_epoch"] + 0.5
    assert max(down) - min(down) >= FAULT_S - 2

    # The heal: timed from the fault's end to FaunaDB's own view healthy.
    assert heal["ok"] is True
    assert heal["start_epoch"] == f["end_epoch"]
    assert 0 < heal["seconds"] < 15
    assert abs(heal["end_epoch"] - heal["start_epoch"] - heal["seconds"]) < 0.02
    after = states()
    assert all(running for running, _ in after.values())
    assert after[SEED][1] != before[SEED][1]  # killed and started again
    assert {n: s for n, s in after.items() if n != SEED} == {
        n: s for n, s in before.items() if n != SEED
    }  # nothing else touched

    # The workload: its counts add up, nothing acknowledged was lost.
    w = j["workload"]
    assert w["requests"] == w["ok"] + w["failed"] + w["indeterminate"]
    assert w["requests"] + w["skipped"] == w["planned"] == RATE * WORKLOAD_S
    assert w["writes"] + w["reads"] == w["requests"]
    assert w["acked_writes"] == w["outcomes"]["write"]["ok"] > 0
    assert sum(s["requests"] for s in w["per_second"]) == w["requests"]
    assert w["lost_writes"] == 0 and w["lost_write_ids"] == []
    assert w["duplicate_writes"] == 0 and w["stale_reads"] == 0
    assert w["verification"]["complete"] and w["verification"]["checked"] == w["writes"]
    assert 0 < w["latency_ms"]["p50"] <= w["latency_ms"]["p99"] <= w["latency_ms"]["max"]
    assert 100.0 * w["acked_writes"] / w["writes"] >= 99.5
    journal = json.loads((run_dir / "workload.json").read_text())
    assert len(journal["requests"]) == w["requests"]
    assert journal["summary"]["acked_writes"] == w["acked_writes"]

    # Steady state before and after, and the expectations as declared.
    assert j["steady_state_before"]["ok"] and j["steady_state_after"]["ok"]
    expectations = {e["name"]: e for e in j["expectations"]}
    assert all(e["met"] for e in expectations.values())
    assert expectations["heal seconds"]["measured"] == heal["seconds"]
    assert expectations["lost writes"]["measured"] == 0
    assert expectations["write success % (acked writes / writes sent)"]["expected"] == ">= 99.5"
    assert "# Chaos experiment `kill_node`: PASS" in report
    assert f"Healed in **{heal['seconds']} s**" in report
    assert f"| {w['requests']} | {w['ok']} | {w['failed']} | {w['indeterminate']} |" in report


def test_kill_replica_missing_an_expectation_fails_after_healing(tmp_path):
    before = states()
    proc = playbook(
        "chaos/kill_replica.yml", "-e", f"chaos_reports_dir={tmp_path}",
        "-e", "chaos_fault_seconds=12", "-e", "chaos_lead_seconds=2",
        "-e", "chaos_workload_seconds=20", "-e", "chaos_expect_heal_seconds=0.1",
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    (run_dir,) = tmp_path.iterdir()
    assert f"verdict FAIL: heal seconds missed; report {run_dir}/report.md" in proc.stdout
    j = json.loads((run_dir / "journal.json").read_text())
    assert j["scenario"] == "kill_replica" and j["targets"] == ["ck_replica2_node1"]
    assert j["verdict"] == "fail" and j["heal"]["ok"] is True and j["heal"]["seconds"] > 0.1
    missed = [e["name"] for e in j["expectations"] if not e["met"]]
    assert missed == ["heal seconds"]
    assert j["workload"]["lost_writes"] == 0 and j["workload"]["acked_writes"] > 0
    after = states()
    assert all(running for running, _ in after.values())  # healed before failing
    assert after["ck_replica2_node1"][1] != before["ck_replica2_node1"][1]
