"""3 replicas x 1 node of the double as loopback processes: formed with
faunadb-admin only, driven with the `faunadb` driver, and broken on purpose.

Availability rule under test: a write commits only when a majority of the
data+log replicas accept it; reads need one live data replica.
"""

import time
import warnings

import pytest
from faunadb_double.cluster import FAILURE_TIMEOUT
from faunadb_double.testing import LoopbackCluster, without_key_notice

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from faunadb import query as q
    from faunadb.errors import UnavailableError

pytestmark = pytest.mark.slow

CANARY = q.collection("canary")
# Documented bound (README): a dead node shows "down" on its peers within
# FAILURE_TIMEOUT (3 s) of its last heartbeat; allow scheduling slack.
DOWN_BOUND_S = 5.0


@pytest.fixture(scope="module")
def cluster():
    with LoopbackCluster(replicas=3, nodes_per_replica=1) as c:
        c.start_all()
        c.form()
        yield c


def _statuses(c, node):
    return {n["host_id"]: n["status"] for n in c.status(node)["nodes"]}


def _seen_down(c, observer, victim_id):
    return _statuses(c, observer).get(victim_id) == "down"


def test_formed_with_admin_only_and_status_agrees(cluster):
    c = cluster
    views = []
    for node in c.nodes:
        doc = c.status(node)
        assert doc["replica_info"] == [{"name": f"replica{i}", "type": "data+log"}
                                       for i in (1, 2, 3)]
        views.append(sorted((n["host_id"], n["replica"], n["worker_id"], n["log_segment"],
                             n["status"], n["ownership"]) for n in doc["nodes"]))
    assert views[0] == views[1] == views[2]
    assert {v[2] for v in views[0]} == {512, 513, 514}
    assert all(v[4] == "up" and v[5] == 1.0 for v in views[0])
    c.wait_until(lambda: without_key_notice(c.admin(c.nodes[2], "movement-status").stdout).strip()
                 == "No data movement is currently in progress.", 10)


def test_majority_commit_and_recovery(cluster):
    c = cluster
    n1, n2, n3 = c.nodes
    client = c.client(n1)
    client.query(q.create_collection({"name": "canary"}))
    acked = {}

    def write(i):
        doc = client.query(q.create(CANARY, {"data": {"i": i}}))
        acked[doc["ref"].id()] = {"i": i}

    for i in range(20):
        write(i)

    # One replica lost: failure detected within the bound, writes still commit.
    ids = {n.name: c.node_state(n)["host_id"] for n in c.nodes}
    c.kill(n3)
    killed_at = time.monotonic()
    c.wait_until(lambda: _seen_down(c, n1, ids[n3.name]) and _seen_down(c, n2, ids[n3.name]),
                 DOWN_BOUND_S + 1, 0.1, "n3 down on n1 and n2")
    detected = time.monotonic() - killed_at
    assert detected <= DOWN_BOUND_S, f"failure detected after {detected:.1f} s"
    assert detected >= FAILURE_TIMEOUT - 1.0  # not a fluke of the status call itself
    for i in range(20, 40):
        write(i)
    assert c.ping(n1, "write")[0] == 200

    # Two replicas lost: no majority -> 503 on writes; reads still served.
    c.kill(n2)
    c.wait_until(lambda: _seen_down(c, n1, ids[n2.name]), DOWN_BOUND_S + 1, 0.1, "n2 down")
    with pytest.raises(UnavailableError):
        client.query(q.create(CANARY, {"data": {"i": -1}}))
    some_id = next(iter(acked))
    with pytest.raises(UnavailableError):
        client.query(q.update(q.ref(CANARY, some_id), {"data": {"lost": True}}))
    status, body = c.ping(n1, "write", timeout_ms=300)
    assert status == 503 and body["errors"][0]["code"] in ("time out", "unavailable")
    assert c.ping(n1, "read") == (200, {"resource": "Scope read is OK"})
    assert c.ping(n1, "node") == (200, {"resource": "Scope node is OK"})
    assert c.ping(n1, "bogus")[0] == 200  # unknown scope means node
    assert c.ping(n1, "global", timeout_ms=200)[0] == 503  # alias of write
    assert client.query(q.count(q.documents(CANARY))) == len(acked)
    assert client.query(q.get(q.ref(CANARY, some_id)))["data"] == acked[some_id]

    # Both back: every acknowledged write on every data replica, status all up.
    c.start(n2)
    c.start(n3)
    c.wait_all_up(timeout=15)

    def holds_everything(node):
        docs = c.node_state(node)["docs"]
        return all(docs.get(f"d/canary/{i}", [0, 0, None])[2] == {"data": data}
                   for i, data in acked.items())

    for node in c.nodes:
        c.wait_until(lambda n=node: holds_everything(n), 15, 0.3, f"{node.name} caught up")
        c.wait_until(lambda n=node: c.node_state(n)["synced"], 15, 0.3, f"{node.name} synced")
        node_client = c.client(node)
        assert node_client.query(q.count(q.documents(CANARY))) == len(acked)
        for doc_id, data in list(acked.items())[::7]:
            assert node_client.query(q.get(q.ref(CANARY, doc_id)))["data"] == data
    for node in c.nodes:
        assert set(_statuses(c, node).values()) == {"up"}
        assert c.node_state(node)["host_id"] == ids[node.name]  # identity survived SIGKILL
    assert c.ping(n3, "write")[0] == 200
    assert c.ping(n3, "all")[0] == 200
    c.client(n3).query(q.create(CANARY, {"data": {"after": "recovery"}}))


def test_partitioned_replicas_two_by_two():
    """Owns/Goal partition each data replica; one leader per log segment."""
    with LoopbackCluster(replicas=2, nodes_per_replica=2,
                         subnet=20 + (time.monotonic_ns() // 7) % 200) as c:
        c.start_all()
        c.form()
        doc = c.status(c.nodes[3])
        by_replica = {}
        for n in doc["nodes"]:
            by_replica.setdefault(n["replica"], []).append(n)
        for nodes in by_replica.values():
            assert abs(sum(n["ownership"] for n in nodes) - 1.0) < 1e-6
            assert 0 < min(n["ownership"] for n in nodes)
            assert sorted(n["log_segment"] for n in nodes) == [0, 1]
        leaders = [n["log_segment"] for n in doc["nodes"] if n["log_segment_leader"]]
        assert sorted(leaders) == [0, 1]
        client = c.client(c.nodes[1])
        client.query(q.create_collection({"name": "canary"}))
        for i in range(30):
            client.query(q.create(CANARY, {"data": {"i": i}}))
        for node in c.nodes:
            assert c.client(node).query(q.count(q.documents(CANARY))) == 30
        # Each node holds only (roughly) its share, not a full copy.
        held = [len(c.node_state(n)["docs"]) for n in c.nodes]
        assert all(h < 30 for h in held), held
