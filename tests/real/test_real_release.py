"""The real tier: site.yml, the day-2 playbooks and the chaos scenarios on a real FaunaDB
release, 3 replicas x 1 node behind nginx (inventory/real.yml under the tier's own names).

The system under test is the release in FAUNADB_RELEASE (FaunaDB 25.02.07 in CI), run
unchanged from the image `make image` builds of it. In file order, on one cluster: site.yml
cold, warm (changed=0) and --check (changed=0); status.yml; heal.yml after a kill; the chaos
scenarios kill_node, kill_replica (one replica of three), skew_clocks and pause_node, each
passing its verdict with nothing lost or duplicated and healed; teardown. What each step
measured goes to build/real-tier/real/figures.json (the README's figures come from it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.request

import pytest
from conftest import CLUSTER, LB_PORT
from playbook_kit import docker_names, recap

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def ping(scope: str = "write") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{LB_PORT}/ping?scope={scope}",
                                    timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def changed(proc) -> dict[str, int]:
    return {h: c["changed"] for h, c in recap(proc.stdout).items() if c["changed"]}


def started_version(node: str) -> str | None:
    """The version the node printed at start: `Fauna Service 25.02.07.dev-4f8f8be`."""
    out = subprocess.run(["docker", "exec", node, "grep", "-m1", "Fauna Service",
                          "/var/log/faunadb/core.log"], capture_output=True, text=True).stdout
    found = re.search(r"Fauna Service (\S+)", out)
    return found.group(1) if found else None


def test_site_cold_forms_the_cluster(tier):
    proc = tier.playbook("site.yml")
    tier.record("site_cold_seconds", proc.seconds)
    assert set(docker_names(CLUSTER)) == set(tier.nodes) | {tier.lb}
    assert all(state == "running" for state in docker_names(CLUSTER).values())
    status, body = ping("write")
    assert status == 200 and json.loads(body) == {"resource": "Scope write is OK"}
    # verify.yml printed the table as the real faunadb-admin does: three data+log replicas
    assert len(re.findall(r"Replica: replica\d \(data\+log\)", proc.stdout)) == 3
    versions = {node: started_version(node) for node in tier.nodes}
    tier.record("node_versions", versions)
    assert all(versions.values()), versions


def test_site_warm_changes_nothing(tier):
    proc = tier.playbook("site.yml")
    tier.record("site_warm_seconds", proc.seconds)
    assert changed(proc) == {}


def test_site_check_predicts_no_change(tier):
    proc = tier.playbook("site.yml", "--check")
    tier.record("site_check_seconds", proc.seconds)
    assert changed(proc) == {}


def test_status_shows_every_node_up_and_live(tier):
    proc = tier.playbook("playbooks/status.yml")
    tier.record("status_seconds", proc.seconds)
    assert "all_up_and_live: true" in proc.stdout
    for node_address in ("172.29.60.11", "172.29.60.21", "172.29.60.31"):
        assert re.search(rf"^\s*up\s+live\s+\d+\s+.*{re.escape(node_address)}", proc.stdout,
                         re.M), node_address


def test_heal_restarts_a_killed_node(tier):
    victim = tier.nodes[1]
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
    assert docker_names(CLUSTER, all_states=True)[victim] == "exited"
    proc = tier.playbook("playbooks/heal.yml")
    tier.record("heal_after_kill_seconds", proc.seconds)
    assert recap(proc.stdout)[victim]["changed"] >= 1
    assert docker_names(CLUSTER)[victim] == "running"
    assert "all_up_and_live: true" in tier.playbook("playbooks/status.yml").stdout
    assert ping("write")[0] == 200


class DownWatch:
    """How long FaunaDB's own view took to show a killed node down: a survivor's
    `faunadb-admin status` polled as fast as it answers (each call is a JVM start), bounded."""

    def __init__(self, tier, survivor: str, victim_address: str, bound_s: float = 60):
        # The key goes from this process's environment into the exec, never onto argv.
        self.argv = ["docker", "exec", "-e", "FAUNADB_CONFIG=/etc/faunadb/faunadb.yml",
                     "-e", "FAUNADB_ROOT_KEY", survivor, "/opt/faunadb/bin/faunadb-admin",
                     "status"]
        self.env = dict(os.environ, FAUNADB_ROOT_KEY=tier.root_key())
        self.victim = victim_address
        self.bound_s = bound_s
        self.killed_at = None
        self.seen_down_after = None
        self.poll_seconds = []
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self, killed_at: float):
        self.killed_at = killed_at
        self._thread.start()

    def _watch(self):
        while time.monotonic() - self.killed_at < self.bound_s:
            asked = time.monotonic()
            out = subprocess.run(self.argv, capture_output=True, text=True, timeout=90,
                                 env=self.env).stdout
            self.poll_seconds.append(round(time.monotonic() - asked, 1))
            if re.search(rf"^down\s.*\s{re.escape(self.victim)}\s", out, re.M):
                self.seen_down_after = round(time.monotonic() - self.killed_at, 1)
                return

    def join(self):
        self._thread.join(self.bound_s + 90)


def run_scenario(tier, scenario: str, *extra: str) -> dict:
    proc = tier.playbook(f"chaos/{scenario}.yml", "-e", f"chaos_reports_dir={tier.reports}",
                         *extra, check=False)
    runs = sorted(tier.reports.glob(f"*-{scenario}"))
    assert runs, f"{scenario} wrote no report:\n{proc.stdout[-4000:]}"
    journal = json.loads((runs[-1] / "journal.json").read_text())
    workload = journal["workload"]
    tier.record(scenario, {
        "seconds": proc.seconds, "verdict": journal["verdict"],
        "writes": workload.get("writes"), "acked_writes": workload.get("acked_writes"),
        "lost_writes": workload.get("lost_writes"),
        "duplicate_writes": workload.get("duplicate_writes"),
        "p99_ms": workload.get("latency_ms", {}).get("p99"),
        "heal_seconds": journal["heal"].get("seconds"),
        "missed": [e["name"] for e in journal["expectations"] if not e["met"]],
        "sent_pct": (round(100.0 * workload["requests"] / workload["planned"], 1)
                     if workload["planned"] else None),
        "linearizable": (workload.get("linearizability") or {}).get("ok"),
        "register_ops": (workload.get("registers") or {}).get("operations"),
    })
    # The heal's time is a figure (recorded above), not a gate: on the shared
    # 2-core machine kill_node's heal of this build ranged from 35.7 to 90.6 s
    # (inventory/real.yml). The heal itself must have happened, in the heal
    # timeout, and every other expectation must hold.
    missed = [e["name"] for e in journal["expectations"] if not e["met"]]
    slow_heal_only = missed == ["heal seconds"] and journal["heal"]["ok"] is True
    assert proc.returncode == 0 or slow_heal_only, f"{scenario}: {proc.stdout[-4000:]}"
    assert journal["verdict"] == "pass" or slow_heal_only, missed
    assert workload["lost_writes"] == 0 and workload["duplicate_writes"] == 0
    assert workload["acked_writes"] > 0
    assert journal["heal"]["ok"] is True
    assert journal["steady_state_after"]["ok"] is True
    assert all(state == "running" for state in docker_names(CLUSTER).values())
    # What was tested, named: the release, not the double, and conclusions that stand.
    sut = journal["system_under_test"]
    assert sut["test_double"] is (tier.on_double)
    if not tier.on_double:
        assert sut["version"].startswith(tier.version), sut
        assert "TEST DOUBLE" not in (runs[-1] / "report.md").read_text()
    # Every scenario's register history is linearizable; compare-and-set only on a release.
    lin = workload["linearizability"]
    assert lin["ok"] is True and len(lin["keys"]) == 3, lin
    registers = workload["registers"]
    assert registers["operations"] > 0
    assert registers["ops"] == (["read", "write"] if tier.on_double else ["read", "write", "cas"])
    return journal


def test_chaos_kill_node(tier):
    watch = DownWatch(tier, tier.nodes[1], "172.29.60.11")
    # The seed is the scenario's default target; the watcher starts once it is gone.
    def start_when_killed():
        for _ in range(600):
            if docker_names(CLUSTER, all_states=True).get(tier.nodes[0]) == "exited":
                watch.start(time.monotonic())
                return
            time.sleep(0.2)
    starter = threading.Thread(target=start_when_killed, daemon=True)
    starter.start()
    journal = run_scenario(tier, "kill_node")
    starter.join(5)
    if watch.killed_at is not None:
        watch.join()
    tier.record("failure_detection", {"seen_down_after_s": watch.seen_down_after,
                                      "status_call_seconds": watch.poll_seconds})
    assert journal["targets"] == [tier.nodes[0]]
    assert watch.seen_down_after is not None, "no status on a survivor showed the seed down"


def test_chaos_kill_replica(tier):
    journal = run_scenario(tier, "kill_replica")
    assert journal["targets"] == [tier.nodes[1]]  # replica2: one replica of three


def test_chaos_skew_clocks(tier):
    journal = run_scenario(tier, "skew_clocks")
    assert sorted(journal["targets"]) == sorted(tier.nodes)


def test_chaos_pause_node(tier):
    journal = run_scenario(tier, "pause_node")
    assert journal["targets"] == [tier.nodes[0]]


def test_teardown_removes_the_cluster(tier):
    proc = tier.playbook("playbooks/teardown.yml", "-e", f"faunadb_teardown_confirm={CLUSTER}")
    tier.record("teardown_seconds", proc.seconds)
    assert docker_names(CLUSTER, all_states=True) == {}
    networks = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert f"faunadb-{CLUSTER}" not in networks
