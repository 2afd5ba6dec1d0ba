"""faunadb_linearizability: known register histories, planted violations, random histories."""

from __future__ import annotations

import heapq
import itertools
import json
import random

import pytest
from ansible.module_utils.faunadb_linearizability import check_history, format_key_result
from ansible.module_utils.faunadb_linearizability_history import HistoryError

_IDS = itertools.count(10_000)


def op(f, value, result, invoke, complete, *, type="ok", process=0, key="k", id=None):
    """One history entry; ids are unique unless given."""
    return {
        "id": next(_IDS) if id is None else id,
        "process": process,
        "key": key,
        "f": f,
        "value": value,
        "type": type,
        "result": result,
        "invoke": invoke,
        "complete": None if type == "info" else complete,
    }


def read(result, invoke, complete, **kw):
    return op("read", None, result, invoke, complete, **kw)


def write(value, invoke, complete, **kw):
    return op("write", value, None, invoke, complete, **kw)


def cas(expected, new, swapped, invoke, complete, **kw):
    return op("cas", [expected, new], swapped, invoke, complete, **kw)


def numbered(*entries):
    """Give the entries ids 0, 1, 2... in the order written, so cases can name them."""
    for i, entry in enumerate(entries):
        entry["id"] = i
    return list(entries)


def seeded(seed):
    return random.Random(seed)  # noqa: S311 - reproducible test data, not cryptography


def verdict(history, key="k", **kw):
    return check_history(history, **kw)["keys"][key]


# --- a simulated register, for histories that are linearizable by construction


def simulate(
    rng,
    n_ops,
    *,
    key="k",
    processes=4,
    overlap=True,
    start=0.0,
    initial=None,
    info_rate=0.0,
    fail_rate=0.0,
    max_duration=0.05,
    max_gap=0.02,
    values=None,
):
    """A history of a real register: each op takes effect at a random instant of its interval.

    Written values (writes and cas new values) are unique, so a value names the
    one operation that may have written it. Returns (history, the last
    completion time, the final state).
    """
    values = values if values is not None else itertools.count(1)
    free = [(start + rng.uniform(0, max_gap), p) for p in range(processes)]
    heapq.heapify(free)
    clock = end = start
    recent = [initial]
    ops = []
    for _ in range(n_ops):
        t, process = heapq.heappop(free)
        if not overlap:
            t = max(t, clock)
        invoke = t + rng.uniform(0, max_gap)
        complete = invoke + rng.uniform(0.001, max_duration)
        clock = complete
        end = max(end, complete)
        f = rng.choices(("read", "write", "cas"), weights=(4, 3, 3))[0]
        if f == "read":
            value = None
        elif f == "write":
            value = next(values)
            recent.append(value)
        else:
            value = [rng.choice(recent[-3:]), next(values)]
            recent.append(value[1])
        roll = rng.random()
        kind = "fail" if roll < fail_rate else "info" if roll < fail_rate + info_rate else "ok"
        if kind == "ok":
            point = rng.uniform(invoke, complete)
        elif kind == "info" and rng.random() < 0.5:
            point = rng.uniform(invoke, invoke + 5 * max_duration)
        else:
            point = None
        entry = op(f, value, None, invoke, complete, type=kind, process=process, key=key)
        ops.append((point, entry))
        heapq.heappush(free, (complete, process))

    state = initial
    for _, entry in sorted((o for o in ops if o[0] is not None), key=lambda o: o[0]):
        if entry["f"] == "read":
            if entry["type"] == "ok":
                entry["result"] = state
        elif entry["f"] == "write":
            state = entry["value"]
        else:
            swapped = state == entry["value"][0]
            if swapped:
                state = entry["value"][1]
            if entry["type"] == "ok":
                entry["result"] = swapped
    history = [entry for _, entry in ops]
    return history, end, state


