# The search at the heart of faunadb_linearizability: Wing & Gong's, as improved
# by Lowe, for a linearization of one key's operations. Standard library only.
"""Lowe's linearizability search over one register's operations.

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
  faunadb_linearizability) need never be linearized and block nothing, so a configuration is
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
"""

from __future__ import annotations

import time

from ansible.module_utils.faunadb_linearizability_history import (
    _CAS_SWAPPED,
    _CAS_UNCHANGED,
    _READ,
    _WRITE,
)

_ILLEGAL = object()


class _GaveUp(Exception):
    def __init__(self, reason, longest):
        super().__init__(reason)
        self.reason = reason
        self.longest = longest


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
