"""Clock skew reaches the process through libfaketime, and the double keeps
working: liveness uses the (unfaked) monotonic clock, ordering a Lamport clock.
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