def impossible_reads(history, read_entry):
    """Values read_entry cannot return in any linearization of the rest of history.

    A value carried only by an op invoked after the read completed (future), or
    written by an effective op that another effective op certainly overwrote
    before the read began (stale), or never written at all.
    """
    effective = [
        e
        for e in history
        if e["type"] == "ok" and (e["f"] == "write" or (e["f"] == "cas" and e["result"] is True))
    ]

    def written(e):
        return e["value"] if e["f"] == "write" else e["value"][1]

    future = [
        written(e) for e in history if e["f"] != "read" and e["invoke"] > read_entry["complete"]
    ]
    overwritten_before_read = [e for e in effective if e["complete"] < read_entry["invoke"]]
    stale = [
        written(w)
        for w in effective
        if any(w2["invoke"] > w["complete"] for w2 in overwritten_before_read)
    ]
    if overwritten_before_read:
        stale.append(None)  # the initial state, nothing writes None
    candidates = future + stale
    return candidates or [-1]


# --- known histories


LINEARIZABLE = {
    "sequential": numbered(
        read(None, 0, 1),
        write(1, 2, 3),
        read(1, 4, 5),
        write(2, 6, 7),
        cas(2, 3, True, 8, 9),
        read(3, 10, 11),
    ),
    "read overlapping a write sees the new value": numbered(
        write(1, 0, 10), read(1, 2, 3, process=1)
    ),
    "read overlapping a write sees the old value": numbered(
        write(1, 0, 10), read(None, 2, 3, process=1)
    ),
    "read sees the old value while a second write overlaps": numbered(
        write(1, 0, 1),
        write(2, 2, 5),
        read(1, 3, 4, process=1),
        read(2, 6, 7, process=1),
    ),
    "overlapping reads see old and new in either order": numbered(
        write(1, 0, 1),
        write(2, 2, 10),
        read(2, 3, 4, process=1),
        read(1, 3.5, 5, process=2),
    ),
    "cas success and failure": numbered(
        write(1, 0, 1),
        cas(1, 2, True, 2, 3),
        cas(1, 3, False, 4, 5),
        read(2, 6, 7),
        cas(None, 4, False, 8, 9),
    ),
    "concurrent cas, one wins": numbered(
        write(1, 0, 1),
        cas(1, 2, True, 2, 6, process=1),
        cas(1, 3, False, 3, 5, process=2),
        read(2, 7, 8),
    ),
    "info write that took effect is read later": numbered(
        write(1, 0, 1),
        write(2, 2, None, type="info", process=1),
        read(1, 3, 4),
        read(2, 50, 51),
    ),
    "info write that never took effect": numbered(
        write(1, 0, 1),
        write(2, 2, None, type="info", process=1),
        read(1, 3, 4),
        read(1, 50, 51),
    ),
    "info cas that took effect": numbered(
        write(1, 0, 1),
        cas(1, 2, None, 2, None, type="info"),
        read(2, 5, 6, process=1),
    ),
    "info write overwritten before anybody read it": numbered(
        write(1, 2, None, type="info"),
        write(2, 5, 6, process=1),
        read(2, 7, 8),
    ),
    "fail ops are ignored": numbered(
        write(1, 0, 1),
        write(2, 2, 3, type="fail"),
        cas(1, 3, None, 4, 5, type="fail"),
        read(1, 6, 7),
        read(5, 8, 9, type="fail"),
        read(None, 8, None, type="info"),
    ),
    "ops that only touch at one instant are concurrent": numbered(
        write(1, 0, 5), read(1, 5, 6, process=1)
    ),
    "list and dict values": numbered(
        write([1, {"a": 2}], 0, 1), read([1, {"a": 2}], 2, 3), cas([1, {"a": 2}], "x", True, 4, 5)
    ),
    # Writing the value the register already holds is not a no-op wherever it
    # goes: here write 3 (id 1) must come after write 2 for the cas to swap.
    "rewriting the current value matters later": numbered(
        write(3, 0, 1),
        write(3, 2, 8, process=1),
        write(2, 3, 4, process=2),
        cas(3, 2, True, 10, 11),
    ),
    # Porcupine's TestRegisterModel (from MIT 6.824's 2017 quiz 2, section VII),
    # with its initial 0 spelled None: write 100 [0, 100], read 100 [25, 75],
    # read 0 [30, 60].
    "porcupine register model 1": numbered(
        write(100, 0, 100),
        read(100, 25, 75, process=1),
        read(None, 30, 60, process=2),
    ),
    # Porcupine's TestZeroDuration, first history.
    "porcupine zero duration 1": numbered(
        write(100, 0, 100),
        read(100, 25, 75, process=1),
        read(None, 30, 30, process=2),
        read(None, 30, 30, process=3),
    ),
}

