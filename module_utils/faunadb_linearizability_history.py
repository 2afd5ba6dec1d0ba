# The register histories faunadb_linearizability checks: their format, their
# validation, and their split by key into the operations the search walks.
# Standard library only.
"""Histories of read/write/compare-and-set registers, as the linearizability checker reads them.

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_FUNCTIONS = ("read", "write", "cas")
_TYPES = ("ok", "fail", "info")

# Model steps, one code per (function, outcome) pair that the search can meet.
_READ = 0
_WRITE = 1
_CAS_SWAPPED = 2
_CAS_UNCHANGED = 3
_CAS_UNKNOWN = 4


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
