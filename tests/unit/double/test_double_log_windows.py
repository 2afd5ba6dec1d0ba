"""The log's windows are sealed by wall clock (cluster.py, after FaunaDB's
LogNode.scala / BatchLog.scala): a sealer grants a window at its clock unless
that is behind what the segment's log has sealed; a clock put forward costs
nothing. Driven in-process with a fake wall clock."""

import contextlib
import time

import pytest
from faunadb_double import cluster, peer
from faunadb_double.config import parse_config


@pytest.fixture
def wall(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(cluster.time, "time", lambda: now[0])
    return now


@contextlib.contextmanager
def _running_node(path):
    node = cluster.Node(parse_config({"auth_root_key": "k", "storage_data_path": str(path),
                                      "network_broadcast_address": "127.0.0.1"}))
    try:
        yield node
    finally:
        node.stop()


def test_a_clock_put_back_is_refused_until_it_passes_the_log(tmp_path, wall):
    with _running_node(tmp_path) as node:
        assert node.seal(0) == {"ok": True, "t": 1000.0, "behind": 0.0}
        wall[0] = 1120.0  # put forward: granted at once, the log follows
        assert node.seal(0)["ok"] and node.log_time(0) == 1120.0
        wall[0] = 1001.0  # put back by 119 s
        answer = node.seal(0)
        assert not answer["ok"] and answer["behind"] == pytest.approx(119.0)
        assert node.log_time(0) == 1120.0  # the log never goes back
        wall[0] = 1120.0
        assert node.seal(0)["ok"]


def test_another_segment_must_have_reached_the_window(tmp_path, wall):
    with _running_node(tmp_path) as node:
        node.note_log_time(1, 1100.0)
        assert node.seal(1, reach=1050.0)["ok"]  # its log is there already
        answer = node.seal(1, reach=1200.0)  # its sealer's clock (1000) is 200 s short
        assert not answer["ok"] and answer["behind"] == pytest.approx(200.0)
        wall[0] = 1200.0
        assert node.seal(1, reach=1200.0)["ok"] and node.log_time(1) == 1200.0


def test_what_the_log_reached_is_learnt_forwards_only_and_kept_with_the_entries(tmp_path, wall):
    with _running_node(tmp_path) as node:
        node.note_log_time(0, 1500.0)
        node.note_log_time(0, 1400.0)  # an older heartbeat
        node.note_log_time("0", "not a time")
        assert node.log_time(0) == 1500.0
        node.accept([{"id": "e1", "lts": 1, "key": "d/x/1", "val": {}, "token": 7, "w": 1500.0}])
    with _running_node(tmp_path) as restarted:
        assert restarted.log_time(0) == 1500.0
        assert not restarted.seal(0)["ok"]  # its clock (1000) is behind its log


def test_a_hung_sealer_leaves_time_for_the_next(tmp_path, monkeypatch):
    # A paused leader answers nothing: a 400 ms write ping still gets its window from
    # the next sealer (this node), as the real pause_node's pings all did.
    asked = []

    def hangs(address, port, method, path, body=None, *, timeout):
        asked.append(timeout)
        time.sleep(timeout)
        raise peer.PeerError("timed out", unreachable=True)

    with _running_node(tmp_path) as node:
        monkeypatch.setattr(node, "_sealers", lambda segment: ["paused", node.host_id])
        monkeypatch.setattr(node, "_address", lambda host: ("127.0.0.9", 7500))
        monkeypatch.setattr(cluster.peer, "call", hangs)
        started = time.monotonic()
        assert node._window(0, None, cluster.Deadline(0.4)) > 0
        assert time.monotonic() - started < 0.4
        assert asked and asked[0] == pytest.approx(0.1, abs=0.02)
