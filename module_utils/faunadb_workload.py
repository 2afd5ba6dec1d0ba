# The logic of library/faunadb_workload.py: a paced, bounded load of creates
# and reads through the `faunadb` driver, each request classified, and the
# read-back of every acknowledged write afterwards. Pure pieces (schedule,
# classification, statistics, verification accounting) take their clock and
# their database as arguments, so unit tests run them without a cluster.
"""Chaos workload: paced creates and reads with the faunadb driver, and their verification."""

from __future__ import annotations

import json
import math
import os
import random
import re
import threading
import time
import traceback
import warnings
from collections import Counter, deque
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ansible.module_utils.faunadb_common import FaunaDBError, finite_number, replace_file

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the driver warns about FQL v4 on import
        import faunadb.client
        import requests
        from faunadb import query as q
        from faunadb.errors import BadRequest, FaunaError, HttpError, NotFound, UnavailableError
        from faunadb.query import _wrap
        from requests.adapters import HTTPAdapter
        from urllib3.exceptions import ConnectTimeoutError, InsecureRequestWarning, MaxRetryError
    HAS_FAUNADB = True
    FAUNADB_IMPORT_ERROR = None
except ImportError:
    HAS_FAUNADB = False
    FAUNADB_IMPORT_ERROR = traceback.format_exc()
    HTTPAdapter = object

JOURNAL_FORMAT = "faunadb_workload/1"
WRITE, READ = "write", "read"
REGISTER = "register"  # an operation of the register workload (its own history, not a request)
# Every class a request can end in. Reads never end in "duplicate", writes never in "stale".
OUTCOMES = ("ok", "unavailable", "timeout", "duplicate", "stale", "other")
# A write that ended so has no definite answer: it may or may not have been applied.
INDETERMINATE = ("timeout",)

# FaunaDB document ids are string-encoded 64-bit integers: RUN_ID then the
# request's slot on ID_DIGITS digits stays below 2**63 (19 digits) with an
# 11-digit run id. No leading zero, so the id reads back exactly as sent.
ID_DIGITS = 7
MAX_REQUESTS = 10**ID_DIGITS - 1
RUN_ID_RE = re.compile(r"^[1-9][0-9]{0,10}$")

LATE_TOLERANCE_S = 1.0  # a slot whose time passed longer ago than this is skipped, not sent
ANSWER_GRACE_S = 1.0  # the client waits this much beyond the server's query deadline
CONNECT_TIMEOUT_S = 3.0  # at most; never more than request_timeout
RECENT_ACKS = 32  # reads pick one of the last this many acknowledged writes
VERIFY_BATCH = 100  # ids checked per verification query
VERIFY_RETRY_S = 0.5
NAMED_IDS = 50  # lost ids named in the result (all of them are in the journal)
PING_PATH = "/ping?scope=write"
DETAIL_CHARS = 200  # a failed ping's detail; the whole body is no evidence worth keeping
WINDOW_KEYS = ("name", "start_epoch", "end_epoch")


# -- identities ----------------------------------------------------------------------


def default_run_id(now=time.time):
    """Tenths of a second since the epoch: 11 digits until the year 2286."""
    return str(int(now() * 10))


def validate_run_id(run_id):
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise FaunaDBError(
            f"Invalid run_id {run_id!r}: expected 1 to 11 digits, not starting with 0 (document "
            f"ids are string-encoded 64-bit integers: run_id followed by {ID_DIGITS} digits)"
        )
    return run_id


def doc_id(run_id, slot):
    return f"{run_id}{slot:0{ID_DIGITS}d}"


def slot_of(run_id, ident):
    return int(ident[len(run_id):])


def doc_data(run_id, slot):
    """What the create of a slot writes, and so what a read of its id must return."""
    return {"run": run_id, "slot": slot}


def parse_url(url):
    """(scheme, host, port) of the API endpoint, e.g. the load balancer."""
    parts = urlsplit(url or "")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or (
        parts.path not in ("", "/") or parts.query or parts.fragment or parts.username
    ):
        shown = "with user information (not shown)" if "@" in str(url) else repr(url)
        raise FaunaDBError(
            f"Invalid url {shown}: expected http(s)://HOST[:PORT] (the API endpoint, e.g. the "
            "load balancer's http://127.0.0.1:8443), no path, no user"
        )
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


# -- pacing --------------------------------------------------------------------------


def planned_requests(rate, duration, max_requests):
    """Slots due before the end: request i is due at start + i/rate, for i*rate < duration."""
    return min(max_requests, math.ceil(round(rate * duration, 6)))


def run_bound(duration, request_timeout):
    """Seconds after the start by which every client has stopped, whatever happens: the last
    slot sent at most LATE_TOLERANCE_S late, then its connect and answer timeouts."""
    connect = min(CONNECT_TIMEOUT_S, request_timeout)
    return duration + LATE_TOLERANCE_S + connect + request_timeout + ANSWER_GRACE_S + 2.0


def register_collection(collection):
    return f"{collection}_registers"


def register_key(run_id, k):
    """The id of register k of a run (a document id: a 64-bit integer as a string)."""
    return doc_id(run_id, k)


# The register workload's operations: reads, writes of a value no one wrote before, and
# compare-and-set from the last value the run knows of.
REGISTER_OPS = ("read", "write", "cas")


def register_mix(ops=REGISTER_OPS):
    """((f, share), ...): half reads when reads are asked for, the rest split evenly."""
    ops = [f for f in REGISTER_OPS if f in ops]
    others = [f for f in ops if f != "read"]
    if "read" not in ops or not others:
        return tuple((f, 1.0 / len(ops)) for f in ops)
    return (("read", 0.5), *((f, 0.5 / len(others)) for f in others))


DEFAULT_REGISTER_MIX = register_mix()


def register_op(rng, mix=DEFAULT_REGISTER_MIX):
    x = rng.random()
    for f, share in mix:
        if x < share:
            return f
        x -= share
    return mix[-1][0]


