"""faunadb_workload: write pings during the run, and windows in the verification.

Pacing runs on a fake clock; answers are classified from what a FaunaDB node
or nginx sends; one run pings a stub HTTP server that answers 503 for a while.
"""

from __future__ import annotations

import json
import threading
import time
from unittest import mock

import faunadb_workload
import pytest
import requests
from ansible.module_utils import faunadb_workload as wl
from ansible.module_utils import faunadb_workload_client as wl_client
from ansible.module_utils import faunadb_workload_journal as wl_journal
from ansible.module_utils import faunadb_workload_schedule as wl_schedule
from ansible.module_utils import faunadb_workload_stats as wl_stats
from test_faunadb_workload import (
    RUN,
    FakeDB,
    _dropped,
    _refused,
    base_args,
    call_main,
    record,
    secret_file,  # noqa: F401 - a fixture
)

TIME_OUT_BODY = json.dumps({"errors": [{"code": "time out",
                                        "description": "Scope write timed out after 1000 ms"}]})


# -- pacing, on a fake clock -------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def wait(self, seconds):
        self.now += seconds
        return False


def pace(latencies, interval=1.0, bound=10.0, stop_at=None):
    """Send times of the pings, each taking latencies[k] (0.01 s past the list)."""
    clock = FakeClock()
    schedule = wl_schedule.ping_schedule(0.0, interval, bound)
    sent = []

    def send():
        sent.append(round(clock(), 3))
        clock.now += latencies[len(sent) - 1] if len(sent) <= len(latencies) else 0.01

    def wait(seconds):
        clock.wait(seconds)
        return stop_at is not None and clock() >= stop_at

    wl_schedule.ping_loop(schedule, send, clock, wait)
    return sent, schedule


def test_pings_are_due_every_interval_and_never_early():
    sent, schedule = pace([], interval=0.5, bound=3)
    assert sent == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert schedule.skipped == 0


def test_a_waiting_ping_delays_the_next_and_late_ones_are_skipped():
    # Ping 1 takes 1.3 s: ping 2 goes 0.3 s late. Ping 3 takes 2.7 s (until 5.7): pings 4
    # (1.7 s late) and 5 (0.7 s, over half an interval) are skipped, not sent in a burst.
    sent, schedule = pace([0.01, 1.3, 0.01, 2.7])
    assert sent == [0.0, 1.0, 2.3, 3.0, 6.0, 7.0, 8.0, 9.0]
    assert schedule.skipped == 2
    assert all(b - a >= 0.5 for a, b in zip(sent, sent[1:], strict=False))


def test_the_pinger_stops_with_the_run():
    sent, _ = pace([], bound=10, stop_at=3.5)
    assert sent == [0.0, 1.0, 2.0, 3.0]


# -- classification of the answers ----------------------------------------------------------


@pytest.mark.parametrize("status, body, exc, want", [
    (200, '{ "resource": "Scope write is OK" }', None, (True, None)),
    (503, TIME_OUT_BODY, None, (False, "503 time out: Scope write timed out after 1000 ms")),
    (503, "<html>503 Service Unavailable</html>", None, (False, "503")),  # nginx
    (502, "", None, (False, "502")),
    (500, '{"errors": []}', None, (False, "500")),
    (204, None, None, (False, "204")),  # only 200 is a yes
    (None, None, requests.exceptions.ReadTimeout("read timed out"),
     (False, "no answer in time: ReadTimeout")),
    (None, None, _refused(), (False, "not sent: ConnectionError")),
    (None, None, _dropped(), (False, "connection lost after sending: ConnectionError")),
    (None, None, ValueError("boom"), (False, "ValueError")),
])
def test_ping_outcome(status, body, exc, want):
    assert wl_client.ping_outcome(status, body, exc) == want


def test_a_long_error_is_cut_short():
    body = json.dumps({"errors": [{"code": "x", "description": "y" * 1000}]})
    ok, detail = wl_client.ping_outcome(503, body)
    assert not ok and detail.startswith("503 x: yyy") and len(detail) == wl_client.DETAIL_CHARS


@pytest.fixture
def ping_stub(http_stub):
    http_stub.default = (200, '{ "resource": "Scope write is OK" }')
    return http_stub


