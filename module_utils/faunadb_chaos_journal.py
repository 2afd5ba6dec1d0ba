# The chaos journal written as the run goes (library/faunadb_chaos_journal.py): started at
# plan time, each step's record added as it ends, so that a run killed mid-fault leaves
# its evidence; and the recovery of such a run (its acknowledged writes read back, its
# journal closed as interrupted).
"""A chaos run's journal.json, written as the run goes, and the recovery of interrupted runs."""

from __future__ import annotations

import glob
import json
import os
import platform
import socket
import time
from datetime import datetime, timezone

from ansible.module_utils.faunadb_common import FaunaDBError, load_json_object, replace_file

FORMAT = "faunadb_chaos_journal/1"
# Chaos Toolkit's journal statuses, and the verdict an interrupted run gets.
RUNNING, COMPLETED, INTERRUPTED = "running", "completed", "interrupted"
TOOL = "faunalab chaos"


def iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017


def load(path):
    return load_json_object(path, "chaos journal")


def save(path, journal):
    text = json.dumps(journal, indent=2, sort_keys=True, default=str) + "\n"
    replace_file(path, lambda fh: fh.write(text.encode("utf-8")), mode=0o640,
                 prefix=".tmp-journal-")


def platform_info(ansible_version):
    """Where the run ran, as Chaos Toolkit's journal records it (tool, platform, node)."""
    return {"tool": TOOL, "ansible": ansible_version, "python": platform.python_version(),
            "platform": platform.platform(), "node": socket.gethostname()}


def start(path, data, ansible_version, now=time.time):
    """A new journal: status running, when it started, where, and data (the experiment)."""
    epoch = now()
    journal = dict(data)
    journal.update(format=FORMAT, status=RUNNING, started=iso(epoch), started_epoch=epoch,
                   updated_epoch=epoch, runtime=platform_info(ansible_version))
    save(path, journal)
    return journal


def update(path, values=None, append=None, now=time.time):
    """Set top-level values and append to top-level lists; a closed journal is left alone.
    A journal that was never started (the run failed before) is started now."""
    if not os.path.exists(path):
        start(path, {}, None, now=now)
    journal = load(path)
    if journal.get("status") != RUNNING:
        raise FaunaDBError(f"{path} is {journal.get('status')}, not running: not updated")
    for key, value in (values or {}).items():
        journal[key] = value
    for key, value in (append or {}).items():
        journal.setdefault(key, [])
        if not isinstance(journal[key], list):
            raise FaunaDBError(f"{path}: {key} is not a list, cannot append to it")
        journal[key].append(value)
    journal["updated_epoch"] = now()
    save(path, journal)
    return journal


def running(reports_dir, cluster):
    """Paths of the journals of cluster's runs still marked running, oldest first."""
    found = []
    for path in sorted(glob.glob(os.path.join(reports_dir, "*", "journal.json"))):
        try:
            journal = load(path)
        except FaunaDBError:
            continue
        if journal.get("status") == RUNNING and journal.get("cluster") == cluster:
            found.append(path)
    return found


def fault_window(journal, healed_at):
    """The interrupted run's fault: from the first phase's start to the heal that ended it."""
    started = [p.get("start_epoch") for p in journal.get("phases_started") or []
               if p.get("start_epoch") is not None]
    if not started:
        return {"start": None, "end": None, "start_epoch": None, "end_epoch": None,
                "seconds": None, "injected": False}
    start_epoch = min(started)
    return {"start": iso(start_epoch), "end": iso(healed_at), "start_epoch": start_epoch,
            "end_epoch": healed_at, "seconds": round(healed_at - start_epoch, 2),
            "injected": True,
            "phases": [p.get("name") for p in journal.get("phases_started") or []]}


def close_interrupted(path, journal, verification, workload, healed_by, *, now=time.time):
    """Close an interrupted run's journal: verdict interrupted, its writes' read-back."""
    epoch = now()
    journal.update(
        status=INTERRUPTED, verdict=INTERRUPTED, ended=iso(epoch), ended_epoch=epoch,
        updated_epoch=epoch, fault=fault_window(journal, epoch),
        heal={"by": healed_by, "at": iso(epoch), "ok": None},
        workload=workload, verification=verification,
        error=journal.get("error") or "the run was interrupted before it finished; "
        f"{healed_by} healed the cluster and read its acknowledged writes back",
    )
    save(path, journal)
    report = os.path.join(os.path.dirname(path), "report.md")
    with open(report, "w", encoding="utf-8") as fh:
        fh.write(interrupted_report(journal))
    os.chmod(report, 0o640)
    return journal


def interrupted_report(j):
    """report.md of a run that did not finish: what it planned, what it did, what was read back."""
    w = j.get("workload") or {}
    fault = j.get("fault") or {}
    sut = j.get("system_under_test") or {}
    lines = [
        f"# Chaos experiment `{j.get('scenario')}`: INTERRUPTED",
        "",
        f"- System under test: {sut.get('summary', 'not recorded')}",
        f"- Started {j.get('started')}; interrupted, then closed {j.get('ended')} by "
        f"{(j.get('heal') or {}).get('by')}",
        f"- Targets: {', '.join(j.get('targets') or []) or '-'}",
    ]
    if fault.get("injected"):
        lines.append(f"- Fault from {fault['start']} (phases: {', '.join(fault['phases'])}) until "
                     f"the heal at {fault['end']} ({fault['seconds']} s)")
    else:
        lines.append("- No fault was injected before the interruption")
    lines += [
        "",
        "## Acknowledged writes, read back after the heal",
        "",
        "| acknowledged writes | read back | lost | complete | from |",
        "|---|---|---|---|---|",
        f"| {w.get('acked_writes', 0)} | {w.get('checked', 0)} | {w.get('lost_writes')} | "
        f"{w.get('verified')} | {w.get('source')} |",
        "",
    ]
    if w.get("lost_write_ids"):
        lines.append(f"Lost writes (ids): {', '.join(w['lost_write_ids'])}")
        lines.append("")
    lines.append("Evidence: `journal.json` (written as the run went, closed here), "
                 "`workload.ledger.jsonl` (each acknowledged write as it was acknowledged)"
                 + (", `workload.json`" if w.get("source") == "workload.json" else "") + ".")
    return "\n".join(lines) + "\n"


def await_workload(run_dir, journal, workload_file, *, slack=15.0, clock=time.time,
                   sleep=time.sleep):
    """Wait for an interrupted run's workload to end on its own: it runs detached (async),
    so it outlives a killed controller and goes on acknowledging writes. At most until its
    planned end plus its request timeout and ``slack``; True if it wrote its journal."""
    path = os.path.join(run_dir, workload_file)
    started = journal.get("workload_started") or {}
    try:
        until = (float(started["epoch"]) + float(started["seconds_planned"])
                 + float(started.get("request_timeout") or 0) + slack)
    except (KeyError, TypeError, ValueError):
        return os.path.exists(path)
    while not os.path.exists(path) and clock() < until:
        sleep(min(1.0, max(0.0, until - clock())))
    return os.path.exists(path)