def register_outcome(f, exc):
    """The history type of a register operation that raised exc: fail (certainly not
    applied: never sent, or refused before it could be) or info (no definite answer)."""
    _, detail = classify(WRITE if f != "read" else READ, exc)
    if detail.startswith("not sent"):
        return "fail", detail
    if HAS_FAUNADB and isinstance(exc, FaunaError) and "contended transaction" in _codes(exc):
        return "fail", detail
    # Anything else may have been applied (a 503 after the log took it, a lost answer).
    return "info", detail


def is_read_slot(slot, read_ratio):
    """Spread reads evenly: exactly floor(n * read_ratio) of the first n slots are reads."""
    return math.floor((slot + 1) * read_ratio) > math.floor(slot * read_ratio)


class Schedule:
    """The shared timetable of every client: slot i is due at start + i/rate, never sent early.

    take() hands out the next slot. A slot whose time passed more than
    ``tolerance`` seconds ago (every client was busy waiting on answers) is
    skipped and counted instead of sent late, so the offered load never
    exceeds the rate in a burst after a stall.
    """

    def __init__(self, start, rate, planned, tolerance=LATE_TOLERANCE_S):
        self.start = start
        self.rate = rate
        self.planned = planned
        self.tolerance = tolerance
        self.next = 0
        self.skipped = 0
        self._lock = threading.Lock()

    def due(self, slot):
        return self.start + slot / self.rate

    def take(self, now):
        """(slot, due time) of the next slot to send, or None when every slot is handed out."""
        with self._lock:
            if self.next < self.planned and now - self.due(self.next) > self.tolerance:
                first_on_time = math.ceil((now - self.tolerance - self.start) * self.rate)
                first_on_time = min(max(first_on_time, self.next + 1), self.planned)
                self.skipped += first_on_time - self.next
                self.next = first_on_time
            if self.next >= self.planned:
                return None
            slot = self.next
            self.next += 1
            return slot, self.due(slot)


def ping_schedule(start, interval, bound):
    """Ping k is due at start + k * interval for the run's bound. One pinger sends them one at a
    time: a ping that takes long delays the next, and one more than half an interval late is
    skipped, so the pings never come in a burst and stay about an interval apart."""
    return Schedule(start, 1 / interval, max(1, math.ceil(round(bound / interval, 6))),
                    tolerance=min(LATE_TOLERANCE_S, interval / 2))


def ping_loop(schedule, send, clock, wait):
    """Send the schedule's pings one at a time; ``wait(seconds)`` returns True to stop."""
    while True:
        taken = schedule.take(clock())
        if taken is None or wait(max(0.0, taken[1] - clock())):
            return
        send()


# -- classification ------------------------------------------------------------------


def _never_sent(exc):
    """Whether a requests ConnectionError happened before the request left (refused, no route)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, ConnectTimeoutError)  # NewConnectionError is one too


def _codes(exc):
    return [getattr(e, "code", None) for e in getattr(exc, "errors", None) or []]


def classify(kind, exc):
    """(outcome, detail) of a request that raised exc. See OUTCOMES."""
    if HAS_FAUNADB and isinstance(exc, requests.exceptions.RequestException):
        if isinstance(exc, requests.exceptions.ConnectionError) and _never_sent(exc):
            return "unavailable", f"not sent: {type(exc).__name__}"
        if isinstance(exc, requests.exceptions.Timeout):
            return "timeout", f"no answer in time: {type(exc).__name__}"
        if isinstance(exc, requests.exceptions.ConnectionError):
            return "timeout", f"connection lost after sending: {type(exc).__name__}"
        return "other", f"{type(exc).__name__}: {exc}"
    if HAS_FAUNADB and isinstance(exc, FaunaError):
        codes = _codes(exc)
        result = exc.request_result
        status = result.status_code if result is not None else None
        text = f"{status} {codes[0] if codes else exc}"
        if isinstance(exc, UnavailableError):
            return ("timeout" if "time out" in codes else "unavailable"), text
        if kind == WRITE and isinstance(exc, BadRequest) and "instance already exists" in codes:
            return "duplicate", text  # this run sent the id once: the create was replayed
        if kind == READ and isinstance(exc, NotFound) and "instance not found" in codes:
            return "stale", text  # acknowledged earlier, not found now
        if status in (502, 504):  # the load balancer lost the node or stopped waiting
            return "timeout", f"{status} from the load balancer"
        if status == 503 and not isinstance(exc, HttpError):  # a 503 without FaunaDB's body
            return "unavailable", f"{status} {exc}"
        return "other", text
    return "other", f"{type(exc).__name__}: {exc}"


def _error_text(body):
    """'code: description' of FaunaDB's first error in body, '' when it has none."""
    try:
        error = json.loads(body)["errors"][0]
        return f"{error['code']}: {error.get('description', '')}".rstrip(": ")
    except (TypeError, ValueError, KeyError, IndexError):
        return ""


def ping_outcome(status, body=None, exc=None):
    """(ok, detail) of one write ping: ok only on HTTP 200; detail None when ok."""
    if exc is not None:
        if HAS_FAUNADB and isinstance(exc, requests.exceptions.RequestException):
            detail = classify(READ, exc)[1]
        else:
            detail = type(exc).__name__
    elif status == 200:
        return True, None
    else:
        detail = f"{status} {_error_text(body)}".rstrip()
    return False, detail[:DETAIL_CHARS]


# -- statistics ----------------------------------------------------------------------