def test_ping_factory_gets_the_write_scope_without_a_key_and_times_out(ping_stub):
    ping = wl_client.ping_factory(ping_stub.url + "/", 0.3)
    assert ping() == (200, '{ "resource": "Scope write is OK" }')
    method, path, headers, _ = ping_stub.seen[0]
    assert (method, path) == ("GET", "/ping?scope=write")
    assert "Authorization" not in headers
    ping_stub.delay = 2.0
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout) as err:
        ping()
    assert 0.25 <= time.monotonic() - started < 1.5
    assert wl_client.ping_outcome(None, None, err.value) == (
        False, "no answer in time: ReadTimeout")


# -- pings in the run ----------------------------------------------------------------------


def workload(db, **kw):
    args = dict(run_id=RUN, rate=100, duration=1.0, max_requests=100000, max_in_flight=2,
                read_ratio=0.2, request_timeout=1.0, ping_interval=0.25)
    args.update(kw)
    return wl.Workload(db.session, **args)


def test_pings_are_not_requests_and_fill_their_own_counts():
    answers = iter([(200, "")] * 2 + [(503, TIME_OUT_BODY)] * 2)
    run = workload(FakeDB(), ping=lambda: next(answers, (200, "")), wall=lambda: 5000.0)
    progress = []
    started = time.monotonic()
    summary, records = run.run(on_progress=progress.append, interval=0.2)
    assert time.monotonic() - started < 2  # the pinger ends with the clients
    assert summary["requests"] == len(records) == summary["ok"] == 100
    assert summary["started_epoch"] == run.started_epoch == 5000.1
    assert [p["t"] for p in run.pings] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0][:len(run.pings)],
                                                       abs=0.05)
    assert len(run.pings) >= 4
    pings = summary["pings"]
    assert pings["sent"] == len(run.pings) and pings["failed"] == 2
    assert pings["ok"] == pings["sent"] - 2
    assert pings["failed_t"] == [run.pings[2]["t"], run.pings[3]["t"]]
    assert run.pings[2] == {"t": run.pings[2]["t"], "ok": False, "status": 503,
                            "detail": "503 time out: Scope write timed out after 1000 ms",
                            "latency_ms": run.pings[2]["latency_ms"]}
    assert sum(s["pings"] for s in summary["per_second"]) == pings["sent"]
    assert summary["per_second"][0]["pings_failed"] == 2
    assert f", 2/{pings['sent']} write pings failed" in progress[-1]["line"]
    assert progress[-1]["pings_failed"] == 2


def test_no_pings_with_interval_zero():
    ping = mock.Mock(side_effect=AssertionError("pinged"))
    run = workload(FakeDB(), duration=0.2, ping=ping, ping_interval=0)
    summary, _ = run.run()
    assert run.pings == [] and summary["pings"]["sent"] == 0
    assert "pings failed" not in run.progress(done=True)["line"]


def test_a_ping_unanswered_at_the_end_is_a_failed_ping():
    release = threading.Event()
    calls = []

    def ping():
        calls.append(1)
        if len(calls) == 2:
            release.wait(10)  # a timeout that never fired
        return 200, ""

    run = workload(FakeDB(), duration=0.2, ping=ping, ping_interval=0.1)
    run.give_up_after = 0.8
    started = time.monotonic()
    summary, _ = run.run()
    release.set()
    assert time.monotonic() - started < 1.5
    assert [p["ok"] for p in run.pings] == [True, False]
    assert run.pings[1]["detail"] == "still unanswered when the run ended"
    assert run.pings[1]["latency_ms"] >= 500  # until the run gave up on it
    assert summary["pings"]["failed"] == 1


def test_a_503_for_a_while_shows_as_failed_pings_in_its_second(ping_stub):
    ping_stub.answers = {k: (503, TIME_OUT_BODY) for k in (5, 6, 7)}  # t = 1.25, 1.5, 1.75
    run = workload(FakeDB(), duration=2.5, rate=20,
                   ping=wl_client.ping_factory(ping_stub.url, 1.0))
    summary, _ = run.run()
    timeline = summary["per_second"]
    assert [s["pings_failed"] for s in timeline] == [0, 3, 0]
    assert [s["pings"] for s in timeline[:2]] == [4, 4]
    assert summary["pings"]["failed_t"] == pytest.approx([1.25, 1.5, 1.75], abs=0.05)
    assert summary["failed"] == 0  # the requests went on


