"""Clock skew reaches the process through libfaketime. A clock put forward
costs nothing: liveness uses the (unfaked) monotonic clock, ordering a Lamport
clock. A clock put back stalls the log until it passes the time the log had
sealed, as on a real build (cluster.py, "the log's windows").
"""

import email.utils
import os
import time
import urllib.request
import warnings

import pytest
from faunadb_double.testing import FAST_TIMINGS, LoopbackCluster

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from faunadb import query as q
    from faunadb.errors import HttpError

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
OFFSET_S = 300

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(LIBFAKETIME), reason="libfaketime not installed"),
]


def _date_offset(url: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local http
        served = email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp()
    return served - time.time()


def test_skewed_node_keeps_working(tmp_path):
    stamp = tmp_path / "faketime"
    stamp.write_text(f"+{OFFSET_S}s\n")
    skew = {
        "LD_PRELOAD": LIBFAKETIME,
        "FAKETIME_TIMESTAMP_FILE": str(stamp),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    with LoopbackCluster(replicas=2, nodes_per_replica=1,
                         subnet=20 + (os.getpid() + 101) % 200) as c:
        skewed = c.nodes[1]
        for node in c.nodes:
            node.env.update(FAST_TIMINGS)
        skewed.env.update(skew)
        c.start_all()
        c.form()
        offset = _date_offset(f"http://{skewed.address}:8443/ping?scope=node")
        assert abs(offset - OFFSET_S) < 5, offset
        assert abs(_date_offset(f"http://{c.nodes[0].address}:8443/ping?scope=node")) < 5
        # Two data+log replicas: every write needs the skewed one too.
        client = c.client(skewed)
        client.query(q.create_collection({"name": "canary"}))
        refs = [client.query(q.create(q.collection("canary"), {"data": {"i": i}}))["ref"]
                for i in range(10)]
        # Stay up past the failure timeout: heartbeats are not judged by wall clock.
        time.sleep(float(FAST_TIMINGS["FAUNADB_DOUBLE_FAILURE_DETECTION_SECONDS"]) + 1)
        assert c.all_up(c.nodes[0]) and c.all_up(skewed)
        assert c.ping(c.nodes[0], "write")[0] == 200
        other = c.client(c.nodes[0])
        assert [other.query(q.get(r))["data"]["i"] for r in refs] == list(range(10))
        # Logical timestamps keep increasing regardless of the skew.
        ts = [other.query(q.get(r))["ts"] for r in refs]
        assert ts == sorted(ts) and len(set(ts)) == len(ts)


STALL_S = 6  # the skew put back: small, so that the stall lasts a few seconds


def _attempt(client, expr, timeout_ms: int) -> str:
    """'ok', or the error code a real node answers (e.g. 'time out')."""
    try:
        client.query(expr, timeout_millis=timeout_ms)
    except HttpError as exc:
        return exc.errors[0].code if exc.errors else type(exc).__name__
    return "ok"


def test_clock_put_back_stalls_writes_until_it_passes_the_log(tmp_path):
    """Real 3 x 1, 2026-12-07 (chaos/skew_clocks.yml): with every clock +120 s
    writes kept committing; put back to +0 they stopped for ~120 s (heal 132 s;
    +30 s: 33 s), until the wall clock passed the time the log had reached.
    Here +6 s then +0: writes and write pings stall for about 6 s and fail
    `time out` at their deadline, reads and read pings still answer, then
    writes commit again, and a write that timed out in the stall is applied."""
    stamp = tmp_path / "faketime"
    stamp.write_text("+0s\n")
    skew = {
        "LD_PRELOAD": LIBFAKETIME,
        "FAKETIME_TIMESTAMP_FILE": str(stamp),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    with LoopbackCluster(replicas=3, nodes_per_replica=1, env={**FAST_TIMINGS, **skew},
                         subnet=20 + (os.getpid() + 103) % 200) as c:
        c.start_all()
        c.form()
        node = c.nodes[1]  # not the segment's leader: its clock matters as much
        client = c.client(node, timeout=10)
        client.query(q.create_collection({"name": "canary"}))
        before = client.query(q.create(q.collection("canary"), {"data": {"i": 0}}))["ref"]

        stamp.write_text(f"+{STALL_S}s\n")
        c.wait_until(lambda: all(abs(_date_offset(f"http://{n.address}:8443/ping?scope=node")
                                     - STALL_S) < 1.5 for n in c.nodes), 10, 0.2, "clocks ahead")
        # Forward skew: writes keep committing while the log follows the clocks.
        ahead = time.monotonic()
        while time.monotonic() - ahead < 2.5:
            assert _attempt(client, q.create(q.collection("canary"), {"data": {}}), 2000) == "ok"

        stamp.write_text("+0s\n")
        back = time.monotonic()
        c.wait_until(lambda: all(abs(_date_offset(f"http://{n.address}:8443/ping?scope=node"))
                                 < 1.5 for n in c.nodes), 10, 0.2, "clocks put back")
        # In the stall: a create with its own id times out, yet is in the log.
        held = q.ref(q.collection("canary"), "4242")
        assert _attempt(client, q.create(held, {"data": {"held": True}}), 1000) == "time out"
        assert c.ping(node, "write", timeout_ms=300)[0] == 503
        assert c.ping(node, "read", timeout_ms=300)[0] == 200
        assert client.query(q.get(before), timeout_millis=2000)["data"] == {"i": 0}
        outcomes = []
        while time.monotonic() - back < STALL_S + 8:
            outcome = _attempt(client, q.create(q.collection("canary"), {"data": {}}), 500)
            outcomes.append((time.monotonic() - back, outcome))
            if outcome == "ok":
                break
        assert outcomes[-1][1] == "ok", outcomes
        assert {o for _, o in outcomes[:-1]} <= {"time out"}, outcomes
        # The log had reached about STALL_S s past the moment the clocks went
        # back (within the leader's 1 s of sealing and libfaketime's re-read).
        assert STALL_S - 2 <= outcomes[-1][0] <= STALL_S + 3, outcomes
        for _ in range(5):
            assert _attempt(client, q.create(q.collection("canary"), {"data": {}}), 2000) == "ok"
        assert c.ping(node, "write", timeout_ms=1000)[0] == 200
        # What timed out in the stall was in the log all along: applied after it.
        assert c.wait_until(lambda: client.query(q.exists(held)), 5, 0.2, "held write applied")
