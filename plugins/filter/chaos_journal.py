# Apache-2.0, like the rest of the project.
"""Filters of the chaos role that assemble a run's records: each phase's end
and share of the workload, the heal, and the journal (journal.json, report.md,
the timeline and chaos_conclusions read it).

Kept in Python rather than in verdict.yml's and heal.yml's Jinja so that every
key, type and default is unit tested (tests/unit/roles/test_chaos_journal.py).
No Ansible imports: the tests load this file, and Ansible imported at test
collection changes the module tests' warnings.
"""

from __future__ import annotations

import time

ISO = "%Y-%m-%dT%H:%M:%SZ"
STEADY_SKIPPED = {"ok": False, "skipped": True}
HEAL_SKIPPED = {"ok": False, "seconds": None, "skipped": True}


def _epoch(value):
    """Epoch seconds as a float, or None for a time never set (None or '')."""
    return None if value is None or value == "" else float(value)


def _iso(epoch):
    return None if epoch is None else time.strftime(ISO, time.gmtime(epoch))


def _text(value):
    return "" if value is None else str(value)


def _since(epoch, origin):
    """Seconds from origin to epoch, to 2 places, or None when either is unknown."""
    return None if epoch is None or origin is None else round(epoch - origin, 2)


def chaos_workload_windows(verify):
    """The workload's stretches as faunadb_workload's verify gave them."""
    verify = verify or {}
    if "windows" in verify:
        return verify["windows"]
    return (verify.get("verification") or {}).get("windows", [])


def chaos_phase_records(records, windows, fault_end):
    """Each phase's record with its end_epoch (the next phase's start_epoch,
    the last one's the fault's end; a float, or None while it is unknown) and
    its window (the entry of windows with the phase's name, or {})."""
    ends = [r.get("start_epoch") for r in records[1:]] + [fault_end]
    out = []
    for record, end in zip(records, ends):  # noqa: B905 (no records: ends still has the fault's)
        window = next((w for w in windows or [] if w.get("name") == record.get("name")), {})
        out.append({**record, "end_epoch": _epoch(end), "window": window})
    return out


def chaos_journal(run):
    """The journal of a finished run (what verdict.yml writes to journal.json).

    run is one mapping of the run's facts:
      scenario, url, targets, targets_asked, testinfra, expectations, verdict,
      error: copied as they are;
      started, ended: epochs of the run;
      phases_planned: the plan's phases (_chaos_phases);
      phase_records: chaos_phase_records' output (_chaos_phase_records);
      fault_start, fault_end: epochs, None or '' when there was no fault;
      verify: faunadb_workload's verify result (_chaos_verify), {} when none ran;
      workload_started: the workload task's start, when its own is unknown;
      steady: {before, after} of steady_state.yml; heal: chaos_heal_record's
      output, or None when nothing was healed;
      max_in_flight, workload_seconds, rate: the chaos_workload_* settings.
    Times are ISO in UTC ('Z') and epoch floats; *_t are seconds since the
    workload started (the per_second timeline's t).
    """
    verify = run.get("verify") or {}
    w = verify.get("workload") or {}
    ws = _epoch(w.get("started_epoch", run.get("workload_started")))
    fs, fe = _epoch(run.get("fault_start")), _epoch(run.get("fault_end"))
    planned = run.get("phases_planned") or []
    started, ended = float(run["started"]), float(run["ended"])
    steady = run.get("steady") or {}
    kinds = list(dict.fromkeys(p["fault"] for p in planned))
    return {
        "scenario": run.get("scenario"),
        "started": _iso(started),
        "ended": _iso(ended),
        "started_epoch": started,
        "ended_epoch": ended,
        "targets": run.get("targets"),
        "targets_asked": run.get("targets_asked"),
        "url": run.get("url"),
        "fault": {
            "kind": " then ".join(kinds),
            "seconds_planned": sum(p["seconds"] for p in planned),
            "start": _iso(fs),
            "end": _iso(fe),
            "start_epoch": fs,
            "end_epoch": fe,
            "start_t": _since(fs, ws),
            "end_t": _since(fe, ws),
            "seconds": _since(fe, fs),
        },
        # Each phase as planned (fault, targets, offsets, quorum_loss) and as it
        # went (start/end, effect, probe, write ping, window: its share of the workload).
        "phases": [{**p, "start_t": _since(_epoch(p.get("start_epoch")), ws),
                    "end_t": _since(_epoch(p.get("end_epoch")), ws)}
                   for p in run.get("phase_records") or []],
        "phases_planned": planned,
        "testinfra": run.get("testinfra"),
        "steady_state_before": steady.get("before", STEADY_SKIPPED),
        "steady_state_after": steady.get("after", STEADY_SKIPPED),
        "workload": {
            "requests": w.get("requests", 0),
            "ok": w.get("ok", 0),
            "failed": w.get("failed", 0),
            "indeterminate": w.get("indeterminate", 0),
            "skipped": w.get("skipped", 0),
            "max_in_flight": w.get("max_in_flight", run.get("max_in_flight")),
            "planned": w.get("planned", 0),
            "writes": w.get("writes", 0),
            "reads": w.get("reads", 0),
            "acked_writes": w.get("acked_writes", 0),
            "lost_writes": w.get("lost_writes"),
            "lost_write_ids": w.get("lost_write_ids", []),
            "duplicate_writes": w.get("duplicate_writes", 0),
            "stale_reads": w.get("stale_reads", 0),
            "outcomes": w.get("outcomes", {}),
            "latency_ms": w.get("latency_ms", {"p50": None, "p99": None, "max": None}),
            "per_second": w.get("per_second", []),
            "run_id": verify.get("run_id"),
            "verification": verify.get("verification", {}),
            "started_epoch": ws,
            "pings": w.get("pings", {}),
            "registers": w.get("registers"),
            "linearizability": w.get("linearizability"),
            "windows": chaos_workload_windows(verify),
            "seconds_planned": float(run["workload_seconds"]),
            "rate": float(run["rate"]),
            "journal": "workload.json",
        },
        "heal": run.get("heal") or HEAL_SKIPPED,
        "expectations": run.get("expectations"),
        "verdict": run.get("verdict"),
        "error": run.get("error"),
    }