# (history, the op that cannot be placed)
NOT_LINEARIZABLE = {
    "stale read": (numbered(write(1, 0, 1), write(2, 2, 3), read(1, 4, 5, process=1)), 2),
    "read of a value never written": (numbered(write(1, 0, 1), read(7, 2, 3)), 1),
    "read of a value written only after the read": (numbered(read(1, 0, 1), write(1, 2, 3)), 0),
    "sequential reads go back in time": (
        numbered(
            write(1, 0, 1),
            write(2, 2, 3),
            read(2, 4, 5, process=1),
            read(1, 6, 7, process=2),
        ),
        3,
    ),
    "cas succeeded from a state that could not be current": (
        numbered(write(1, 0, 1), write(2, 2, 3), cas(1, 3, True, 4, 5)),
        2,
    ),
    "cas failed although the expected value was current": (
        numbered(write(1, 0, 1), cas(1, 2, False, 2, 3)),
        1,
    ),
    "lost acknowledged write": (
        numbered(
            write(1, 0, 1),
            read(1, 2, 3, process=1),
            write(2, 4, 5),
            read(1, 6, 7, process=1),
            read(1, 8, 9, process=2),
        ),
        3,
    ),
    "a failed write is read": (numbered(write(1, 0, 1, type="fail"), read(1, 2, 3)), 1),
    "an info write is read before its invocation": (
        numbered(read(5, 0, 1), write(5, 2, None, type="info")),
        0,
    ),
    "true is not 1": (numbered(write(True, 0, 1), read(1, 2, 3)), 1),
    # Porcupine's TestRegisterModel, second history: read 200 [10, 30] ends
    # before read 0 [40, 90] starts, both inside write 200 [0, 100].
    "porcupine register model 2": (
        numbered(
            write(200, 0, 100),
            read(200, 10, 30, process=1),
            read(None, 40, 90, process=2),
        ),
        2,
    ),
    # Porcupine's TestZeroDuration, second history.
    "porcupine zero duration 2": (
        numbered(
            write(200, 0, 100),
            read(200, 10, 10, process=1),
            read(200, 10, 10, process=2),
            read(None, 40, 90, process=3),
        ),
        3,
    ),
}


@pytest.mark.parametrize("history", LINEARIZABLE.values(), ids=LINEARIZABLE.keys())
def test_linearizable_histories(history):
    result = check_history(history)
    assert result["keys"]["k"]["linearizable"] is True
    assert result["ok"] is True


@pytest.mark.parametrize(("history", "bad"), NOT_LINEARIZABLE.values(), ids=NOT_LINEARIZABLE.keys())
def test_non_linearizable_histories(history, bad):
    result = check_history(history)
    key = result["keys"]["k"]
    assert result["ok"] is False
    assert key["linearizable"] is False
    assert key["first_bad"] == bad
    assert bad in key["window"]["ops"]
    assert key["first_bad_op"] == next(e for e in history if e["id"] == bad)


def test_counts_drop_fails_and_info_reads():
    a = [dict(e, key="a") for e in LINEARIZABLE["fail ops are ignored"]]
    b = [dict(e, key="b", id=e["id"] + 100) for e in LINEARIZABLE["info cas that took effect"]]
    history = a + b
    keys = check_history(history)["keys"]
    assert keys["a"] == {"linearizable": True, "operations": 2, "info": 0}
    assert keys["b"] == {"linearizable": True, "operations": 3, "info": 1}


