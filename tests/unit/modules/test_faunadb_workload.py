"""faunadb_workload: pacing, classification, statistics, verification, and main() on fakes.

No cluster: the database is an in-memory fake behind the same session
interface (create/get/exists_many), and driver errors are built from the
answers a FaunaDB node (or nginx in front of it) gives. One test runs the
real driver session against a stub HTTP server to prove every request has a
client-side timeout and the driver's pypi lookup is gone.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import warnings
from collections import Counter
from http.client import RemoteDisconnected
from unittest import mock

import faunadb_workload
import pytest
import requests
from ansible.module_utils import faunadb_workload as wl
from ansible.module_utils import faunadb_workload_client as wl_client
from ansible.module_utils import faunadb_workload_journal as wl_journal
from ansible.module_utils import faunadb_workload_schedule as wl_schedule
from ansible.module_utils import faunadb_workload_stats as wl_stats
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_linearizability import check_history
from faunadb_module_testkit import run_module_main
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from faunadb.errors import (
        BadRequest,
        NotFound,
        Unauthorized,
        UnavailableError,
        UnexpectedError,
    )
    from faunadb.request_result import RequestResult

SECRET = "wl-s3cr3t-root-key"  # noqa: S105 - a test key
RUN = "17645000001"


# -- helpers -------------------------------------------------------------------------


def answer(status, code=None, raw=None):
    content = {"errors": [{"code": code, "description": "d"}]} if code else None
    return RequestResult("POST", "", None, None, raw or json.dumps(content), content, status,
                         {}, 0.0, 0.0)


def fauna(cls, status, code):
    return cls(answer(status, code))


class FakeDB:
    """Documents by id, shared by every session; knobs to misbehave."""

    def __init__(self):
        self.docs = {}
        self.lock = threading.Lock()
        self.sent = []  # (kind, id, clock) as the requests arrive
        self.fail_create = None  # fn(id) -> exception to raise after (applied, exc) or None

    def session(self):
        return FakeSession(self)


class FakeSession:
    def __init__(self, db):
        self.db = db

    def ensure_collection(self):
        return True

    def create(self, ident, data):
        failure = self.db.fail_create(ident) if self.db.fail_create else None
        with self.db.lock:
            self.db.sent.append(("write", ident, time.monotonic()))
            if ident in self.db.docs:
                raise fauna(BadRequest, 400, "instance already exists")
            if failure is None or failure[0]:
                self.db.docs[ident] = data
        if failure is not None:
            raise failure[1]

    def get(self, ident):
        with self.db.lock:
            self.db.sent.append(("read", ident, time.monotonic()))
            if ident not in self.db.docs:
                raise fauna(NotFound, 404, "instance not found")
            return dict(self.db.docs[ident])

    def exists_many(self, idents):
        with self.db.lock:
            return [i in self.db.docs for i in idents]


def record(t, kind="write", outcome="ok", *, latency=5.0, ident=None, i=0):
    return {"i": i, "client": 0, "kind": kind, "id": ident or wl_schedule.doc_id(RUN, i), "t": t,
            "late_ms": 0.0, "latency_ms": latency, "outcome": outcome}


# -- ids and urls --------------------------------------------------------------------


@pytest.mark.parametrize("url, want", [
    ("http://127.0.0.1:8443", ("http", "127.0.0.1", 8443)),
    ("http://127.0.0.1:8443/", ("http", "127.0.0.1", 8443)),
    ("https://lb.example.com", ("https", "lb.example.com", 443)),
    ("http://[::1]:8443", ("http", "::1", 8443)),
])
def test_parse_url(url, want):
    assert wl_schedule.parse_url(url) == want


@pytest.mark.parametrize("url", [
    "127.0.0.1:8443", "ftp://h:1", "http://h:8443/ping", "http://h:8443?x=1", "http://h:99999",
    "http://u:p@h:8443", "", None,
])
def test_parse_url_refuses(url):
    with pytest.raises(FaunaDBError, match="Invalid url") as err:
        wl_schedule.parse_url(url)
    assert ":p@" not in err.value.msg


@pytest.mark.parametrize("run_id", ["0", "0123", "12a", "123456789012", "", "-1"])
def test_run_id_must_make_numeric_ids(run_id):
    with pytest.raises(FaunaDBError, match="Invalid run_id"):
        wl_schedule.validate_run_id(run_id)


def test_ids_are_64_bit_integers_that_read_back_as_sent():
    run_id = wl_schedule.default_run_id(now=lambda: 9_999_999_999.9)
    assert len(run_id) == 11 and wl_schedule.validate_run_id(run_id)
    largest = wl_schedule.doc_id("9" * 11, wl_schedule.MAX_REQUESTS)
    assert int(largest) < 2**63 and str(int(largest)) == largest
    assert wl_schedule.doc_id(RUN, 42) == RUN + "0000042"
    assert wl_schedule.slot_of(RUN, wl_schedule.doc_id(RUN, 42)) == 42


# -- pacing --------------------------------------------------------------------------


@pytest.mark.parametrize("rate, duration, max_requests, want", [
    (40, 6, 100000, 240),  # slots 0..239, the last due at 5.975 s
    (40, 6, 100, 100),  # max_requests first
    (3, 0.5, 10, 2),  # due at 0 and 0.333; 0.667 is past the end
    (10, 0.3, 10, 3),  # 10 * 0.3 is 3.0000000000000004 in floats
    (0.5, 1, 10, 1),
])
def test_planned_requests(rate, duration, max_requests, want):
    assert wl_schedule.planned_requests(rate, duration, max_requests) == want


def test_reads_are_spread_evenly():
    reads = [i for i in range(100) if wl_schedule.is_read_slot(i, 0.2)]
    assert reads == list(range(4, 100, 5))
    assert not any(wl_schedule.is_read_slot(i, 0.0) for i in range(100))
    assert sum(wl_schedule.is_read_slot(i, 0.25) for i in range(1000)) == 250


def test_schedule_hands_out_slots_in_order_with_their_due_time():
    s = wl_schedule.Schedule(start=100.0, rate=4, planned=3)
    assert s.take(now=99.0) == (0, 100.0)  # early: the client sleeps until due
    assert s.take(now=99.0) == (1, 100.25)
    assert s.take(now=100.9) == (2, 100.5)  # 0.4 s late: still sent
    assert s.take(now=101.0) is None
    assert s.skipped == 0


def test_schedule_skips_slots_late_by_more_than_the_tolerance():
    s = wl_schedule.Schedule(start=0.0, rate=10, planned=100, tolerance=1.0)
    assert s.take(now=0.0) == (0, 0.0)
    # Every client stalled until t=5: slots 1..39 are over a second late.
    assert s.take(now=5.0) == (40, 4.0)
    assert s.skipped == 39
    assert s.take(now=5.0) == (41, 4.1)
    assert s.take(now=5.1) == (42, 4.2)  # late by 0.9 s: sent
    assert s.take(now=50.0) is None  # the rest all passed
    assert s.skipped == 39 + 57
    assert s.skipped + 4 == s.planned


# -- classification ------------------------------------------------------------------


def _refused():
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason=reason))


def _dropped():
    return requests.exceptions.ConnectionError(
        ProtocolError("Connection aborted.", RemoteDisconnected("closed")))


@pytest.mark.parametrize("kind, exc, outcome", [
    ("write", fauna(UnavailableError, 503, "unavailable"), "unavailable"),
    ("write", fauna(UnavailableError, 503, "time out"), "timeout"),
    ("read", fauna(UnavailableError, 503, "time out"), "timeout"),
    ("write", fauna(BadRequest, 400, "instance already exists"), "duplicate"),
    ("read", fauna(BadRequest, 400, "instance already exists"), "other"),
    ("read", fauna(NotFound, 404, "instance not found"), "stale"),
    ("write", fauna(NotFound, 404, "instance not found"), "other"),
    ("write", fauna(BadRequest, 400, "invalid ref"), "other"),
    ("write", fauna(Unauthorized, 401, "unauthorized"), "other"),
    # nginx answers in HTML: the driver raises "Invalid JSON." with the status.
    ("write", UnexpectedError("Invalid JSON.", answer(504, raw="<html>504</html>")), "timeout"),
    ("write", UnexpectedError("Invalid JSON.", answer(502, raw="<html>502</html>")), "timeout"),
    ("write", UnexpectedError("Invalid JSON.", answer(503, raw="<html>503</html>")),
     "unavailable"),
    ("write", requests.exceptions.ReadTimeout("read timed out"), "timeout"),
    ("write", requests.exceptions.ConnectTimeout("connect timed out"), "unavailable"),
    ("write", _refused(), "unavailable"),
    ("write", _dropped(), "timeout"),
    ("write", requests.exceptions.InvalidURL("bad"), "other"),
    ("write", ValueError("boom"), "other"),
])
def test_classify(kind, exc, outcome):
    got, detail = wl_client.classify(kind, exc)
    assert got == outcome, detail
    assert detail


def test_indeterminate_is_a_write_that_timed_out():
    assert wl_stats.settles(record(0, "write", "timeout")) == "indeterminate"
    assert wl_stats.settles(record(0, "read", "timeout")) == "failed"
    for outcome in ("unavailable", "duplicate", "other"):
        assert wl_stats.settles(record(0, "write", outcome)) == "failed"
    assert wl_stats.settles(record(0, "read", "stale")) == "failed"


# -- statistics ----------------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert wl_stats.percentile(values, 50) == 50
    assert wl_stats.percentile(values, 99) == 99
    assert wl_stats.percentile(values[::-1], 100) == 100
    assert wl_stats.percentile([7.0], 99) == 7.0
    assert wl_stats.percentile([], 50) is None
    assert wl_stats.latency_stats([]) == {"p50": None, "p99": None, "max": None, "count": 0}


def test_per_second_timeline_has_every_second():
    records = [record(0.1, latency=3), record(0.5, latency=9),
               record(1.2, outcome="timeout", latency=10000),
               record(1.3, kind="read", outcome="timeout")]
    pings = [{"t": 0.0, "ok": True}, {"t": 1.0, "ok": False}, {"t": 2.0, "ok": False},
             {"t": 2.9, "ok": True}]
    timeline = wl_stats.per_second(records, duration=3, pings=pings)
    assert timeline == [
        {"t": 0, "requests": 2, "ok": 2, "failed": 0, "indeterminate": 0, "p99_ms": 9,
         "not_sent": 0, "pings": 1, "pings_failed": 0},
        {"t": 1, "requests": 2, "ok": 0, "failed": 1, "indeterminate": 1, "p99_ms": None,
         "not_sent": 0, "pings": 1, "pings_failed": 1},
        {"t": 2, "requests": 0, "ok": 0, "failed": 0, "indeterminate": 0, "p99_ms": None,
         "not_sent": 0, "pings": 2, "pings_failed": 1},
    ]
    # A request sent just after the end (late within the tolerance) gets its own second.
    assert len(wl_stats.per_second([record(3.4)], duration=3)) == 4


def test_summary_counts_add_up():
    records = [record(0.0, i=0), record(0.1, outcome="timeout", i=1),
               record(0.2, outcome="duplicate", i=2), record(0.3, outcome="unavailable", i=3),
               record(0.4, kind="read", outcome="stale", ident=wl_schedule.doc_id(RUN, 0), i=4),
               record(0.5, kind="read", latency=2.0, ident=wl_schedule.doc_id(RUN, 0), i=5)]
    s = wl_stats.summarize(records, duration=1, planned=8, skipped=2, elapsed=1.2)
    assert (s["requests"], s["ok"], s["failed"], s["indeterminate"]) == (6, 2, 3, 1)
    assert s["requests"] == s["ok"] + s["failed"] + s["indeterminate"]
    assert s["requests"] + s["skipped"] == s["planned"]
    assert (s["acked_writes"], s["duplicate_writes"], s["stale_reads"]) == (1, 1, 1)
    assert s["lost_writes"] is None
    assert s["outcomes"]["write"] == {"ok": 1, "unavailable": 1, "timeout": 1, "duplicate": 1,
                                      "stale": 0, "other": 0}
    assert s["latency_ms"] == {"p50": 2.0, "p99": 5.0, "max": 5.0, "count": 2}
    assert s["latency_ms_by_kind"]["read"]["count"] == 1
    assert len(s["per_second"]) == 1


# -- the run, on a fake database -------------------------------------------------------


def run_fake(db, **kw):
    args = dict(run_id=RUN, rate=200, duration=0.5, max_requests=100000, max_in_flight=3,
                read_ratio=0.2, request_timeout=1.0)
    args.update(kw)
    workload = wl.Workload(db.session, **args)
    return workload, *workload.run()


def test_run_paces_classifies_and_reads_acknowledged_ids():
    db = FakeDB()
    progress = []
    workload = wl.Workload(db.session, run_id=RUN, rate=200, duration=0.5, max_requests=100000,
                           max_in_flight=3, read_ratio=0.2, request_timeout=1.0)
    started = time.monotonic()
    summary, records = workload.run(on_progress=progress.append, interval=0.1)
    assert time.monotonic() - started < 2
    assert summary["planned"] == 100
    assert summary["requests"] + summary["skipped"] == 100
    assert summary["requests"] == summary["ok"] == len(records) >= 95
    assert 15 <= summary["reads"] <= 20  # early reads before any ack turn into writes
    assert summary["acked_writes"] == len(db.docs) == summary["writes"]
    for r in records:
        assert r["late_ms"] >= 0  # never early
        if r["kind"] == "read":
            assert r["id"] in db.docs
    # Each write id appears once, and carries its own slot number.
    writes = [r for r in records if r["kind"] == "write"]
    assert len({r["id"] for r in writes}) == len(writes)
    assert all(r["id"] == wl_schedule.doc_id(RUN, r["i"]) for r in writes)
    assert progress and progress[-1]["done"] is True
    assert progress[-1]["requests"] == summary["requests"]
    assert "requests" in progress[-1]["line"]
    assert summary["client_errors"] == []


def test_run_stops_at_max_requests():
    _, summary, records = run_fake(FakeDB(), max_requests=7, read_ratio=0)
    assert summary["planned"] == summary["requests"] == 7
    assert sorted(r["i"] for r in records) == list(range(7))


def test_run_records_failures_and_indeterminate_writes():
    db = FakeDB()
    # Every 5th create times out (applied or not, alternately), every 7th is refused.
    def fail(ident):
        slot = wl_schedule.slot_of(RUN, ident)
        if slot % 5 == 1:
            return (slot % 10 == 1), requests.exceptions.ReadTimeout("read timed out")
        if slot % 7 == 3:
            return False, fauna(UnavailableError, 503, "unavailable")
        return None
    db.fail_create = fail
    _, summary, records = run_fake(db, read_ratio=0)
    assert summary["requests"] == summary["ok"] + summary["failed"] + summary["indeterminate"]
    assert summary["indeterminate"] == sum(1 for r in records if r["i"] % 5 == 1)
    assert summary["outcomes"]["write"]["unavailable"] > 0
    assert summary["acked_writes"] == summary["ok"]


def test_a_replayed_write_is_a_duplicate():
    db = FakeDB()
    # A proxy applied slot 3 already.
    db.docs[wl_schedule.doc_id(RUN, 3)] = wl_schedule.doc_data(RUN, 3)
    _, summary, records = run_fake(db, max_requests=10, read_ratio=0)
    assert summary["duplicate_writes"] == 1
    assert [r["i"] for r in records if r["outcome"] == "duplicate"] == [3]


def test_a_read_that_misses_an_acknowledged_write_is_stale():
    db = FakeDB()
    original = FakeSession.create

    def create_then_lose(self, ident, data):
        original(self, ident, data)
        if wl_schedule.slot_of(RUN, ident) == 0:
            with self.db.lock:
                del self.db.docs[ident]  # acknowledged, then gone

    with mock.patch.object(FakeSession, "create", create_then_lose):
        _, summary, records = run_fake(db, max_requests=30, read_ratio=0.5, max_in_flight=1)
    stale = [r for r in records if r["outcome"] == "stale"]
    assert stale and all(r["id"] == wl_schedule.doc_id(RUN, 0) for r in stale)
    assert summary["stale_reads"] == len(stale)


def test_a_hung_request_is_given_up_on_and_counted():
    db = FakeDB()
    release = threading.Event()

    def hang(ident):
        if wl_schedule.slot_of(RUN, ident) == 2:
            release.wait(10)  # a server that never answers and a timeout that did not fire

    db.fail_create = hang
    workload = wl.Workload(db.session, run_id=RUN, rate=50, duration=0.2, max_requests=100,
                           max_in_flight=2, read_ratio=0, request_timeout=0.2)
    workload.give_up_after = 0.8
    started = time.monotonic()
    summary, records = workload.run()
    release.set()
    assert time.monotonic() - started < 2
    hung = [r for r in records if r["i"] == 2]
    assert hung and hung[0]["outcome"] == "timeout" and "unanswered" in hung[0]["detail"]
    assert summary["indeterminate"] >= 1


def test_a_stalled_cluster_still_gets_every_request_on_schedule():
    # Open loop: while every write hangs, the requests due keep leaving on time (a closed loop
    # of 8 clients sent 56 of 327 due in the story's quorum loss); each hangs until its own
    # deadline and counts as indeterminate in the second it was sent.
    db = FakeDB()
    stall = threading.Event()

    def hang(ident):
        if wl_schedule.slot_of(RUN, ident) >= 20:
            stall.wait(0.6)
            return False, TimeoutError("no answer")
        return None

    db.fail_create = hang
    workload = wl.Workload(db.session, run_id=RUN, rate=50, duration=1.6, max_requests=1000,
                           max_in_flight=256, read_ratio=0, request_timeout=0.6)
    summary, records = workload.run(interval=0.1)
    stall.set()
    assert summary["planned"] == 80 and summary["skipped"] == 0
    assert summary["requests"] == 80  # sent / due = 100 %
    assert all(r["late_ms"] < 200 for r in records)  # on schedule, however many hung
    hung = [r for r in records if r["i"] >= 20]
    assert len(hung) == 60 and all(r["outcome"] != "ok" for r in hung)
    seconds = summary["per_second"]
    assert [b["requests"] for b in seconds] == [50, 30]
    assert seconds[0]["ok"] == 20 and seconds[1]["ok"] == 0
    assert summary["threads"] > 8  # as many connections as requests outstanding


def test_the_in_flight_bound_counts_what_it_kept_back():
    db = FakeDB()
    gate = threading.Event()
    db.fail_create = lambda ident: gate.wait(0.5) and None
    workload = wl.Workload(db.session, run_id=RUN, rate=100, duration=0.3, max_requests=1000,
                           max_in_flight=5, read_ratio=0, request_timeout=1.0)
    summary, records = workload.run(interval=0.1)
    gate.set()
    assert summary["planned"] == 30
    assert summary["requests"] + summary["skipped"] == 30
    assert summary["threads"] <= 5
    assert summary["skipped"] >= 20  # 5 out for 0.5 s, one due every 10 ms
    assert sum(b["not_sent"] for b in summary["per_second"]) == summary["skipped"]


def test_the_ledger_has_every_acknowledged_write_as_it_happens(tmp_path):
    db = FakeDB()
    path = tmp_path / "ledger.jsonl"
    on_ack, close = wl_journal.open_ledger(str(path), {"run_id": RUN, "collection": "workload",
                                               "started_epoch": 1.0})
    seen = []

    def on_ack_and_look(record):
        on_ack(record)
        seen.append(len(path.read_text().splitlines()))  # on disk already

    db.fail_create = lambda ident: (
        (False, TimeoutError("x")) if wl_schedule.slot_of(RUN, ident) == 3 else None)
    workload = wl.Workload(db.session, run_id=RUN, rate=100, duration=0.1, max_requests=10,
                           max_in_flight=4, read_ratio=0, request_timeout=1.0,
                           on_ack=on_ack_and_look)
    summary, records = workload.run(interval=0.05)
    close()
    assert summary["acked_writes"] == 9 and len(seen) == 9 and max(seen) == 10
    with path.open("a") as fh:
        fh.write('{"id": "12')  # a line cut short by a kill
    journal = wl_journal.journal_from_ledger(str(path))
    acked = {r["id"] for r in records if r["outcome"] == "ok"}
    assert {r["id"] for r in journal["requests"]} == acked
    assert journal["run"]["collection"] == "workload" and journal["run"]["from_ledger"]
    verification = wl_journal.verify_journal(journal, db.session().exists_many, 5)
    assert verification["complete"] and verification["lost_writes"] == 0
    assert verification["acked_writes"] == 9
    assert wl_journal.journal_from_ledger(str(tmp_path / "none")) is None


# -- verification --------------------------------------------------------------------


def journal_of(records):
    return {"format": wl_journal.JOURNAL_FORMAT, "run": {"run_id": RUN, "collection": "workload"},
            "summary": wl_stats.summarize(records, duration=1, planned=len(records), skipped=0,
                                    elapsed=1), "requests": records, "verification": None}


def test_verify_names_lost_writes_and_counts_what_was_applied_anyway():
    records = [record(i / 1000, i=i) for i in range(250)]
    records[10]["outcome"] = "timeout"  # applied anyway
    records[11]["outcome"] = "timeout"  # not applied
    records[12]["outcome"] = "unavailable"
    records.append(record(0.3, kind="read", outcome="stale", ident=wl_schedule.doc_id(RUN, 0),
                          i=250))
    present = {r["id"] for r in records if r["kind"] == "write"} - {
        wl_schedule.doc_id(RUN, i) for i in (7, 11, 12, 200)}
    calls = []

    def exists_many(ids):
        calls.append(len(ids))
        return [i in present for i in ids]

    v = wl_journal.verify_journal(journal_of(records), exists_many, timeout=5)
    assert calls == [100, 100, 50]
    assert v["complete"] is True and v["unverified"] == 0 and v["checked"] == 250
    assert v["acked_writes"] == 247
    assert v["lost_writes"] == 2
    assert v["lost_write_ids"] == [wl_schedule.doc_id(RUN, 7), wl_schedule.doc_id(RUN, 200)]
    assert v["indeterminate_writes"] == 2
    assert v["indeterminate_applied"] == 1
    assert v["indeterminate_applied_by_outcome"] == {"timeout": 1}
    assert v["stale_reads"] == 1
    workload = wl_journal.verified_workload(journal_of(records), v)
    assert workload["lost_writes"] == 2 and workload["verified"] is True
    assert workload["acked_writes"] == 247


def test_verify_retries_until_its_bound_then_reports_what_it_could_not_check():
    records = [record(i / 1000, i=i) for i in range(150)]
    now = [0.0]
    answers = iter([fauna(UnavailableError, 503, "time out"), None])

    def exists_many(ids):
        now[0] += 1.0
        failure = next(answers, fauna(UnavailableError, 503, "unavailable"))
        if failure is not None:
            raise failure
        return [True] * len(ids)

    def sleep(seconds):
        now[0] += seconds

    v = wl_journal.verify_journal(journal_of(records), exists_many, timeout=10,
                          clock=lambda: now[0], sleep=sleep)
    assert v["complete"] is False
    assert (v["checked"], v["unverified"]) == (100, 50)
    assert v["lost_writes"] == 0
    assert v["query_errors"]["timeout"] == 1 and v["query_errors"]["unavailable"] >= 1
    assert v["last_error"].startswith("503")
    assert now[0] <= 10 + 1.0  # the bound, plus the call under way when it passed


def test_verify_refuses_a_malformed_answer():
    with pytest.raises(FaunaDBError, match="answered"):
        wl_journal.verify_journal(journal_of([record(0, i=0)]), lambda ids: [], timeout=1)


# -- the real driver session: timeouts and no pypi lookup -------------------------------


def test_session_sends_the_deadline_and_times_out_on_its_own(http_stub):
    http_stub.default = (200, '{"resource": [true, false]}')
    with mock.patch("faunadb.client.get", side_effect=AssertionError("pypi lookup")):
        connect = wl_client.session_factory(http_stub.url, SECRET, "workload", 0.3)
        session = connect()
    assert session.exists_many(["1", "2"]) == [True, False]
    _, _, headers, body = http_stub.seen[0]
    assert headers["X-Query-Timeout"] == "300"
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(body) == [{"exists": {"ref": {"collection": "workload"}, "id": "1"}},
                                {"exists": {"ref": {"collection": "workload"}, "id": "2"}}]
    http_stub.delay = 3.0  # never answers in time
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout) as err:
        session.create("1", {"run": "1", "slot": 0})
    waited = time.monotonic() - started
    assert 0.3 + wl_schedule.ANSWER_GRACE_S - 0.1 <= waited < 0.3 + wl_schedule.ANSWER_GRACE_S + 1.0
    assert wl_client.classify("write", err.value)[0] == "timeout"


def test_real_connection_failures_are_told_apart(http_stub):
    http_stub.drop = True
    session = wl_client.session_factory(http_stub.url, SECRET, "workload", 2.0)()
    with pytest.raises(requests.exceptions.ConnectionError) as err:
        session.create("1", {})
    assert wl_client.classify("write", err.value) == (
        "timeout", "connection lost after sending: ConnectionError")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nobody listens there now: refused
    session = wl_client.session_factory(f"http://127.0.0.1:{port}", SECRET, "workload", 2.0)()
    with pytest.raises(requests.exceptions.ConnectionError) as err:
        session.create("1", {})
    assert wl_client.classify("write", err.value) == ("unavailable", "not sent: ConnectionError")


# -- main() ---------------------------------------------------------------------------


def call_main(args, check_mode=False, capsys=None):
    return run_module_main(faunadb_workload, args, capsys, check_mode=check_mode).result


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "root_key"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return str(path)


def base_args(tmp_path, secret_file, **kw):
    args = dict(action="run", url="http://127.0.0.1:8443", secret_file=secret_file,
                journal=str(tmp_path / "journal.json"),
                progress_file=str(tmp_path / "progress.json"), run_id=RUN, rate=200,
                duration=0.3, max_in_flight=2)
    args.update(kw)
    return args


def test_check_mode_plans_and_touches_nothing(tmp_path, secret_file, capsys):
    with mock.patch.object(faunadb_workload, "session_factory",
                           side_effect=AssertionError("connected in check mode")):
        result = call_main(base_args(tmp_path, secret_file, rate=40, duration=6), True, capsys)
    assert result["changed"] is True and not result.get("failed")
    assert result["plan"]["planned_requests"] == 240
    assert result["plan"]["planned_reads_at_most"] == 48
    assert result["plan"]["ids"] == [RUN + "0000000", RUN + "0000239"]
    assert result["plan"]["seconds_at_most"] == pytest.approx(6 + 1 + 3 + 10 + 1 + 2)
    assert "workload" not in result
    assert os.listdir(tmp_path) == ["root_key"]


def test_run_then_verify_through_main(tmp_path, secret_file, capsys):
    db = FakeDB()
    db.docs["stranger"] = {}
    factory = mock.Mock(return_value=db.session)
    pinger = mock.Mock(return_value=lambda: (200, '{ "resource": "Scope write is OK" }'))
    with mock.patch.object(faunadb_workload, "session_factory", factory), \
            mock.patch.object(faunadb_workload, "ping_factory", pinger):
        run = call_main(base_args(tmp_path, secret_file, ping_interval=0.1), capsys=capsys)
    assert not run.get("failed"), run
    assert factory.call_args.args[1] == SECRET
    workload = run["workload"]
    assert run["changed"] is True and run["collection_created"] is True
    assert workload["requests"] == workload["ok"] == 60 and workload["lost_writes"] is None
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["run"]["run_id"] == RUN and len(journal["requests"]) == 60
    assert journal["summary"] == workload
    assert pinger.call_args.args == ("http://127.0.0.1:8443", 10.0, True)
    assert workload["pings"]["sent"] == len(journal["pings"]) >= 3
    assert workload["pings"]["failed"] == 0 and journal["run"]["ping_interval"] == 0.1
    assert journal["run"]["started_epoch"] == workload["started_epoch"]
    assert abs(workload["started_epoch"] - time.time()) < 60
    progress = json.loads((tmp_path / "progress.json").read_text())
    assert progress["done"] is True and progress["requests"] == 60

    lost = sorted(db.docs)[0]
    del db.docs[lost]
    with mock.patch.object(faunadb_workload, "FaunaSession", return_value=db.session()):
        verify = call_main(base_args(tmp_path, secret_file, action="verify"), capsys=capsys)
    assert verify["changed"] is False and not verify.get("failed"), verify
    assert verify["workload"]["lost_writes"] == 1
    assert verify["workload"]["lost_write_ids"] == [lost]
    assert json.loads((tmp_path / "journal.json").read_text())["verification"] == \
        verify["verification"]
    for path in (tmp_path / "journal.json", tmp_path / "progress.json"):
        assert SECRET not in path.read_text()
    assert SECRET not in json.dumps(run) + json.dumps(verify)


def test_incomplete_verification_fails_with_the_partial_result(tmp_path, secret_file, capsys):
    (tmp_path / "journal.json").write_text(json.dumps(journal_of([record(0, i=0)])))
    session = mock.Mock()
    session.exists_many.side_effect = fauna(UnavailableError, 503, "time out")
    with mock.patch.object(faunadb_workload, "FaunaSession", return_value=session):
        result = call_main(base_args(tmp_path, secret_file, action="verify", verify_timeout=0.2),
                           capsys=capsys)
    assert result["failed"] is True
    assert "Verification incomplete: 1 of 1 ids" in result["msg"]
    assert result["verification"]["unverified"] == 1


@pytest.mark.parametrize("change, message", [
    (dict(url="http://h/x"), "Invalid url"),
    (dict(run_id="0123"), "Invalid run_id"),
    (dict(rate=0), "rate must be above 0"),
    (dict(read_ratio=1.0), "read_ratio"),
    (dict(max_requests=10**7), "max_requests"),
    (dict(secret="another-test-key"), "mutually exclusive"),  # noqa: S106
    (dict(secret_file=None), "one of the following is required"),
])
def test_bad_arguments_fail_before_anything_happens(tmp_path, secret_file, capsys, change,
                                                    message):
    args = {k: v for k, v in {**base_args(tmp_path, secret_file), **change}.items()
            if v is not None}
    with mock.patch.object(faunadb_workload, "session_factory",
                           side_effect=AssertionError("connected")):
        result = call_main(args, capsys=capsys)
    assert result["failed"] is True and message in result["msg"], result
    assert not (tmp_path / "journal.json").exists()


def test_a_journal_that_cannot_be_written_stops_the_run_before_it_starts(tmp_path, secret_file,
                                                                         capsys):
    args = base_args(tmp_path, secret_file, journal=str(tmp_path / "nowhere" / "j.json"))
    with mock.patch.object(faunadb_workload, "session_factory",
                           side_effect=AssertionError("connected")):
        for check_mode in (True, False):
            result = call_main(args, check_mode, capsys)
            assert result["failed"] is True and "not writable" in result["msg"], result


def test_files_hold_one_line_per_request_and_parse_back(tmp_path):
    journal = journal_of([record(i / 10, i=i) for i in range(5)])
    path = tmp_path / "j.json"
    wl_journal.write_json(str(path), journal)
    text = path.read_text()
    assert json.loads(text) == journal
    lines = text.splitlines()
    assert sum(1 for line in lines if line.lstrip().startswith('{"i": ')) == 5
    assert len(lines) < 60
    assert os.listdir(tmp_path) == ["j.json"]  # no temporary file left behind
    wl_journal.write_json(str(tmp_path / "p.json"), {"done": True, "line": "x"})
    assert '"done": true' in (tmp_path / "p.json").read_text()


def test_verify_without_a_journal_says_so(tmp_path, secret_file, capsys):
    result = call_main(base_args(tmp_path, secret_file, action="verify"), capsys=capsys)
    assert result["failed"] is True and "run action=run first" in result["msg"]


def test_secret_file_checks(tmp_path, secret_file, capsys):
    os.chmod(secret_file, 0o644)
    module = mock.Mock(no_log_values=set())
    assert wl_journal.read_secret(module, {"secret": None, "secret_file": secret_file}) == SECRET
    assert "0600" in module.warn.call_args.args[0]
    assert SECRET in module.no_log_values
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(FaunaDBError, match="is empty"):
        wl_journal.read_secret(module, {"secret": None, "secret_file": str(empty)})
    with pytest.raises(FaunaDBError, match="Cannot read secret_file"):
        wl_journal.read_secret(module, {"secret": None, "secret_file": str(tmp_path / "none")})


def test_missing_driver_is_a_clear_failure(tmp_path, secret_file, capsys):
    with mock.patch.object(faunadb_workload, "HAS_FAUNADB", False):
        result = call_main(base_args(tmp_path, secret_file), capsys=capsys)
    assert result["failed"] is True and "faunadb" in result["msg"]


def test_outcome_names_are_the_documented_ones():
    doc = faunadb_workload.DOCUMENTATION
    for outcome in wl_stats.OUTCOMES:
        assert f"C({outcome})" in doc
    assert Counter(wl_stats.OUTCOMES) == Counter(set(wl_stats.OUTCOMES))


class RegisterDB(FakeDB):
    """FakeDB with registers: atomic (a lock), or with reads served from a stale copy."""

    def __init__(self, stale=False):
        super().__init__()
        self.registers, self.snapshot, self.stale = {}, {}, stale

    def session(self):
        db = self
        session = FakeSession(db)

        def read(key):
            with db.lock:
                return (db.snapshot if db.stale else db.registers).get(key)

        def write(key, value):
            with db.lock:
                db.snapshot = dict(db.registers)  # what a stale read still sees
                db.registers[key] = value

        def cas(key, expected, new):
            with db.lock:
                if db.registers.get(key) != expected:
                    return False
                db.snapshot = dict(db.registers)
                db.registers[key] = new
                return True

        session.register_read, session.register_write, session.register_cas = read, write, cas
        return session


def test_the_register_history_is_checked_and_its_slots_are_counted_apart():
    _, summary, records = run_fake(RegisterDB(), rate=400, registers=2, register_ratio=0.5)
    reg = summary["registers"]
    assert reg["keys"] == 2 and reg["operations"] > 50 and reg["ok"] == reg["operations"]
    assert set(reg["by_f"]) == {"read", "write", "cas"}
    # Requests and registers share the schedule: each counts its own slots.
    assert summary["planned"] + reg["planned"] == 200
    assert summary["requests"] + summary["skipped"] == summary["planned"] == len(records)
    assert reg["operations"] + reg["not_sent"] == reg["planned"]


def test_a_stale_register_read_is_found_not_linearizable():
    good = wl.Workload(RegisterDB().session, run_id=RUN, rate=400, duration=0.5,
                       max_requests=100000, max_in_flight=3, read_ratio=0.2,
                       request_timeout=1.0, registers=1, register_ratio=0.6)
    good.run()
    assert check_history(good.history, timeout_s=30)["ok"] is True
    bad = wl.Workload(RegisterDB(stale=True).session, run_id=RUN, rate=400, duration=0.5,
                      max_requests=100000, max_in_flight=1, read_ratio=0.2,
                      request_timeout=1.0, registers=1, register_ratio=0.6)
    bad.run()
    checked = check_history(bad.history, timeout_s=30)
    assert checked["ok"] is False
    (result,) = checked["keys"].values()
    assert result["linearizable"] is False and result["window"]["ops"]


def test_register_ops_choose_the_mix():
    assert wl_schedule.register_mix() == (("read", 0.5), ("write", 0.25), ("cas", 0.25))
    assert wl_schedule.register_mix(["write", "read"]) == (("read", 0.5), ("write", 0.5))
    assert wl_schedule.register_mix(["cas"]) == (("cas", 1.0),)
    w = wl.Workload(RegisterDB().session, run_id=RUN, rate=400, duration=0.5,
                    max_requests=100000, max_in_flight=3, read_ratio=0.2, request_timeout=1.0,
                    registers=2, register_ratio=0.6, register_ops=["read", "write"])
    w.run()
    fs = Counter(h["f"] for h in w.history)
    assert fs["cas"] == 0 and fs["read"] > 10 and fs["write"] > 10
    assert check_history(w.history, timeout_s=30)["ok"] is True


def test_no_register_ops_is_refused_by_name(tmp_path, secret_file, capsys):
    result = call_main(dict(base_args(tmp_path, secret_file), registers=2, register_ops=[]),
                       capsys=capsys)
    assert result["failed"] is True and "register_ops must name at least one of" in result["msg"]
