# How the requests of a workload run ended and what they add up to: the outcome
# classes, percentiles and latencies, the per-second timeline, the run's summary
# and the counts of chosen time windows. Pure: records in, figures out.
"""Chaos workload: outcomes and statistics of a run's requests and pings."""

from __future__ import annotations

import math
from collections import Counter

from ansible.module_utils.faunadb_common import FaunaDBError, finite_number

WRITE, READ = "write", "read"
REGISTER = "register"  # an operation of the register workload (its own history, not a request)
# Every class a request can end in. Reads never end in "duplicate", writes never in "stale".
OUTCOMES = ("ok", "unavailable", "timeout", "duplicate", "stale", "other")
# A write that ended so has no definite answer: it may or may not have been applied.
INDETERMINATE = ("timeout",)
NAMED_IDS = 50  # lost ids named in the result (all of them are in the journal)


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
    """Each window's requests and pings, by send time (started_epoch + t) in [start, end).

    due counts the window's request slots, sent or kept back by the in-flight
    bound; register operations take slots of the same schedule but are not
    requests, so rate x seconds would overstate what was due."""
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
            "not_sent": len(kept_back), "due": len(sent) + len(kept_back),
            "pings": len(in_pings), "pings_failed": sum(1 for p in in_pings if not p["ok"]),
            "lost_writes": sum(1 for r in acked if r["id"] in lost_ids),
        })
    return stats


def journal_started_epoch(journal):
    """Wall time of the run's t=0; journals written before it was kept have none."""
    run = journal.get("run") or {}
    epoch = run.get("started_epoch", (journal.get("summary") or {}).get("started_epoch"))
    if finite_number(epoch) is None:
        raise FaunaDBError("The journal has no started_epoch (written by an older version of "
                           "the module): windows cannot be placed in it; run the workload again")
    return float(epoch)
