# What a run of library/faunadb_workload.py sends and when, before anything is
# sent: document and run ids, the endpoint, the pacing (the Schedule every client
# shares, the pings' own), the register workload's keys and choice of operations,
# and the plan and checks of the module's parameters. No driver needed.
"""Chaos workload: ids, pacing and the plan of a run."""

from __future__ import annotations

import math
import re
import threading
import time
from urllib.parse import urlsplit

from ansible.module_utils.faunadb_common import FaunaDBError, finite_number

# FaunaDB document ids are string-encoded 64-bit integers: RUN_ID then the
# request's slot on ID_DIGITS digits stays below 2**63 (19 digits) with an
# 11-digit run id. No leading zero, so the id reads back exactly as sent.
ID_DIGITS = 7
MAX_REQUESTS = 10**ID_DIGITS - 1
RUN_ID_RE = re.compile(r"^[1-9][0-9]{0,10}$")

LATE_TOLERANCE_S = 1.0  # a slot whose time passed longer ago than this is skipped, not sent
ANSWER_GRACE_S = 1.0  # the client waits this much beyond the server's query deadline
CONNECT_TIMEOUT_S = 3.0  # at most; never more than request_timeout
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


# -- the module's parameters --------------------------------------------------------


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