def percentile(values, p):
    """Nearest-rank percentile (with few samples, p99 is the maximum); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_stats(values):
    return {"p50": percentile(values, 50), "p99": percentile(values, 99),
            "max": max(values) if values else None, "count": len(values)}


def latency_brief(values):
    return {k: v for k, v in latency_stats(values).items() if k != "count"}


def settles(record):
    """'ok', 'failed' or 'indeterminate' for one request record."""
    if record["outcome"] == "ok":
        return "ok"
    if record["kind"] == WRITE and record["outcome"] in INDETERMINATE:
        return "indeterminate"
    return "failed"


def per_second(records, duration, pings=(), not_sent=()):
    """One entry per second of the run (by send time), empty seconds included: requests
    sent, how they ended, and those due that the in-flight bound kept back (not_sent)."""
    seconds = max(math.ceil(round(duration, 6)), 0)
    if records or pings or not_sent:
        seconds = max(seconds, int(max(r["t"] for r in [*records, *pings, *not_sent])) + 1)
    buckets = [{"t": s, "requests": 0, "ok": 0, "failed": 0, "indeterminate": 0, "_lat": [],
                "not_sent": 0, "pings": 0, "pings_failed": 0} for s in range(seconds)]
    for r in records:
        bucket = buckets[max(0, int(r["t"]))]
        bucket["requests"] += 1
        bucket[settles(r)] += 1
        if r["outcome"] == "ok":
            bucket["_lat"].append(r["latency_ms"])
    for r in not_sent:
        buckets[max(0, int(r["t"]))]["not_sent"] += 1
    for p in pings:
        bucket = buckets[max(0, int(p["t"]))]
        bucket["pings"] += 1
        bucket["pings_failed"] += not p["ok"]
    for bucket in buckets:
        bucket["p99_ms"] = percentile(bucket.pop("_lat"), 99)
    return buckets


def ping_summary(pings, skipped=0):
    """Counts of the write pings; latency of all of them (a timed-out one: until it gave up)."""
    failed_t = [p["t"] for p in pings if not p["ok"]]
    return {"sent": len(pings), "ok": len(pings) - len(failed_t), "failed": len(failed_t),
            "skipped": skipped, "latency_ms": latency_brief([p["latency_ms"] for p in pings]),
            "failed_t": failed_t[:NAMED_IDS]}


def register_summary(history, keys):
    """Counts of the register workload's operations (their history is checked apart)."""
    by = Counter((h["f"], h["type"]) for h in history)
    return {"keys": keys, "operations": len(history),
            "ok": sum(v for (_, t), v in by.items() if t == "ok"),
            "fail": sum(v for (_, t), v in by.items() if t == "fail"),
            "info": sum(v for (_, t), v in by.items() if t == "info"),
            "by_f": {f: {t: by[(f, t)] for t in ("ok", "fail", "info")}
                     for f in ("read", "write", "cas")}}


def summarize(records, *, duration, planned, skipped, elapsed, pings=(), pings_skipped=0,
              not_sent=()):
    """The run's counts, latencies and timeline; lost_writes stays None until verify.
    skipped counts the slots never sent (not_sent lists them: {i, t})."""
    by_kind = {kind: Counter(r["outcome"] for r in records if r["kind"] == kind)
               for kind in (WRITE, READ)}
    settled = Counter(settles(r) for r in records)
    ok_latency = {kind: [r["latency_ms"] for r in records
                         if r["kind"] == kind and r["outcome"] == "ok"] for kind in (WRITE, READ)}
    late = [r["late_ms"] for r in records if r.get("late_ms") is not None]
    return {
        "requests": len(records),
        "ok": settled["ok"],
        "failed": settled["failed"],
        "indeterminate": settled["indeterminate"],
        "planned": planned,
        "skipped": skipped,
        "writes": sum(by_kind[WRITE].values()),
        "reads": sum(by_kind[READ].values()),
        "acked_writes": by_kind[WRITE]["ok"],
        "duplicate_writes": by_kind[WRITE]["duplicate"],
        "stale_reads": by_kind[READ]["stale"],
        "lost_writes": None,
        "outcomes": {kind: {o: by_kind[kind][o] for o in OUTCOMES} for kind in (WRITE, READ)},
        "latency_ms": latency_stats(ok_latency[WRITE] + ok_latency[READ]),
        "latency_ms_by_kind": {kind: latency_stats(v) for kind, v in ok_latency.items()},
        "late_ms": {"p50": percentile(late, 50), "max": max(late) if late else None},
        "elapsed_s": round(elapsed, 3),
        "pings": ping_summary(pings, pings_skipped),
        "per_second": per_second(records, duration, pings, not_sent),
    }


def window_stats(journal, windows, lost_ids):
    """Each window's requests and pings, by send time (started_epoch + t) in [start, end)."""
    epoch = journal_started_epoch(journal)
    requests_ = journal.get("requests") or []
    pings = journal.get("pings") or []
    stats = []
    for w in windows:
        def inside(item, w=w):
            # Both are rounded to the millisecond: a request at start_epoch is in, whatever
            # the float sum makes of it.
            return w["start_epoch"] <= round(epoch + item["t"], 3) < w["end_epoch"]

        sent = [r for r in requests_ if inside(r)]
        writes = [r for r in sent if r["kind"] == WRITE]
        acked = [r for r in writes if r["outcome"] == "ok"]
        reads = [r for r in sent if r["kind"] == READ]
        settled = Counter(settles(r) for r in sent)
        in_pings = [p for p in pings if inside(p)]
        kept_back = [n for n in journal.get("not_sent") or [] if inside(n)]
        stats.append({
            "name": w["name"], "start_epoch": w["start_epoch"], "end_epoch": w["end_epoch"],
            "requests": len(sent), "ok": settled["ok"], "failed": settled["failed"],
            "indeterminate": settled["indeterminate"],
            "writes": len(writes), "acked_writes": len(acked),
            "write_success_pct": round(100 * len(acked) / len(writes), 2) if writes else None,
            "reads": len(reads), "reads_ok": sum(1 for r in reads if r["outcome"] == "ok"),
            "latency_ms": latency_brief([r["latency_ms"] for r in sent if r["outcome"] == "ok"]),
            "not_sent": len(kept_back),
            "pings": len(in_pings), "pings_failed": sum(1 for p in in_pings if not p["ok"]),
            "lost_writes": sum(1 for r in acked if r["id"] in lost_ids),
        })
    return stats


# -- the database, through the driver --------------------------------------------------


class _TimeoutAdapter(HTTPAdapter):
    """The driver's `timeout` never reaches requests (a Session has no default timeout),
    so a hung request would block forever: give every request one."""

    def __init__(self, timeout, **kwargs):
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


if HAS_FAUNADB:

    class _Client(faunadb.client.FaunaClient):
        def check_new_version(self):
            """The driver asks pypi.org for a newer release, with no timeout, every time a
            client is made (a hang when offline). It is no part of a query: skip it."""