# -- windows -----------------------------------------------------------------------------


EPOCH = 1000.0


def journal(records, pings=(), epoch=EPOCH):
    return {"format": wl_journal.JOURNAL_FORMAT,
            "run": {"run_id": RUN, "collection": "workload", "started_epoch": epoch},
            "summary": {}, "requests": records, "pings": list(pings), "verification": None}


def window(name, start, end):
    return {"name": name, "start_epoch": start, "end_epoch": end}


def test_window_counts_what_was_sent_in_it():
    records = [
        record(1.999, i=0),  # before the window
        record(2.0, i=1, latency=4.0),  # exactly at start_epoch: in
        record(2.5, i=2, latency=8.0),
        record(2.6, i=3, outcome="timeout", latency=1000.0),
        record(2.7, kind="read", i=4, latency=2.0, ident=wl_schedule.doc_id(RUN, 1)),
        record(2.8, kind="read", i=5, outcome="stale", ident=wl_schedule.doc_id(RUN, 1)),
        record(3.0, i=6, outcome="unavailable"),
        record(4.0, i=7),  # exactly at end_epoch: out
    ]
    pings = [{"t": 1.9, "ok": False}, {"t": 2.0, "ok": True}, {"t": 3.0, "ok": False},
             {"t": 4.0, "ok": False}]
    # Lost: slot 2 (acked, in), slot 3 (never acked: not lost), slots 0 and 7 (outside).
    lost = {wl_schedule.doc_id(RUN, i) for i in (0, 2, 3, 7)}
    # Kept back by the in-flight bound: one slot inside the window, one after it.
    held = dict(journal(records, pings), not_sent=[{"i": 8, "t": 3.5}, {"i": 9, "t": 4.5}])
    [stats] = wl_stats.window_stats(held, [window("during", 1002.0, 1004.0)], lost)
    assert stats == {
        "name": "during", "start_epoch": 1002.0, "end_epoch": 1004.0,
        "requests": 6, "ok": 3, "failed": 2, "indeterminate": 1, "not_sent": 1, "due": 7,
        "writes": 4, "acked_writes": 2, "write_success_pct": 50.0,
        "reads": 2, "reads_ok": 1, "latency_ms": {"p50": 4.0, "p99": 8.0, "max": 8.0},
        "pings": 2, "pings_failed": 1, "lost_writes": 1,
    }


def test_empty_window_and_rounding():
    records = [record(0.1, i=0), record(0.2, i=1), record(0.3, i=2, outcome="unavailable")]
    epoch = 1764512345.123  # + 0.1 is not 1764512345.223 in floats
    stats = wl_stats.window_stats(journal(records, epoch=epoch), [
        window("first", 1764512345.223, 1764512345.424),
        window("none", 0, 1),
    ], set())
    assert [s["name"] for s in stats] == ["first", "none"]
    assert stats[0]["requests"] == 3 and stats[0]["write_success_pct"] == 66.67
    assert stats[1] == {
        "name": "none", "start_epoch": 0, "end_epoch": 1, "requests": 0, "ok": 0, "failed": 0,
        "indeterminate": 0, "not_sent": 0, "due": 0, "writes": 0, "acked_writes": 0,
        "write_success_pct": None,
        "reads": 0, "reads_ok": 0, "latency_ms": {"p50": None, "p99": None, "max": None},
        "pings": 0, "pings_failed": 0, "lost_writes": 0,
    }


def test_verify_fills_the_windows_from_what_it_found_missing():
    records = [record(i / 10, i=i) for i in range(20)]
    missing = {wl_schedule.doc_id(RUN, 3), wl_schedule.doc_id(RUN, 15)}
    windows, problems = wl_schedule.check_windows([window("a", 1000, 1001),
                                                   window("b", "1001", 1002.0)])
    assert not problems and windows[1]["start_epoch"] == 1001.0
    v = wl_journal.verify_journal(journal(records), lambda ids: [i not in missing for i in ids],
                          timeout=5, windows=windows)
    assert [(w["name"], w["requests"], w["lost_writes"]) for w in v["windows"]] == [
        ("a", 10, 1), ("b", 10, 1)]
    assert wl_journal.verify_journal(journal(records), lambda ids: [True] * len(ids),
                             timeout=5)["windows"] == []