def _outcomes_text(outcomes):
    """'ok 9, timeout 7': each outcome seen and its count, over every kind
    (faunadb_workload's outcomes are per kind: {write: {ok: 9, ...}, read: ...})."""
    counts = {}
    for key, value in (outcomes or {}).items():
        for name, count in (value.items() if isinstance(value, dict) else [(key, value)]):
            counts[name] = counts.get(name, 0) + (count or 0)
    return ", ".join(f"{name} {count}" for name, count in counts.items() if count)


def chaos_heal_record(nodes, status, ping, burst, burst_size, *, fault_end, end):
    """The heal of a run (heal.yml's _chaos_heal).

    nodes: the results of faunadb_node state=healed, one per target (item.name,
    running, actions); status, ping: faunadb_wait_status and faunadb_wait_ping
    (reason 'ok' when they held, msg); burst: the last burst's workload result
    ({} when none ran); burst_size: chaos_heal_writes (0: no burst asked);
    fault_end, end: epochs of the fault's end and the heal's. ok when every
    node runs, FaunaDB's view is healthy, the write ping passes and the whole
    burst committed; seconds (from the fault's end) only then.
    """
    nodes, status, ping, burst = nodes or [], status or {}, ping or {}, burst or {}
    burst_size = int(burst_size)
    fault_end, end = _epoch(fault_end), _epoch(end)
    nodes_ok = all(n.get("running") for n in nodes)
    healthy = status.get("reason", "") == "ok"
    pinged = ping.get("reason", "") == "ok"
    writes = burst_size == 0 or burst.get("acked_writes", 0) == burst_size
    ok = nodes_ok and healthy and pinged and writes
    miss = "" if writes or not pinged else (
        f"writes still fail: {burst.get('acked_writes', 0)} of {burst_size} committed in the "
        f"last burst ({_outcomes_text(burst.get('outcomes'))})")
    return {
        "ok": ok,
        "seconds": _since(end, fault_end) if ok else None,
        "start": _iso(fault_end),
        "end": _iso(end),
        "start_epoch": fault_end,
        "end_epoch": end,
        "nodes_running": [(n.get("item") or {}).get("name") for n in nodes if n.get("running")],
        "actions": [n.get("actions", []) for n in nodes],
        "all_up_and_live": healthy,
        "write_ping_lb": pinged,
        "writes_commit": writes,
        # No burst ran: nothing where its count would be, as earlier journals say.
        "write_burst": f"{_text(burst.get('acked_writes'))} of {burst_size} acknowledged in the "
                       "last burst",
        "detail": "; ".join(t for t in (status.get("msg", ""), ping.get("msg", ""), miss) if t),
    }


class FilterModule:
    def filters(self):
        return {
            "chaos_phase_records": chaos_phase_records,
            "chaos_journal": chaos_journal,
            "chaos_heal_record": chaos_heal_record,
            "chaos_workload_windows": chaos_workload_windows,
        }
