"""The FaunaDB roles' filters (plugins/filter/faunadb_cluster.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[3] / "plugins" / "filter" / "faunadb_cluster.py"
_spec = importlib.util.spec_from_file_location("faunadb_filters", _PATH)
faunadb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faunadb)

NODES = {"10.0.0.1": "replica1", "10.0.0.2": "replica2", "10.0.0.3": "replica3"}
TYPES = dict.fromkeys(["replica1", "replica2", "replica3"], "data+log")


def reading(**changes):
    nodes = [
        dict(address=a, replica=r, status="up", state="live", up_and_live=True)
        for a, r in NODES.items()
    ]
    info = dict(
        member=True,
        nodes=nodes,
        replica_types=dict(TYPES),
        summary=dict(write_quorum=True, data_replicas_down=[]),
        movement=dict(settled=True, message="No data movement is currently in progress."),
    )
    info.update(changes)
    return info


def drift(info, nodes=NODES, types=TYPES):
    return faunadb.faunadb_cluster_drift(info, nodes, types)


def test_a_converged_cluster_has_no_drift():
    assert drift(reading()) == []


def test_no_reading_or_not_a_member_is_drift():
    assert drift({}) and drift({"skipped": True})
    assert "refused" in drift({"failed": True, "msg": "refused"})[0]
    assert drift(reading(member=False))


def test_every_inventory_node_must_be_listed_in_its_replica_up_and_live():
    info = reading()
    info["nodes"][2]["replica"] = "replica1"
    info["nodes"][1].update(status="down", up_and_live=False)
    info["nodes"] = info["nodes"][1:]
    assert drift(info) == [
        "10.0.0.1 is not listed",
        "10.0.0.2 is down and live",
        "10.0.0.3 is in replica1, not replica3",
    ]
    info = reading()
    info["nodes"][0]["state"] = "removed"
    assert drift(info) == ["10.0.0.1 is not listed"]


def test_types_quorum_and_movement_must_be_as_wanted():
    moving = dict(settled=False, message="50.00% of tokens in 3 segments moving")
    assert drift(reading(movement=moving)) == [moving["message"]]
    assert drift(reading(replica_types=dict(TYPES, replica3="compute"))) == [
        "replica replica3 is compute, not data+log"
    ]
    assert drift(reading(summary=dict(write_quorum=False)))
    assert drift(reading(movement=None))