def test_keys_are_independent_registers():
    history = [
        write(1, 0, 1, key="a"),
        read(None, 2, 3, key="b"),  # b was never written: a's write is not b's
        read(1, 2, 3, key="a"),
        read(None, 4, 5, key="b", process=1),
        read(None, 6, 7, key="c"),
        read(None, 6.5, 8, key="c", process=2),
    ]
    result = check_history(history)
    assert result["ok"] is True
    assert set(result["keys"]) == {"a", "b", "c"}
    assert all(r["linearizable"] is True for r in result["keys"].values())
    assert result["keys"]["c"]["operations"] == 2

    history.append(read(1, 9, 10, key="b"))
    result = check_history(history)
    assert result["ok"] is False
    assert result["keys"]["a"]["linearizable"] is True
    assert result["keys"]["b"]["linearizable"] is False
    assert result["keys"]["c"]["linearizable"] is True


def test_linearized_prefix_and_window_of_a_stale_read():
    history = numbered(
        write(1, 0, 1),
        write(2, 2, 3),
        read(2, 3.5, 6, process=2),
        read(1, 4, 5, process=1),
    )
    key = verdict(history)
    assert key["first_bad"] == 3
    assert key["window"] == {"start": 3.5, "end": 5.0, "ops": [2, 3]}
    assert key["window_minimal"] is True
    assert key["linearized_prefix"] == [0, 1]


# --- the window of a planted violation in a long history


@pytest.mark.parametrize("where", ["end", "middle"])
def test_window_of_a_planted_stale_read(where):
    rng = seeded(7)
    values = itertools.count(1)
    before, t, state = simulate(rng, 500, key="k1", processes=6, values=values)
    assert state not in (1_000_001, 1_000_002)
    planted = [
        write(1_000_001, t + 0.1, t + 0.2, key="k1"),
        write(1_000_002, t + 0.3, t + 0.4, key="k1", process=1),
        read(1_000_002, t + 0.45, t + 0.65, key="k1", process=2),
        read(1_000_001, t + 0.5, t + 0.6, key="k1", process=3),  # stale
    ]
    stale = planted[-1]["id"]
    after = []
    if where == "middle":
        after, _, _ = simulate(
            rng, 250, key="k1", processes=6, start=t + 1, initial=1_000_002, values=values
        )
    other, _, _ = simulate(rng, 300, key="k2", processes=6)
    history = before + planted + after + other

    result = check_history(history)
    assert result["ok"] is False
    assert result["keys"]["k2"]["linearizable"] is True
    k1 = result["keys"]["k1"]
    assert k1["linearizable"] is False
    assert k1["operations"] == len(before) + len(planted) + len(after)
    assert k1["first_bad"] == stale
    assert k1["window"]["ops"] == [planted[2]["id"], stale]
    assert k1["window"]["end"] == pytest.approx(t + 0.6)
    assert k1["window_minimal"] is True
    # The partial linearization reaches both planted writes.
    assert planted[1]["id"] in k1["linearized_prefix"]


# --- random histories


def random_histories(seed, count):
    rng = seeded(seed)
    for n in range(count):
        overlap = n % 2 == 0
        history, _, _ = simulate(
            rng,
            rng.randint(4, 40),
            processes=rng.randint(1, 5),
            overlap=overlap,
            info_rate=0.1 if n % 3 == 0 else 0.0,
            fail_rate=0.05 if n % 4 == 0 else 0.0,
        )
        yield rng, history


def test_random_register_histories_are_linearizable_until_a_read_is_mutated():
    mutated = 0
    for rng, history in random_histories(seed=20240611, count=300):
        result = check_history(history)
        assert result["keys"]["k"]["linearizable"] is True, history

        reads = [e for e in history if e["f"] == "read" and e["type"] == "ok"]
        if not reads:
            continue
        victim = rng.choice(reads)
        wrong = rng.choice(impossible_reads(history, victim))
        assert wrong != victim["result"]
        bad = [dict(e, result=wrong) if e is victim else e for e in history]
        key = check_history(bad)["keys"]["k"]
        assert key["linearizable"] is False, (victim, wrong, bad)
        assert key["first_bad"] == victim["id"]
        assert victim["id"] in key["window"]["ops"]
        mutated += 1
    assert mutated > 200


