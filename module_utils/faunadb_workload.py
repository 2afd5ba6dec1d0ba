# The runner of library/faunadb_workload.py: Workload, a paced, bounded load of
# creates, reads and register operations, each request on a client of its own
# thread and classified. What it builds on lives beside it: faunadb_workload_schedule
# (ids, pacing, the plan), faunadb_workload_client (the driver), faunadb_workload_stats
# (the figures) and faunadb_workload_journal (the journal and the read-back after the
# run). Workload takes its clock and its database as arguments, so unit tests run it
# without a cluster.
"""Chaos workload: paced creates, reads and register operations with the faunadb driver."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque

from ansible.module_utils.faunadb_workload_client import (
    classify,
    ping_outcome,
    register_outcome,
)
from ansible.module_utils.faunadb_workload_schedule import (
    REGISTER_OPS,
    doc_data,
    doc_id,
    is_read_slot,
    ping_loop,
    ping_schedule,
    planned_requests,
    register_key,
    register_mix,
    register_op,
    run_bound,
    slot_of,
)
from ansible.module_utils.faunadb_workload_stats import (
    READ,
    REGISTER,
    WRITE,
    register_summary,
    settles,
    summarize,
)

RECENT_ACKS = 32  # reads pick one of the last this many acknowledged writes


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