def driver_client(url, secret, request_timeout, *, validate_certs=True, last_txn_time=None):
    """The driver's client as the workload (and the benchmarks) use it: one connection,
    X-Query-Timeout (the server's deadline) and a client-side timeout a little longer on
    every request, no version lookup."""
    scheme, host, port = parse_url(url)
    kwargs = {"last_txn_time": last_txn_time} if last_txn_time is not None else {}
    client = _Client(secret=secret, domain=host, port=port, scheme=scheme,
                     timeout=request_timeout, query_timeout_ms=max(1, int(request_timeout * 1000)),
                     pool_connections=1, pool_maxsize=1, **kwargs)
    timeout = (min(CONNECT_TIMEOUT_S, request_timeout), request_timeout + ANSWER_GRACE_S)
    adapter = _TimeoutAdapter(timeout, pool_connections=1, pool_maxsize=1)
    client.session.mount("http://", adapter)
    client.session.mount("https://", adapter)
    client.session.verify = validate_certs
    if not validate_certs:  # said once in the docs, not once per request on stderr
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    return client


class FaunaSession:
    """One client (its own connection) and the collection the workload writes to.

    Every query carries X-Query-Timeout (the server's deadline) and the
    connection a client-side timeout a little longer, so no call waits
    forever. The clients of one run share the last transaction time they saw
    (X-Last-Seen-Txn), as one application's would: a read then misses an
    acknowledged write only if the cluster lost or hid it, not by lag.
    """

    def __init__(self, url, secret, collection, request_timeout, *, validate_certs=True,
                 last_txn_time=None):
        self.client = driver_client(url, secret, request_timeout, validate_certs=validate_certs,
                                    last_txn_time=last_txn_time)
        self.collection = collection

    def _ref(self, ident):
        return q.ref(q.collection(self.collection), ident)

    def ensure_collection(self):
        """True when the collection was created, False when it existed."""
        try:
            self.client.query(q.create_collection({"name": self.collection}))
        except BadRequest as exc:
            if "instance already exists" in _codes(exc):
                return False
            raise
        return True

    def create(self, ident, data):
        self.client.query(q.create(self._ref(ident), {"data": data}))

    def get(self, ident):
        return self.client.query(q.get(self._ref(ident)))["data"]

    def exists_many(self, idents):
        """One query, one boolean per id (an array of expressions evaluates element-wise)."""
        return self.client.query([q.exists(self._ref(i)) for i in idents])

    # Registers: documents of their own collection, each query one transaction.
    def _register(self, key):
        return q.ref(q.collection(register_collection(self.collection)), key)

    def _register_value(self, ref):
        return q.if_(q.exists(ref), q.select(["data", "v"], q.get(ref)), None)

    def _register_write(self, ref, value):
        return q.if_(q.exists(ref), q.update(ref, {"data": {"v": value}}),
                     q.create(ref, {"data": {"v": value}}))

    def _linearized(self, expr):
        # FaunaDB serves a read-only query from a snapshot (serializable, may be stale);
        # POST /linearized runs it through the log (FQL1Routes.scala), strictly serializable
        # as a read-write transaction is. The v4 driver has no option for it.
        return self.client._execute("POST", "linearized", _wrap(expr), with_txn_time=True)  # noqa: SLF001

    def register_read(self, key):
        return self._linearized(self._register_value(self._register(key)))

    def register_write(self, key, value):
        self.client.query(self._register_write(self._register(key), value))

    def register_cas(self, key, expected, new):
        """Whether the register held expected and now holds new, in one transaction."""
        ref = self._register(key)
        return self.client.query(q.if_(q.equals(self._register_value(ref), expected),
                                       q.do(self._register_write(ref, new), True), False))

    def ensure_registers(self):
        name = register_collection(self.collection)
        try:
            self.client.query(q.create_collection({"name": name}))
        except BadRequest as exc:
            if "instance already exists" not in _codes(exc):
                raise


def session_factory(url, secret, collection, request_timeout, validate_certs=True):
    """connect() for Workload: a FaunaSession per call, all sharing one transaction time."""
    shared = getattr(faunadb.client, "_LastTxnTime", None)
    shared = shared() if shared else None

    def connect():
        return FaunaSession(url, secret, collection, request_timeout,
                            validate_certs=validate_certs, last_txn_time=shared)

    return connect


def ping_factory(url, request_timeout, validate_certs=True):
    """ping() for Workload: GET url/ping?scope=write, no key, -> (status, body) or raises."""
    parse_url(url)
    session = requests.Session()
    session.verify = validate_certs
    if not validate_certs:
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    target = url.rstrip("/") + PING_PATH
    timeout = (min(CONNECT_TIMEOUT_S, request_timeout), request_timeout)

    def ping():
        response = session.get(target, timeout=timeout, allow_redirects=False)
        return response.status_code, response.text

    return ping


# -- the run -------------------------------------------------------------------------