def exhaustive(history):
    """Linearizable or not, straight from the definition: every order, no memo, no pruning."""
    ops = [e for e in history if e["type"] == "ok" or (e["type"] == "info" and e["f"] != "read")]

    def step(e, state):
        if e["f"] == "read":
            return state if e["result"] == state else StopIteration
        if e["f"] == "write":
            return e["value"]
        expected, new = e["value"]
        if e["type"] == "info":
            return new if state == expected else state
        if e["result"]:
            return new if state == expected else StopIteration
        return state if state != expected else StopIteration

    def search(rest, state):
        if all(e["type"] == "info" for e in rest):
            return True
        for e in rest:
            others = [o for o in rest if o is not e]
            blocked = any(o["type"] == "ok" and o["complete"] < e["invoke"] for o in others)
            new = StopIteration if blocked else step(e, state)
            if new is not StopIteration and search(others, new):
                return True
        return False

    return search(ops, None)


def test_agrees_with_an_exhaustive_search_on_small_random_histories():
    rng = seeded(99)
    seen = {True: 0, False: 0}
    for _ in range(1500):
        history = []
        for i in range(rng.randint(1, 6)):
            f = rng.choice(("read", "write", "cas"))
            kind = rng.choice(("ok", "ok", "ok", "info", "fail"))
            invoke = rng.randint(0, 15)
            value = {"read": None, "write": rng.randint(1, 3)}.get(
                f, [rng.choice((None, 1, 2, 3)), rng.randint(1, 3)]
            )
            result = (
                None
                if kind != "ok" or f == "write"
                else rng.choice((None, 1, 2, 3))
                if f == "read"
                else rng.random() < 0.5
            )
            entry = op(f, value, result, invoke, invoke + rng.randint(0, 8), type=kind, id=i)
            history.append(entry)
        want = exhaustive(history)
        got = check_history(history)["keys"]["k"]["linearizable"]
        assert got is want, history
        seen[want] += 1
    assert min(seen.values()) > 300


def test_indeterminate_writes_never_seen_do_not_multiply_the_search():
    # Each round: write v, an info write nobody ever reads, a read of v. Plain
    # Lowe memoization explores every subset of the info writes before it can
    # report the stale read at the end; the bound on states makes that fail.
    history = []
    t = 0.0
    for v in range(1, 41):
        history.append(write(v, t, t + 1))
        history.append(write(1000 + v, t + 0.5, None, type="info", process=100 + v))
        history.append(read(v, t + 2, t + 3, process=1))
        t += 4
    history.append(read(1, t, t + 1, process=1, id=-1))
    key = verdict(history, max_states=20_000)
    assert key["linearizable"] is False
    assert key["info"] == 40
    assert key["first_bad"] == -1
    assert key["window_minimal"] is True


# --- giving up


def pathological(key="p", writers=24):
    """Many concurrent writes of distinct values and reads, then a read nobody explains."""
    history = [write(v, 0, 10, key=key, process=v) for v in range(1, writers + 1)]
    history += [read(v, 1 + v / 10, 9, key=key, process=100 + v) for v in range(1, writers, 3)]
    history.append(read(-1, 20, 21, key=key))
    return history


def test_timeout_gives_up_quickly():
    good, _, _ = simulate(seeded(3), 50, key="g")
    result = check_history(pathological() + good, timeout_s=0.05)
    assert result["keys"]["p"]["linearizable"] is None
    assert result["keys"]["p"]["gave_up"] == "timeout"
    assert result["ok"] is False
    # The budget is for the whole call: the key after the pathological one is
    # not decided either.
    assert result["keys"]["g"] == {
        "linearizable": None,
        "operations": 50,
        "info": 0,
        "gave_up": "timeout",
    }
    # Bounded by the deadline: far less than the exhaustive search would take.
    assert result["elapsed_s"] < 2.0


def test_state_limit_gives_up():
    key = verdict(pathological(), key="p", max_states=2_000)
    assert key["linearizable"] is None
    assert key["gave_up"] == "state limit"


# --- size


