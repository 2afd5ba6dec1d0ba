# Linearizability checking of the register workload's history: check_history,
# the search for a key's smallest failing window, and the report line. Standard
# library only; the history's parsing and the search itself are in
# faunadb_linearizability_history and faunadb_linearizability_search.
"""Linearizability checker for histories of read/write/compare-and-set registers.

FaunaDB claims strict serializability; for single-document operations that
implies linearizability, which is what this module checks.

The checker is the Wing & Gong search as improved by Lowe (see
faunadb_linearizability_search, which says how it works and what it costs);
the history format and the register model are in
faunadb_linearizability_history.

Keys are independent registers (linearizability is compositional, Herlihy &
Wing's locality): the history is split by key and each key is checked alone.

API
---
``check_history(history, *, timeout_s=None, max_states=...)`` returns::

    {"ok": bool,          # every key linearizable (False if any gave up)
     "keys": {key: per_key_result},
     "elapsed_s": float}

and each per-key result is::

    {"linearizable": True | False | None,   # None: gave up
     "operations": n,   # ops kept (fails and info reads dropped)
     "info": m}         # indeterminate ops among them

plus, when None, ``"gave_up": "timeout" | "state limit"``, and when False:

* ``"first_bad"``: id of the operation that cannot be placed: the last
  operation, in completion order, of the shortest prefix of the key's history
  that is already not linearizable (found by binary search; see below);
* ``"first_bad_op"``: a copy of that history entry, for reports;
* ``"window"``: ``{"start": t, "end": t, "ops": [ids]}``: that operation and
  every operation of the prefix whose interval overlaps its own, ordered by
  invocation; ``start`` is their earliest invocation, ``end`` its completion;
* ``"window_minimal"``: False when the binary search ran out of time or
  memory, in which case the prefix reported is failing but maybe not the
  shortest;
* ``"linearized_prefix"``: the longest partial linearization the search of
  that prefix reached (ids in linearization order), like Porcupine's partial
  linearizations.

The prefix of the first k operations in completion order (ties broken by
invocation time then id), cut at time T (the k-th completion), holds those k
operations as completed, and every other operation invoked by T as pending:
pending operations may or may not have taken effect by T, so reads and failed
cas among them are dropped and the rest are treated like info operations
(with their known result). If the whole history is linearizable so is every
such prefix, and a prefix that is not linearizable stays so when extended,
which is what makes the binary search sound.

``format_key_result(key, result)`` renders a per-key result as one line of
text for a report.
"""

from __future__ import annotations

import time

from ansible.module_utils.faunadb_linearizability_history import (
    _CAS_UNCHANGED,
    _READ,
    _partition,
)
from ansible.module_utils.faunadb_linearizability_search import _GaveUp, _search

__all__ = ["check_history", "format_key_result"]

DEFAULT_MAX_STATES = 1_000_000


def _prefix(ops, completed, k):
    """The ops of the prefix made of the first k completed ops (see the module docstring)."""
    cut = completed[k - 1].complete
    chosen = {op.id for op in completed[:k]}
    prefix = []
    for op in ops:
        if op.id in chosen:
            prefix.append(op)
        elif op.invoke <= cut and op.kind not in (_READ, _CAS_UNCHANGED):
            # Still pending at the cut: it may or may not have taken effect yet.
            prefix.append(op.pending())
    return prefix


def _find_window(ops, deadline, max_states, full_longest):
    """Binary search for the shortest failing prefix; return the per-key failure fields."""
    completed = sorted(
        (op for op in ops if op.required), key=lambda op: (op.complete, op.invoke, op.id)
    )
    # Invariant: prefix lo is linearizable (the empty one is), prefix hi is not.
    lo, hi = 0, len(completed)
    longest = full_longest
    minimal = True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            verdict, partial = _search(_prefix(ops, completed, mid), deadline, max_states)
        except _GaveUp:
            minimal = False
            break
        if verdict:
            lo = mid
        else:
            hi, longest = mid, partial

    bad = completed[hi - 1]
    window = [
        op
        for op in ops
        if op.invoke <= bad.complete and (op.id == bad.id or op.complete >= bad.invoke)
    ]
    return {
        "first_bad": bad.id,
        "first_bad_op": dict(bad.entry),
        "window": {
            "start": min(op.invoke for op in window),
            "end": bad.complete,
            "ops": [op.id for op in window],
        },
        "window_minimal": minimal,
        "linearized_prefix": longest,
    }


def _check_key(ops, deadline, max_states):
    result = {
        "linearizable": None,
        "operations": len(ops),
        "info": sum(1 for op in ops if not op.required),
    }
    try:
        verdict, longest = _search(ops, deadline, max_states)
    except _GaveUp as exc:
        result["gave_up"] = exc.reason
        return result
    result["linearizable"] = verdict
    if not verdict:
        result.update(_find_window(ops, deadline, max_states, longest))
    return result


def check_history(history, *, timeout_s=None, max_states=DEFAULT_MAX_STATES):
    """Check a register history for linearizability, key by key.

    timeout_s bounds the whole call (all keys together); keys that are not
    decided by then get "linearizable": None. max_states bounds the memo of
    each search (its memory); a key whose search outgrows it also gets None.
    Raises HistoryError for an entry that does not follow the format.
    """
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    keys = {}
    for key, ops in _partition(history).items():
        keys[key] = _check_key(ops, deadline, max_states)
    return {
        "ok": all(r["linearizable"] is True for r in keys.values()),
        "keys": keys,
        "elapsed_s": time.monotonic() - started,
    }


def _show_op(entry):
    f = entry.get("f")
    value = entry.get("value")
    if f == "read":
        text = f"read -> {entry.get('result')!r}"
    elif f == "write":
        text = f"write {value!r}"
    else:
        # Only a completed op can be the one that cannot be placed, so the
        # cas has a result.
        text = f"cas {value[0]!r} -> {value[1]!r}"
        text += ", swapped" if entry.get("result") else ", not swapped"
    return text


def format_key_result(key, result):
    """One line of text for a report about one key's result from check_history."""
    counts = f"{result['operations']} operations, {result['info']} indeterminate"
    verdict = result["linearizable"]
    if verdict is True:
        return f"key {key}: linearizable ({counts})"
    if verdict is None:
        reason = result.get("gave_up", "timeout")
        why = "the timeout" if reason == "timeout" else f"the {reason}"
        return f"key {key}: unknown, the check gave up at {why} ({counts})"
    bad = result["first_bad_op"]
    window = result["window"]
    line = (
        f"key {key}: NOT linearizable: op {result['first_bad']} ({_show_op(bad)}"
        f" by process {bad.get('process')} at {bad['invoke']:.3f}-{bad['complete']:.3f} s)"
        f" cannot be placed; window {window['start']:.3f}-{window['end']:.3f} s,"
        f" ops {', '.join(str(i) for i in window['ops'])}"
    )
    if not result.get("window_minimal", True):
        line += " (the search for a smaller window gave up)"
    return line