class Workload:
    """An open-loop run: request i leaves at start + i/rate whatever is still outstanding.

    A dispatcher hands each slot, when due (never early), to a pool of at most
    ``max_in_flight`` threads, each with its own session (``connect()`` gives one: create(id,
    data), get(id)). A slot due while ``max_in_flight`` requests are still outstanding is not
    sent and is counted as such (``skipped``): the offered load stays the rate, stalls show
    as requests in flight that time out, not as requests never offered. With ``ping`` (->
    (status, body) or raises) and ``ping_interval`` > 0, one more thread sends write pings
    alongside; they are evidence of availability, not requests. ``on_ack(record)``, when
    given, is called for every acknowledged write as it is acknowledged (the ledger).
    """

    def __init__(self, connect, *, run_id, rate, duration, max_requests, max_in_flight=256,
                 read_ratio=0.2, request_timeout=10.0, clock=time.monotonic, sleep=time.sleep,
                 ping=None, ping_interval=1.0, wall=time.time, on_ack=None, registers=0,
                 register_ratio=0.0, register_ops=REGISTER_OPS):
        self.connect = connect
        self.run_id = run_id
        self.rate = rate
        self.duration = duration
        self.max_in_flight = max_in_flight
        self.read_ratio = read_ratio
        self.request_timeout = request_timeout
        self.clock = clock
        self.sleep = sleep
        self.ping = ping if ping_interval and ping_interval > 0 else None
        self.ping_interval = ping_interval
        self.wall = wall
        self.on_ack = on_ack
        self.registers = [register_key(run_id, k) for k in range(registers)]
        self.register_ratio = register_ratio if registers else 0.0
        self.register_mix = register_mix(register_ops)
        self.known = dict.fromkeys(self.registers)  # the last value seen of each register
        self.history = []  # register operations, as faunadb_linearizability reads them
        self.planned = planned_requests(rate, duration, max_requests)
        self.give_up_after = run_bound(duration, request_timeout)  # seconds after the start
        self.records = []
        self.not_sent = []  # {"i", "t"}: slots due while max_in_flight requests were out
        self.recent = deque(maxlen=RECENT_ACKS)
        self.in_flight = {}  # slot -> the request outstanding
        self.client_errors = []
        self.counts = Counter()
        self.start = None
        self.started_epoch = None  # wall time at start: t maps to started_epoch + t
        self.pings = []
        self.ping_schedule = None
        self._ping_sent = None  # send time of the ping under way
        self._stop = threading.Event()
        self._last_progress = None  # (time, requests done) at the previous progress()
        self._lock = threading.Lock()
        self._closed = False
        self._idle = []  # sessions of threads that finished their request
        self._threads = 0
        self._work = None  # a queue per thread would do; one shared queue is simpler
        self._rng = random.Random(f"{run_id}/reads")  # noqa: S311 - not cryptography

    # one request -------------------------------------------------------------------
    def _register_slot(self, slot):
        return bool(self.register_ratio) and is_read_slot(slot, self.register_ratio)

    def _pick(self, slot):
        if self._register_slot(slot):
            key = self.registers[slot % len(self.registers)]
            f = register_op(self._rng, self.register_mix)
            with self._lock:
                known = self.known[key]
            # Every value written is the slot's own (+1: never None), so a read names its write.
            value = {"read": None, "write": slot + 1, "cas": [known, slot + 1]}[f]
            return REGISTER, (key, f, value)
        if is_read_slot(slot, self.read_ratio):
            with self._lock:
                recent = list(self.recent)
                if recent:
                    return READ, self._rng.choice(recent)
        return WRITE, doc_id(self.run_id, slot)

    def _request(self, session, kind, ident):
        if kind == WRITE:
            session.create(ident, doc_data(self.run_id, slot_of(self.run_id, ident)))
            return "ok", ""
        data = session.get(ident)
        want = doc_data(self.run_id, slot_of(self.run_id, ident))
        if data != want:
            return "stale", f"read {data!r}, acknowledged {want!r}"
        return "ok", ""

    def _register_request(self, session, key, f, value):
        """(history type, result, detail) of one register operation."""
        try:
            if f == "read":
                result = session.register_read(key)
            elif f == "write":
                session.register_write(key, value)
                result = None
            else:
                result = bool(session.register_cas(key, value[0], value[1]))
        except Exception as exc:  # every failure is a finding: fail or indeterminate
            kind, detail = register_outcome(f, exc)
            return kind, None, detail
        with self._lock:
            if f == "read":
                self.known[key] = result
            elif f == "write" or result:
                self.known[key] = value if f == "write" else value[1]
        return "ok", result, ""

    def _history_entry(self, worker, request, done, answer):
        kind, result, detail = answer
        slot, _, (key, f, value), sent, _ = request
        entry = {"id": slot, "process": worker, "key": key, "f": f, "value": value,
                 "type": kind, "result": result, "invoke": round(sent - self.start, 4),
                 "complete": round(done - self.start, 4) if kind != "info" else None}
        if detail:
            entry["detail"] = detail
        return entry

    def _make_record(self, worker, request, done, outcome, detail):
        slot, kind, ident, sent, due = request
        record = {"i": slot, "client": worker, "kind": kind, "id": ident,
                  "t": round(sent - self.start, 3), "late_ms": round((sent - due) * 1000, 1),
                  "latency_ms": round((done - sent) * 1000, 1), "outcome": outcome}
        if detail:
            record["detail"] = detail
        return record

    def _record(self, record):
        with self._lock:
            if self._closed:  # a request answered after the run gave up on it: counted
                return
            self.records.append(record)
            self.counts[settles(record)] += 1
            acked = record["kind"] == WRITE and record["outcome"] == "ok"
            if acked:
                self.recent.append(record["id"])
        if acked and self.on_ack:
            try:
                self.on_ack(record)
            except Exception as exc:  # the ledger is evidence; the run must go on
                with self._lock:
                    self.client_errors.append(f"ledger: {type(exc).__name__}: {exc}")

    def _worker(self, worker, first):
        """Send the slots handed to this thread, one at a time, on its own session."""
        try:
            session = self.connect()
        except Exception as exc:  # a client that could not be made: say so, count its slot
            with self._lock:
                self.client_errors.append(f"client {worker}: {type(exc).__name__}: {exc}")
            session = None
        request = first
        while request is not None:
            slot, kind, ident, sent, due = request
            if kind == REGISTER:
                answer = (self._register_request(session, *ident) if session is not None
                          else ("fail", None, "no session"))
            elif session is None:
                outcome, detail = "other", "no session"
            else:
                try:
                    outcome, detail = self._request(session, kind, ident)
                except Exception as exc:  # every failure is a finding, classified
                    outcome, detail = classify(kind, exc)
            done = self.clock()
            with self._lock:  # free in one step, so that threads never outnumber the bound
                self.in_flight.pop(slot, None)
                self._idle.append(worker)
            if kind == REGISTER:
                with self._lock:
                    if not self._closed:
                        self.history.append(self._history_entry(worker, request, done, answer))
            else:
                self._record(self._make_record(worker, request, done, outcome, detail))
            # The next slot for this thread, or None once the dispatcher is done.
            request = self._work[worker].get()

    def _dispatch(self):
        """Hand every slot out when it is due; count those the in-flight bound kept back."""
        import queue  # noqa: PLC0415 - only the run needs it

        self._work = {}
        workers = []
        for slot in range(self.planned):
            due = self.start + slot / self.rate
            wait = due - self.clock()
            if wait > 0 and self._stop.wait(wait):
                break
            with self._lock:
                if len(self.in_flight) >= self.max_in_flight:
                    self.not_sent.append({"i": slot, "t": round(due - self.start, 3)})
                    continue
            kind, ident = self._pick(slot)
            sent = self.clock()
            request = (slot, kind, ident, sent, due)
            with self._lock:
                self.in_flight[slot] = request
                worker = self._idle.pop() if self._idle else None
            if worker is None:
                worker = len(workers)
                self._work[worker] = queue.SimpleQueue()
                thread = threading.Thread(target=self._worker, args=(worker, request),
                                          daemon=True, name=f"workload-{worker}")
                workers.append(thread)
                thread.start()
            else:
                self._work[worker].put(request)
        for q_ in self._work.values():
            q_.put(None)
        return workers

    # the pinger --------------------------------------------------------------------
    def _ping_record(self, sent, done, status, ok, detail):
        return {"t": round(sent - self.start, 3), "ok": ok, "status": status, "detail": detail,
                "latency_ms": round((done - sent) * 1000, 1)}

    def _send_ping(self):
        sent = self.clock()
        with self._lock:
            self._ping_sent = sent
        status, body, error = None, None, None
        try:
            status, body = self.ping()
        except Exception as exc:  # refused, reset, timed out: the ping failed, say how
            error = exc
        done = self.clock()
        ok, detail = ping_outcome(status, body, error)
        with self._lock:
            if self._closed:  # the run gave up on it and counted it already
                return
            self._ping_sent = None
            self.pings.append(self._ping_record(sent, done, status, ok, detail))

    def _pinger(self):
        try:
            ping_loop(self.ping_schedule, self._send_ping, self.clock, self._stop.wait)
        except Exception as exc:  # a bug: say so, the requests go on
            with self._lock:
                self.client_errors.append(f"pinger: {type(exc).__name__}: {exc}")

    # the whole run ---------------------------------------------------------------------
    def progress(self, done=False):
        now = self.clock()
        with self._lock:
            counts = dict(self.counts)
            requests_done = len(self.records)
            in_flight = len(self.in_flight)
            not_sent = len(self.not_sent)
            pings = len(self.pings)
            pings_failed = sum(1 for p in self.pings if not p["ok"])
        elapsed = max(0.0, now - self.start) if self.start else 0.0
        last = self._last_progress or (self.start or now, 0)
        rate = (requests_done - last[1]) / (now - last[0]) if now > last[0] else 0.0
        self._last_progress = (now, requests_done)
        snap = {
            "run_id": self.run_id, "elapsed_s": round(elapsed, 1), "planned": self.planned,
            "requests": requests_done, "ok": counts.get("ok", 0),
            "failed": counts.get("failed", 0), "indeterminate": counts.get("indeterminate", 0),
            "in_flight": in_flight, "skipped": not_sent,
            "rate_per_s": round(rate, 1), "pings": pings, "pings_failed": pings_failed,
            "done": done,
        }
        snap["line"] = (
            f"{snap['elapsed_s']:.0f}/{self.duration:g} s: {requests_done}/{self.planned} "
            f"requests answered, {in_flight} in flight, {snap['ok']} ok, {snap['failed']} failed, "
            f"{snap['indeterminate']} indeterminate, {snap['rate_per_s']:.0f}/s"
            + (f", {not_sent} not sent (in-flight bound)" if not_sent else "")
            + (f", {pings_failed}/{pings} write pings failed" if pings_failed else "")
            + (" (done)" if done else "")
        )
        return snap

    def run(self, on_progress=None, interval=1.0):
        """Run to the end (at most give_up_after s); returns (summary, request records).
        The write pings are in self.pings, the wall time of t=0 in self.started_epoch."""
        self.start = self.clock() + 0.1  # every thread started before the first slot is due
        self.started_epoch = round(self.wall() + 0.1, 3)
        pinger = None
        if self.ping:
            self.ping_schedule = ping_schedule(self.start, self.ping_interval,
                                               self.give_up_after)
            pinger = threading.Thread(target=self._pinger, daemon=True, name="workload-ping")
            pinger.start()
        workers = []
        dispatcher = threading.Thread(target=lambda: workers.extend(self._dispatch()),
                                      daemon=True, name="workload-dispatch")
        dispatcher.start()
        give_up = self.start + self.give_up_after

        def busy():
            with self._lock:
                return dispatcher.is_alive() or bool(self.in_flight)

        while busy() and self.clock() < give_up:
            self.sleep(max(0.0, min(interval, give_up - self.clock())))
            if on_progress and busy():
                on_progress(self.progress())
        self._stop.set()
        dispatcher.join(max(0.0, give_up - self.clock()) + 1.0)
        if pinger:  # its last ping may still be waiting: within the run's bound, not beyond
            pinger.join(max(0.0, give_up - self.clock()))
        elapsed = self.clock() - self.start
        with self._lock:
            stuck = dict(self.in_flight)
            self.in_flight.clear()
        for request in stuck.values():
            # The client-side timeout should have ended these; count them, never drop them.
            if request[1] == REGISTER:
                with self._lock:
                    self.history.append(self._history_entry(
                        -1, request, self.clock(),
                        ("info", None, "still unanswered when the run ended")))
                continue
            self._record(self._make_record(-1, request, self.clock(), "timeout",
                                           "still unanswered when the run ended"))
        with self._lock:
            if self._ping_sent is not None:
                self.pings.append(self._ping_record(self._ping_sent, self.clock(), None, False,
                                                    "still unanswered when the run ended"))
            self._closed = True
            self.records.sort(key=lambda r: (r["t"], r["i"]))
            self.history.sort(key=lambda h: (h["invoke"], h["id"]))
            records = list(self.records)
            self.pings.sort(key=lambda p: p["t"])
            not_sent = list(self.not_sent)
        if on_progress:
            on_progress(self.progress(done=True))
        # Register operations have their own history and counts: the requests' figures
        # (planned, sent, not sent) leave their slots out.
        register_planned = sum(1 for slot in range(self.planned) if self._register_slot(slot))
        requests_not_sent = [n for n in not_sent if not self._register_slot(n["i"])]
        summary = summarize(records, duration=self.duration,
                            planned=self.planned - register_planned,
                            skipped=len(requests_not_sent), elapsed=elapsed, pings=self.pings,
                            pings_skipped=self.ping_schedule.skipped if self.ping else 0,
                            not_sent=requests_not_sent)
        summary["started_epoch"] = self.started_epoch
        summary["client_errors"] = list(self.client_errors)
        summary["max_in_flight"] = self.max_in_flight
        summary["registers"] = dict(register_summary(self.history, len(self.registers)),
                                    planned=register_planned,
                                    not_sent=len(not_sent) - len(requests_not_sent),
                                    ops=[f for f, _ in self.register_mix])
        summary["threads"] = len(workers)
        return summary, records