def test_five_keys_of_400_ops_with_8_processes():
    rng = seeded(11)
    history = []
    for k in range(5):
        ops, _, _ = simulate(
            rng,
            400,
            key=f"k{k}",
            processes=8,
            max_duration=0.08,
            max_gap=0.01,
            info_rate=0.02,
            fail_rate=0.02,
        )
        history += ops
    result = check_history(history)
    assert result["ok"] is True
    assert sorted(result["keys"]) == [f"k{k}" for k in range(5)]
    for key in result["keys"].values():
        assert key["linearizable"] is True
        assert 380 <= key["operations"] <= 400


def test_thousands_of_ops_need_no_recursion():
    history, _, _ = simulate(seeded(5), 3000, processes=3)
    assert verdict(history)["linearizable"] is True


# --- report lines and JSON


def test_format_key_result():
    history = [
        write(1, 4.0, 4.05, id=12, process=1),
        write(3, 4.06, 4.1, id=13, process=1),
        write(2, 4.1, 4.3, id=15, process=3),
        read(1, 4.21, 4.26, id=17, process=2),
    ]
    key = verdict(history)
    assert key["window_minimal"] is True
    assert format_key_result("k2", key) == (
        "key k2: NOT linearizable: op 17 (read -> 1 by process 2 at 4.210-4.260 s) cannot be"
        " placed; window 4.100-4.260 s, ops 15, 17"
    )
    good = {"linearizable": True, "operations": 412, "info": 3}
    assert format_key_result("k1", good) == "key k1: linearizable (412 operations, 3 indeterminate)"
    gave_up = {"linearizable": None, "operations": 9, "info": 0, "gave_up": "timeout"}
    assert format_key_result("k3", gave_up) == (
        "key k3: unknown, the check gave up at the timeout (9 operations, 0 indeterminate)"
    )


def test_format_key_result_of_a_cas_and_a_window_not_minimal():
    result = {
        "linearizable": False,
        "operations": 30,
        "info": 2,
        "first_bad": 8,
        "first_bad_op": cas("a", "b", True, 1.5, 1.75, id=8, process="w3"),
        "window": {"start": 1.25, "end": 1.75, "ops": [6, 8]},
        "window_minimal": False,
        "linearized_prefix": [1, 2, 6],
    }
    assert format_key_result("x", result) == (
        "key x: NOT linearizable: op 8 (cas 'a' -> 'b', swapped by process w3 at 1.500-1.750 s)"
        " cannot be placed; window 1.250-1.750 s, ops 6, 8 (the search for a smaller window"
        " gave up)"
    )
    result["first_bad_op"] = cas(None, 1, False, 1.5, 1.75, id=8, process=0)
    assert "(cas None -> 1, not swapped by process 0 at" in format_key_result("x", result)


def test_result_is_json_serializable():
    history = NOT_LINEARIZABLE["stale read"][0] + [read(None, 0, 1, key="other")]
    result = check_history(history)
    assert json.loads(json.dumps(result))["keys"]["k"]["first_bad"] == 2


# --- malformed histories


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "1"}, "id must be an int"),
        ({"key": None}, "key must be a str"),
        ({"f": "append"}, "f must be one of"),
        ({"type": "maybe"}, "type must be one of"),
        ({"invoke": None}, "invoke must be a finite number"),
        ({"complete": None}, "complete must be a finite number"),
        ({"complete": float("nan")}, "complete must be a finite number"),
        ({"complete": 0.5}, "before its invocation"),
        ({"f": "cas", "value": 3}, "must be [expected, new]"),
        ({"f": "cas", "value": [1, 2], "result": None}, "result True or False"),
        ({"result": {1, 2}}, "not comparable data"),
    ],
)
def test_malformed_entries_are_refused(change, message):
    entry = dict(read(None, 1, 2, id=1), **change)
    with pytest.raises(HistoryError, match=message.replace("[", r"\[")):
        check_history([entry])


def test_duplicate_ids_are_refused():
    with pytest.raises(HistoryError, match="id used twice"):
        check_history([read(None, 0, 1, id=3), write(1, 2, 3, id=3, type="fail")])