@pytest.mark.parametrize("windows, message", [
    ([window("", 1, 2)], "windows[0].name must be a non-empty string"),
    ([{"start_epoch": 1, "end_epoch": 2}], "windows[0].name must be a non-empty string"),
    ([window("a", 1, 2), window("b", 3, 2)], "windows[1].end_epoch (2.0) must be at least "
                                               "start_epoch (3.0)"),
    ([window("a", "soon", 2)], "windows[0].start_epoch must be a number"),
    ([window("a", 1, True)], "windows[0].end_epoch must be a number"),
    ([window("a", 1, float("nan"))], "windows[0].end_epoch must be a number"),
    ([window("a", 1, None)], "windows[0].end_epoch must be a number"),
    ([dict(window("a", 1, 2), stop=3)], "windows[0] has unknown keys stop: allowed are name"),
    (["a"], "windows[0] must be a dict with name"),
])
def test_window_validation(windows, message):
    problems = wl_schedule.check_windows(windows)[1]
    assert any(message in p for p in problems), problems


def test_a_window_may_be_empty_in_time():
    assert wl_schedule.check_windows([window("instant", 5, 5)]) == (
        [window("instant", 5.0, 5.0)], [])


# -- through main() ---------------------------------------------------------------------------


def test_bad_windows_fail_before_anything(tmp_path, secret_file, capsys):  # noqa: F811
    bad = [window("ok", 1, 2), window("late", 5, 4)]
    with mock.patch.object(faunadb_workload, "FaunaSession",
                           side_effect=AssertionError("connected")):
        result = call_main(base_args(tmp_path, secret_file, action="verify", windows=bad),
                           capsys=capsys)
    assert result["failed"] is True
    assert "windows[1].end_epoch (4.0) must be at least start_epoch (5.0)" in result["msg"]
    with mock.patch.object(faunadb_workload, "session_factory",
                           side_effect=AssertionError("connected")):
        result = call_main(base_args(tmp_path, secret_file, windows=[window("a", 1, 2)]),
                           capsys=capsys)
    assert result["failed"] is True and "windows are for action=verify" in result["msg"]
    result = call_main(base_args(tmp_path, secret_file, ping_interval=-1), capsys=capsys)
    assert result["failed"] is True and "ping_interval must be 0" in result["msg"]


def test_verify_with_windows_through_main(tmp_path, secret_file, capsys):  # noqa: F811
    records = [record(i / 10, i=i) for i in range(20)]
    path = tmp_path / "journal.json"
    db = FakeDB()
    db.docs = {r["id"]: {} for r in records if r["i"] != 12}
    path.write_text(json.dumps(journal(records)))
    with mock.patch.object(faunadb_workload, "FaunaSession", return_value=db.session()):
        result = call_main(base_args(tmp_path, secret_file, action="verify", windows=[
            {"name": "during", "start_epoch": "1001.0", "end_epoch": 1001.5}]), capsys=capsys)
    assert not result.get("failed"), result
    assert result["windows"] == result["verification"]["windows"]
    [during] = result["windows"]
    assert (during["name"], during["start_epoch"], during["requests"]) == ("during", 1001.0, 5)
    assert during["lost_writes"] == 1
    assert json.loads(path.read_text())["verification"]["windows"] == result["windows"]


def test_windows_need_a_journal_with_started_epoch(tmp_path, secret_file, capsys):  # noqa: F811
    old = journal([record(0, i=0)])
    del old["run"]["started_epoch"]
    (tmp_path / "journal.json").write_text(json.dumps(old))
    with mock.patch.object(faunadb_workload, "FaunaSession",
                           side_effect=AssertionError("queried")):
        result = call_main(base_args(tmp_path, secret_file, action="verify",
                                     windows=[window("a", 1, 2)]), capsys=capsys)
    assert result["failed"] is True and "no started_epoch" in result["msg"]
