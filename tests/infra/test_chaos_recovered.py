"""Testinfra checks after a chaos experiment, run by `molecule verify -s chaos`.

molecule/chaos's side_effect.yml runs chaos/kill_replica.yml (the 3 nodes of
replica2 SIGKILLed for 12 s under a 10 req/s workload, then healed) on the mchaos
cluster. Here: the cluster is whole again (every node container running,
FaunaDB's own view all up and live, a write ping through the load balancer),
and the experiment's journal.json holds the numbers of a passing run. Expected
values come from the scenario's inventory and side_effect.yml.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from molecule_inventory import EPHEMERAL, INVENTORY, nodes_and_lbs

IN_SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME") == "chaos"
pytestmark = pytest.mark.skipif(not IN_SCENARIO, reason="runs in molecule verify -s chaos")
# side_effect.yml: where the report goes and the experiment's sizes.
REPORTS = EPHEMERAL / "reports"
FAULT_S, LEAD_S, RATE, WORKLOAD_S = 12, 4, 10, 30
# The root key, beside the inventory as Ansible sees it (roles/faunadb:
# faunadb_root_key_file is {{ inventory_dir }}/.secrets/<cluster>.root_key):
# the ephemeral inventory directory, where the link to inventory/hosts.yml is.
SECRETS = Path(INVENTORY) / ".secrets"
NODES, LBS = nodes_and_lbs(IN_SCENARIO)
# kill_replica.yml's default target: every node of replica2.
TARGETS = sorted(n for n, v in NODES.items() if v.get("faunadb_replica") == "replica2")


@pytest.fixture(scope="module")
def journal():
    runs = sorted(REPORTS.glob("*-kill_replica"))
    assert runs, f"no kill_replica report under {REPORTS}"
    run_dir = runs[-1]  # named <UTC time>-<scenario>: the last is the latest
    return json.loads((run_dir / "journal.json").read_text())


@pytest.fixture(scope="module")
def status(engine):
    """`faunadb-admin --json status` on the first node, through `docker exec`.

    The key goes in the exec's environment (FAUNADB_ROOT_KEY), never on argv,
    as the faunadb_status module hands it over.
    """
    seed = sorted(NODES)[0]
    cluster = NODES[seed]["faunadb_cluster_name"]
    key = (SECRETS / f"{cluster}.root_key").read_text().strip()
    rc, out = engine.containers.get(seed).exec_run(
        ["/opt/faunadb/bin/faunadb-admin", "--json", "status"],
        environment={"FAUNADB_ROOT_KEY": key, "FAUNADB_CONFIG": "/etc/faunadb/faunadb.yml"},
        demux=True,
    )
    stdout, stderr = out
    assert rc == 0, (stderr or b"").decode()
    return json.loads(stdout)


def test_targets_are_the_nodes_of_replica2():
    assert TARGETS == ["mc_replica2_node1", "mc_replica2_node2", "mc_replica2_node3"]


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_container_running_again(engine, name):
    attrs = engine.containers.get(name).attrs
    assert attrs["State"]["Running"] and attrs["State"]["Status"] == "running"
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    (network,) = attrs["NetworkSettings"]["Networks"].values()
    assert network["IPAMConfig"]["IPv4Address"] == NODES[name]["faunadb_address"]


def test_every_node_up_and_live(status):
    nodes = status.get("resource", status)["nodes"]
    addresses = sorted(v["faunadb_address"] for v in NODES.values())
    assert sorted(n["address"] for n in nodes) == addresses
    assert [(n["status"], n["state"]) for n in nodes] == [("up", "live")] * len(NODES)
    replicas = status.get("resource", status)["replica_info"]
    assert sorted((r["name"], r["type"]) for r in replicas) == [
        ("replica1", "data+log"), ("replica2", "data+log"), ("replica3", "data+log"),
    ]  # fmt: skip


def test_write_ping_through_the_load_balancer():
    (lb,) = LBS.values()
    url = f"http://127.0.0.1:{lb['faunadb_lb_publish_port']}/ping?scope=write"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"resource": "Scope write is OK"}


def test_target_was_killed_and_started_again(engine, journal):
    # The killed node started after the fault began; the others never did.
    def started(name):
        text = engine.containers.get(name).attrs["State"]["StartedAt"]
        return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00").timestamp()

    for name in NODES:
        if name in TARGETS:
            assert started(name) > journal["fault"]["start_epoch"] - 1
        else:
            assert started(name) < journal["started_epoch"]


def test_journal_verdict_and_targets(journal):
    assert journal["scenario"] == "kill_replica"
    assert journal["verdict"] == "pass", journal.get("error")
    assert journal["targets"] == TARGETS
    assert all(e["met"] for e in journal["expectations"]), journal["expectations"]
    assert journal["steady_state_before"]["ok"] is True
    assert journal["steady_state_after"]["ok"] is True


def test_journal_fault(journal):
    fault = journal["fault"]
    assert fault["kind"] == "killed"
    (phase,) = journal["phases"]
    assert phase["effect"]["ok"] and phase["targets"] == TARGETS
    assert phase["exit_codes"] == [137] * len(TARGETS)
    # testinfra saw the three targets down, the six others and the load balancer serving.
    testinfra = journal["testinfra"]["phase1"]
    assert testinfra["ok"] and testinfra["tests"] == len(NODES) + 1
    # That the target went down is shown by test_target_was_killed_and_started_again
    # (the container's own start time), whatever the journal's layout of the phases.
    assert journal["started_epoch"] < fault["start_epoch"] < fault["end_epoch"]
    assert fault["end_epoch"] < journal["ended_epoch"]
    assert FAULT_S - 0.5 <= fault["end_epoch"] - fault["start_epoch"] <= FAULT_S + 3
    assert LEAD_S - 0.5 <= fault["start_t"] <= LEAD_S + 4


def test_journal_heal(journal):
    heal = journal["heal"]
    assert heal["ok"] is True
    assert heal["start_epoch"] == journal["fault"]["end_epoch"]
    assert 0 < heal["seconds"] < 30  # kill_replica.yml's expectation


def test_journal_workload(journal):
    w = journal["workload"]
    assert w["requests"] > 0
    assert w["requests"] == w["ok"] + w["failed"] + w["indeterminate"]
    # Requests and the register operations share the schedule, each counting its slots.
    reg = w["registers"]
    assert w["requests"] + w["skipped"] == w["planned"] == RATE * WORKLOAD_S - reg["planned"]
    assert reg["planned"] > 0 and reg["operations"] + reg["not_sent"] == reg["planned"]
    # Their history (reads and writes on the double) was checked, key by key.
    assert reg["ops"] == ["read", "write"]
    assert w["linearizability"]["ok"] is True and len(w["linearizability"]["keys"]) == 3
    assert w["writes"] + w["reads"] == w["requests"]
    assert w["acked_writes"] > 0
    assert w["lost_writes"] == 0 and w["lost_write_ids"] == []
    assert w["duplicate_writes"] == 0
    assert w["verification"]["complete"] is True
    assert w["verification"]["checked"] == w["writes"]
    assert 100.0 * w["acked_writes"] / w["writes"] >= 99  # kill_replica.yml's expectation