def plan(params, run_id):
    """What a run would do (check mode), from the module's parameters."""
    planned = planned_requests(params["rate"], params["duration"], params["max_requests"])
    reads = math.floor(planned * params["read_ratio"])
    return {
        "url": params["url"], "collection": params["collection"], "rate": params["rate"],
        "duration": params["duration"], "max_requests": params["max_requests"],
        "max_in_flight": params["max_in_flight"], "read_ratio": params["read_ratio"],
        "registers": params.get("registers", 0),
        "request_timeout": params["request_timeout"],
        "ping_interval": params.get("ping_interval"), "planned_requests": planned,
        "planned_reads_at_most": reads, "planned_writes_at_least": planned - reads,
        "ids": [doc_id(run_id, 0), doc_id(run_id, max(planned - 1, 0))],
        "seconds_at_most": round(run_bound(params["duration"], params["request_timeout"]), 1),
    }


def validate(params):
    """Checks the argument spec cannot express; raise FaunaDBError before any side effect."""
    parse_url(params["url"])
    problems = []
    if not params["rate"] > 0:
        problems.append("rate must be above 0")
    if not params["duration"] > 0:
        problems.append("duration must be above 0")
    if not 1 <= params["max_requests"] <= MAX_REQUESTS:
        problems.append(f"max_requests must be between 1 and {MAX_REQUESTS}")
    if not 1 <= params["max_in_flight"] <= 1024:
        problems.append("max_in_flight must be between 1 and 1024")
    if not 0 <= params["read_ratio"] < 1:
        problems.append("read_ratio must be at least 0 and below 1")
    if not 0 <= params.get("registers", 0) <= 16:
        problems.append("registers must be between 0 and 16")
    if not 0 <= params.get("register_ratio", 0) < 1:
        problems.append("register_ratio must be at least 0 and below 1")
    if not params.get("register_ops", REGISTER_OPS):
        problems.append(f"register_ops must name at least one of {', '.join(REGISTER_OPS)}")
    if not params.get("linearizability_timeout", 1) > 0:
        problems.append("linearizability_timeout must be above 0")
    if not params["request_timeout"] > 0:
        problems.append("request_timeout must be above 0")
    if not params["verify_timeout"] > 0:
        problems.append("verify_timeout must be above 0")
    if not (params.get("ping_interval") or 0) >= 0:
        problems.append("ping_interval must be 0 (no pings) or above")
    if params.get("windows") and params["action"] != "verify":
        problems.append("windows are for action=verify (they are computed from the journal)")
    problems += check_windows(params.get("windows"))[1]
    if problems:
        raise FaunaDBError("; ".join(problems))


