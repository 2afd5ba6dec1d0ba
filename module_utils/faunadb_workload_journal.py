# What a workload run leaves behind and how it is checked afterwards: the
# read-back of every write in the journal (verify_journal), the journal and the
# ledger of acknowledged writes on disk, and the secret the queries use.
"""Chaos workload: the journal, the ledger and the verification of a run."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import datetime, timezone

from ansible.module_utils.faunadb_common import FaunaDBError, replace_file
from ansible.module_utils.faunadb_workload_client import classify
from ansible.module_utils.faunadb_workload_schedule import slot_of
from ansible.module_utils.faunadb_workload_stats import (
    INDETERMINATE,
    NAMED_IDS,
    READ,
    WRITE,
    window_stats,
)

JOURNAL_FORMAT = "faunadb_workload/1"
VERIFY_BATCH = 100  # ids checked per verification query
VERIFY_RETRY_S = 0.5


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
