# Linearizability checking of the register workload's history. Pure Python,
# standard library only, no Ansible imports: the chaos report code and the
# unit tests call it directly on recorded histories.
"""Linearizability checker for histories of read/write/compare-and-set registers.

FaunaDB claims strict serializability; for single-document operations that
implies linearizability, which is what this module checks.

Algorithm
---------
The checker is the Wing & Gong search as improved by Lowe ("Testing for
linearizability", Concurrency and Computation: Practice and Experience, 2017),
the algorithm of Porcupine and Knossos' "linear" checker:

* Every operation becomes a call event at its invocation time and a return
  event at its completion time; the events are sorted by time (a call sorts
  before a return at the same instant, so operations that merely touch are
  concurrent) and put in a doubly linked list.
* A depth-first search walks the list from its head. At a call event it tries
  to linearize that operation now: if the register model accepts the step, the
  operation's call and return are unlinked from the list, the choice is pushed
  on a stack and the walk restarts from the head. Reaching a return event whose
  operation is not yet linearized means the current choices cannot work: the
  last choice is popped, its events relinked, and the walk goes on after it.
* Lowe's memoization: a configuration is the set of linearized operations (a
  bitset held in a Python int) and the register state. A configuration seen
  before was already explored, so the search never explores it again.
* The search is a loop with an explicit stack, so thousands of operations do
  not hit Python's recursion limit, and it gives up at a deadline or when the
  memo grows past a bound.

Three refinements, each of which only skips configurations that cannot
succeed where an explored one failed (so the verdict is unchanged; the unit
tests compare it with an exhaustive search):

* Optional operations (info ones, and in a prefix the pending ones; see
  below) need never be linearized and block nothing, so a configuration is
  covered by an explored one with the same required operations and state and
  a subset of its optional ones. The memo keeps, per (required set, state),
  the optional sets explored, and the search tries required candidates before
  optional ones, so that the smaller sets are explored first.
* A read or a failed cas never changes the state: if it is legal now, it can
  be moved to the front of any linearization, so once the search fails after
  linearizing it, the alternatives to it are not tried.
* A write right after an optional operation is not tried: that configuration
  is covered by the one where the write comes without the optional one.

Without them, indeterminate writes that never took effect make the search
try them in every combination; with them they cost little. What remains
exponential is a large number of mutually concurrent operations (the memo
is bounded by subsets of the operations in flight at once): keep the number
of concurrent clients per key modest (8 is fine).

Keys are independent registers (linearizability is compositional, Herlihy &
Wing's locality): the history is split by key and each key is checked alone.

History format
--------------
A list of dicts, one per client operation::

    {"id": 17,                  # int, unique in the history
     "process": 2,              # int or str, the client; only used in reports
     "key": "k1",               # str, the register (document)
     "f": "read" | "write" | "cas",
     "value": None              # read
              | v               # write(v)
              | [expected, new],  # cas(expected, new)
     "type": "ok" | "fail" | "info",
     "result": v                # read, ok: the value read (None: no document)
               | True | False   # cas, ok: whether it swapped
               | None,          # otherwise
     "invoke": 4.21,            # float seconds
     "complete": 4.26}          # float seconds; None (or ignored) for info

Values may be any JSON-like data (None, bool, numbers, strings, lists,
dicts); they are compared by equality, with booleans kept apart from 0 and 1.

Semantics of the outcome types, as in Jepsen, Knossos and Porcupine:

* ``ok``: the operation completed with that result; it took effect exactly
  once, at some instant between ``invoke`` and ``complete``.
* ``fail``: it certainly did not take effect (e.g. refused before being
  applied). It is dropped from the history.
* ``info``: indeterminate (timed out, connection lost): it may have taken
  effect at any instant after ``invoke``, or never. It is given a completion
  time of +infinity and no result. An info read constrains nothing and is
  dropped. An info write or cas is kept but not required: the search never
  has to linearize it, which covers "never" (and is equivalent to taking
  effect after everything else). An info cas that does take effect swaps iff
  the register holds its expected value.

The register model: the initial state of every register is None (document
absent); read is legal iff its result equals the state; write(v) sets the
state to v; cas(e, n) with result True is legal iff the state equals e and
sets it to n; with result False it is legal iff the state differs from e.

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

import math
import time
from collections.abc import Mapping

__all__ = ["HistoryError", "check_history", "format_key_result"]

DEFAULT_MAX_STATES = 1_000_000

_FUNCTIONS = ("read", "write", "cas")
_TYPES = ("ok", "fail", "info")

# Model steps, one code per (function, outcome) pair that the search can meet.
_READ = 0
_WRITE = 1
_CAS_SWAPPED = 2
_CAS_UNCHANGED = 3
_CAS_UNKNOWN = 4

_ILLEGAL = object()


class HistoryError(ValueError):
    """A history entry that does not follow the documented format."""


class _Op:
    __slots__ = ("complete", "entry", "id", "invoke", "kind", "a", "b")

    def __init__(self, entry, kind, a, b, *, invoke, complete):
        self.entry = entry
        self.id = entry["id"]
        self.kind = kind
        self.a = a
        self.b = b
        self.invoke = invoke
        # math.inf marks an operation the search does not have to linearize.
        self.complete = complete

    @property
    def required(self):
        return self.complete != math.inf

    def pending(self):
        return _Op(self.entry, self.kind, self.a, self.b, invoke=self.invoke, complete=math.inf)


class _GaveUp(Exception):
    def __init__(self, reason, longest):
        super().__init__(reason)
        self.reason = reason
        self.longest = longest


def _freeze(value, where):
    """A hashable stand-in for a value, equal exactly when the values are equal."""
    if value is None or isinstance(value, str):
        return value
    # True == 1 in Python, but a register holding true does not hold 1.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        return ("list", tuple(_freeze(v, where) for v in value))
    if isinstance(value, Mapping):
        return ("dict", frozenset((k, _freeze(v, where)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        raise HistoryError(f"{where}: value {value!r} is not comparable data") from None
    return ("other", value)


def _time(value, where, name):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise HistoryError(f"{where}: {name} must be a finite number of seconds, not {value!r}")
    return float(value)


def _parse(entry, position):
    """Validate one entry; return (key, _Op) or (key, None) when it is dropped."""
    if not isinstance(entry, Mapping):
        raise HistoryError(f"history[{position}]: expected a dict, not {type(entry).__name__}")
    op_id = entry.get("id")
    if isinstance(op_id, bool) or not isinstance(op_id, int):
        raise HistoryError(f"history[{position}]: id must be an int, not {op_id!r}")
    where = f"operation {op_id}"
    key = entry.get("key")
    if not isinstance(key, str):
        raise HistoryError(f"{where}: key must be a str, not {key!r}")
    f = entry.get("f")
    if f not in _FUNCTIONS:
        raise HistoryError(f"{where}: f must be one of {', '.join(_FUNCTIONS)}, not {f!r}")
    outcome = entry.get("type")
    if outcome not in _TYPES:
        raise HistoryError(f"{where}: type must be one of {', '.join(_TYPES)}, not {outcome!r}")
    invoke = _time(entry.get("invoke"), where, "invoke")
    if outcome == "fail" or (outcome == "info" and f == "read"):
        return key, None

    value = entry.get("value")
    result = entry.get("result")
    if f == "cas":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise HistoryError(f"{where}: a cas value must be [expected, new], not {value!r}")
        a, b = _freeze(value[0], where), _freeze(value[1], where)
    elif f == "write":
        a, b = _freeze(value, where), None
    else:
        a, b = _freeze(result, where), None

    if outcome == "info":
        kind = {"write": _WRITE, "cas": _CAS_UNKNOWN}[f]
        return key, _Op(entry, kind, a, b, invoke=invoke, complete=math.inf)

    complete = _time(entry.get("complete"), where, "complete")
    if complete < invoke:
        raise HistoryError(f"{where}: completes at {complete} before its invocation at {invoke}")
    if f == "read":
        kind = _READ
    elif f == "write":
        kind = _WRITE
    elif result is True:
        kind = _CAS_SWAPPED
    elif result is False:
        kind = _CAS_UNCHANGED
    else:
        raise HistoryError(f"{where}: an ok cas must have result True or False, not {result!r}")
    return key, _Op(entry, kind, a, b, invoke=invoke, complete=complete)


def _partition(history):
    """Split the history by key: {key: [kept _Op, ...]} in order of invocation."""
    keys = {}
    seen = set()
    for position, entry in enumerate(history):
        key, op = _parse(entry, position)
        if entry["id"] in seen:
            raise HistoryError(f"operation {entry['id']}: id used twice")
        seen.add(entry["id"])
        ops = keys.setdefault(key, [])
        if op is not None:
            ops.append(op)
    for ops in keys.values():
        ops.sort(key=lambda op: (op.invoke, op.id))
    return keys


def _search(ops, deadline, max_states):
    """Lowe's search over one key's ops; return (True|False, longest partial linearization).

    Raises _GaveUp at the deadline or past max_states memo entries.
    """
    needed = sum(1 for op in ops if op.required)
    if needed == 0:
        return True, []

    events = []
    for i, op in enumerate(ops):
        events.append((op.invoke, 0, i))
        if op.required:
            events.append((op.complete, 1, i))
    events.sort()

    # Node 0 heads the list of the required ops' calls and returns, node 1 the
    # list of the other ops' calls (they have no return). Node j + 2 is
    # events[j], so comparing nodes compares event order. -1 ends a list.
    size = len(events) + 2
    nxt = [-1] * size
    prv = [-1] * size
    node_op = [-1] * size
    is_call = [False] * size
    match = [-1] * size
    call_node = {}
    tails = [0, 1]
    for j, (_, kind, i) in enumerate(events):
        node = j + 2
        node_op[node] = i
        if kind == 0:
            is_call[node] = True
            call_node[i] = node
        else:
            match[call_node[i]] = node
        chain = 0 if ops[i].required else 1
        nxt[tails[chain]] = node
        prv[node] = tails[chain]
        tails[chain] = node
    kinds = [op.kind for op in ops]
    args_a = [op.a for op in ops]
    args_b = [op.b for op in ops]
    required = [op.required for op in ops]

    # The linearized set is split in two bitsets: required ops and the others
    # (info and pending ops). The memo maps (required bits, state) to the
    # "other" bitsets explored with them; see _dominated.
    state = None
    linearized = others = done = 0
    cache = {(0, None): [0]}
    states = 1
    # (call node, state before it, whether the choice is final, first_return).
    calls = []
    longest = []
    steps = 0
    entry = nxt[0]
    # Candidates are the calls before the first pending return: the required
    # ones first, then (side) the others, so that the configurations without
    # an optional op are explored, and memoized, before those with it.
    side = False
    first_return = -1
    # Whether the last op linearized is optional: then a write right after it
    # would erase its effect unseen, a configuration covered by the one where
    # the write comes without it (see _dominated), which the search reaches
    # too. Skipping such writes stops chains of optional writes from being
    # tried in every combination.
    after_optional = False
    while True:
        if steps & 1023 == 0:
            if deadline is not None and time.monotonic() > deadline:
                raise _GaveUp("timeout", _ids(ops, longest))
            if states > max_states:
                raise _GaveUp("state limit", _ids(ops, longest))
        steps += 1

        if not side and (entry == -1 or not is_call[entry]):
            first_return = size if entry == -1 else entry
            side = True
            entry = nxt[1]
            continue

        if not side or (entry != -1 and entry < first_return):
            i = node_op[entry]
            kind = kinds[i]
            a = args_a[i]
            if kind == _READ:
                new_state = state if state == a else _ILLEGAL
            elif kind == _WRITE:
                new_state = _ILLEGAL if after_optional else a
            elif kind == _CAS_SWAPPED:
                new_state = args_b[i] if state == a else _ILLEGAL
            elif kind == _CAS_UNCHANGED:
                new_state = state if state != a else _ILLEGAL
            else:
                new_state = args_b[i] if state == a else state
            if new_state is not _ILLEGAL:
                bit = 1 << i
                if required[i]:
                    new_linearized, new_others = linearized | bit, others
                else:
                    new_linearized, new_others = linearized, others | bit
                config = (new_linearized, new_state)
                seen = cache.get(config)
                if seen is None or not _dominated(new_others, seen):
                    if seen is None:
                        cache[config] = [new_others]
                    else:
                        seen[:] = [m for m in seen if new_others & ~m] + [new_others]
                    states += 1
                    # A read or a failed cas (always required) never changes
                    # the state; legal here, it can be moved to the front of
                    # any linearization from here, so if none exists after it,
                    # none exists at all: backtracking skips the alternatives.
                    # (A write of the current value does not qualify: where a
                    # linearization puts it later, it may change the state.)
                    final = kind in (_READ, _CAS_UNCHANGED)
                    calls.append((entry, state, final, first_return))
                    state = new_state
                    linearized, others = new_linearized, new_others
                    after_optional = not required[i]
                    if required[i]:
                        done += 1
                        if done == needed:
                            return True, _ids(ops, [node_op[c[0]] for c in calls])
                    # Unlink the call and its return; the return may end the list.
                    nxt[prv[entry]] = nxt[entry]
                    if nxt[entry] != -1:
                        prv[nxt[entry]] = prv[entry]
                    r = match[entry]
                    if r != -1:
                        nxt[prv[r]] = nxt[r]
                        if nxt[r] != -1:
                            prv[nxt[r]] = prv[r]
                    entry = nxt[0]
                    side = False
                    continue
            entry = nxt[entry]
            continue

        # No candidate left: backtrack.
        if len(calls) > len(longest):
            longest = [node_op[c[0]] for c in calls]
        final = True
        while final:
            if not calls:
                return False, _ids(ops, longest)
            entry, state, final, first_return = calls.pop()
            i = node_op[entry]
            if required[i]:
                linearized &= ~(1 << i)
                done -= 1
            else:
                others &= ~(1 << i)
            # Relink in the reverse order of the unlinking.
            r = match[entry]
            if r != -1:
                nxt[prv[r]] = r
                if nxt[r] != -1:
                    prv[nxt[r]] = r
            nxt[prv[entry]] = entry
            if nxt[entry] != -1:
                prv[nxt[entry]] = entry
        side = not required[i]
        after_optional = bool(calls) and not required[node_op[calls[-1][0]]]
        entry = nxt[entry]


def _dominated(others, seen):
    """Whether a configuration with these other ops linearized is already covered.

    Ops that are not required never block anything and need never be
    linearized, so a configuration with the same required ops and state but a
    subset of the other ops linearized can do all this one can, and more.
    """
    return any(not (m & ~others) for m in seen)


def _ids(ops, indexes):
    return [ops[i].id for i in indexes]


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