def check_windows(windows):
    """(windows as {name, start_epoch, end_epoch} with float bounds, problems found)."""
    good, problems = [], []
    allowed = "name (non-empty string), start_epoch and end_epoch (seconds since the epoch)"
    for i, window in enumerate(windows or []):
        where = f"windows[{i}]"
        if not isinstance(window, dict):
            problems.append(f"{where} must be a dict with {allowed}")
            continue
        unknown = sorted(str(k) for k in window if k not in WINDOW_KEYS)
        if unknown:
            problems.append(f"{where} has unknown keys {', '.join(unknown)}: "
                            f"allowed are {allowed}")
        name = window.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}.name must be a non-empty string, got {name!r}")
        bounds = {key: finite_number(window.get(key)) for key in WINDOW_KEYS[1:]}
        for key, value in bounds.items():
            if value is None:
                problems.append(f"{where}.{key} must be a number (seconds since the epoch, "
                                f"like the run's started_epoch), got {window.get(key)!r}")
        if None not in bounds.values() and bounds["end_epoch"] < bounds["start_epoch"]:
            problems.append(f"{where}.end_epoch ({bounds['end_epoch']}) must be at least "
                            f"start_epoch ({bounds['start_epoch']})")
        good.append({"name": name, **bounds})
    return good, problems


# -- verification --------------------------------------------------------------------


def verify_journal(journal, exists_many, timeout, clock=time.monotonic, sleep=time.sleep, *,
                   windows=()):
    """Read back every write of the journal's run; count what was lost or applied anyway.

    ``exists_many(ids)`` answers one boolean per id or raises. Failed batches
    are retried until ``timeout`` seconds have passed; ids never checked are
    reported as unverified (``complete`` is then false). ``windows`` (checked
    ones, see check_windows) get their own counts, see window_stats.
    """
    requests_ = journal.get("requests") or []
    writes = {r["id"]: r["outcome"] for r in requests_ if r["kind"] == WRITE}
    todo = sorted(writes)
    present = {}
    errors = Counter()
    last_error = None
    start = clock()
    deadline = start + timeout
    pos = 0
    while pos < len(todo) and clock() < deadline:
        batch = todo[pos:pos + VERIFY_BATCH]
        try:
            found = exists_many(batch)
        except Exception as exc:  # the cluster may still be recovering: retry within the bound
            outcome, detail = classify(READ, exc)
            errors[outcome] += 1
            last_error = detail
            sleep(max(0.0, min(VERIFY_RETRY_S, deadline - clock())))
            continue
        if not isinstance(found, list) or len(found) != len(batch):
            raise FaunaDBError(f"Verification query answered {found!r} for {len(batch)} ids")
        present.update(zip(batch, (bool(f) for f in found), strict=True))
        pos += len(batch)
    acked = [i for i, o in writes.items() if o == "ok"]
    lost = sorted(i for i in acked if present.get(i) is False)
    unacked = {i: o for i, o in writes.items() if o not in ("ok", "duplicate")}
    applied = Counter(o for i, o in unacked.items() if present.get(i))
    reads = [r for r in requests_ if r["kind"] == READ]
    return {
        "complete": pos >= len(todo),
        "checked": len(present),
        "unverified": len(todo) - pos,
        "acked_writes": len(acked),
        "lost_writes": len(lost),
        "lost_write_ids": lost[:NAMED_IDS],
        "duplicate_writes": sum(1 for o in writes.values() if o == "duplicate"),
        "stale_reads": sum(1 for r in reads if r["outcome"] == "stale"),
        "indeterminate_writes": sum(1 for o in writes.values() if o in INDETERMINATE),
        "indeterminate_applied": sum(applied.values()),
        "indeterminate_applied_by_outcome": dict(sorted(applied.items())),
        "query_errors": dict(sorted(errors.items())),
        "last_error": last_error,
        "windows": window_stats(journal, windows, set(lost)) if windows else [],
        "elapsed_s": round(clock() - start, 3),
        "verified_at": utc_now(),
    }


def journal_started_epoch(journal):
    """Wall time of the run's t=0; journals written before it was kept have none."""
    run = journal.get("run") or {}
    epoch = run.get("started_epoch", (journal.get("summary") or {}).get("started_epoch"))
    if finite_number(epoch) is None:
        raise FaunaDBError("The journal has no started_epoch (written by an older version of "
                           "the module): windows cannot be placed in it; run the workload again")
    return float(epoch)


def verified_workload(journal, verification):
    """The run's summary with the verification's lost writes filled in."""
    workload = dict(journal.get("summary") or {})
    workload["lost_writes"] = verification["lost_writes"]
    workload["lost_write_ids"] = verification["lost_write_ids"]
    workload["indeterminate_applied"] = verification["indeterminate_applied"]
    workload["verified"] = verification["complete"]
    return workload


# -- files ---------------------------------------------------------------------------


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: UP017


def _flat(value):
    return not isinstance(value, (dict, list)) or not any(
        isinstance(v, (dict, list)) and v for v in (value.values() if isinstance(value, dict)
                                                      else value))


def to_text(data, level=0):
    """JSON with one line per flat object: a request, a second of the timeline, a count."""
    pad = " " * level
    if _flat(data):
        return pad + json.dumps(data)
    if isinstance(data, dict):
        items = [f"{pad} {json.dumps(k)}: {to_text(v, level + 1).lstrip()}"
                 for k, v in data.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return pad + "[\n" + ",\n".join(to_text(v, level + 1) for v in data) + "\n" + pad + "]"


def write_json(path, data):
    """Replace path atomically (a reader polling it never sees half a file)."""
    text = to_text(data) + "\n"
    replace_file(path, lambda handle: handle.write(text.encode("utf-8")), prefix=".tmp-json-")


def load_journal(path):
    try:
        with open(path, encoding="utf-8") as fh:
            journal = json.load(fh)
    except FileNotFoundError:
        raise FaunaDBError(f"No workload journal at {path}: run action=run first") from None
    except (OSError, ValueError) as exc:
        raise FaunaDBError(f"Cannot read the workload journal {path}: {exc}") from None
    if not isinstance(journal, dict) or journal.get("format") != JOURNAL_FORMAT:
        raise FaunaDBError(
            f"{path} is not a faunadb_workload journal (format {JOURNAL_FORMAT} expected)"
        )
    run = journal.get("run")
    if not isinstance(run, dict) or not run.get("collection") or not run.get("run_id") or (
        not isinstance(journal.get("requests"), list)
    ):
        raise FaunaDBError(f"{path} lacks the run's collection, run_id or requests")
    return journal


def open_ledger(path, header):
    """The ledger: a header line (run id, collection, start), then one line per acknowledged
    write, each flushed as it is written. Returns (on_ack, close)."""
    handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
    lock = threading.Lock()

    def write(line):
        with lock:
            handle.write(json.dumps(line) + "\n")
            handle.flush()

    write({"ledger": JOURNAL_FORMAT, **header})

    def on_ack(record):
        write({"id": record["id"], "t": record["t"]})

    return on_ack, handle.close


def journal_from_ledger(path):
    """A journal of what a ledger says (the acknowledged writes), for a run that never wrote
    its own; None when there is no ledger. A line cut short by a crash is left out."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FaunaDBError(f"Cannot read the ledger {path}: {exc.strerror}") from None
    header, acked = None, []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("ledger") == JOURNAL_FORMAT:
            header = item
        elif isinstance(item, dict) and "id" in item:
            acked.append({"i": slot_of(header["run_id"], item["id"]) if header else None,
                          "kind": WRITE, "id": item["id"], "t": item.get("t", 0.0),
                          "outcome": "ok", "latency_ms": None})
    if header is None:
        raise FaunaDBError(f"{path} is not a faunadb_workload ledger (no header line)")
    run = {k: header.get(k) for k in ("run_id", "collection", "started_epoch")}
    return {"format": JOURNAL_FORMAT, "run": dict(run, from_ledger=True),
            "summary": {"started_epoch": run["started_epoch"]}, "requests": acked,
            "pings": [], "verification": None}


def read_secret(module, params):
    """The secret from O(secret) or O(secret_file); never returned, never logged."""
    if params.get("secret"):
        return params["secret"]
    path = params["secret_file"]
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="utf-8") as fh:
            secret = fh.read().strip()
    except OSError as exc:
        raise FaunaDBError(f"Cannot read secret_file {path}: {exc.strerror}") from None
    if mode & 0o077:
        module.warn(f"secret_file {path} can be read by others (mode {mode & 0o777:o}): use 0600")
    if not secret:
        raise FaunaDBError(f"secret_file {path} is empty")
    module.no_log_values.add(secret)
    return secret
