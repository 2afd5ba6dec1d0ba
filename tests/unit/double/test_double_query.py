"""The FQL v4 subset, evaluated against an in-memory backend (no network).

Request bodies are the ones the `faunadb` 4.5.2 driver sends (see
docs/faunadb-surface.md); the driver itself is used to build some of them.
"""

import itertools
import json
import warnings

import pytest
from faunadb_double.query import DocRef, Evaluator, QueryError, decode, encode, unavailable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from faunadb import query as q
    from faunadb._json import parse_json, to_json


class MemoryBackend:
    def __init__(self):
        self.rows = {}
        self.clock = itertools.count(1)
        self.ids = itertools.count(100)
        self.down = False

    def read(self, key):
        return self.rows.get(key)

    def scan(self, prefix):
        return {k: v for k, v in self.rows.items() if k.startswith(prefix)}

    def write(self, key, value):
        if self.down:
            raise unavailable()
        lts = next(self.clock)
        self.rows[key] = (lts, f"e{lts}", value)
        return lts

    def new_id(self):
        return str(next(self.ids))


@pytest.fixture
def db():
    backend = MemoryBackend()

    def run(expr):
        body = expr if isinstance(expr, dict) else json.loads(to_json(expr))
        ev = Evaluator(backend)
        result = ev.run(body)
        # Round-trip through the driver's parser, like a real response.
        return parse_json(json.dumps(result)), ev.created

    run.backend = backend
    return run


CANARY = q.collection("canary")


def test_captured_bodies(db):
    res, created = db({"create_collection": {"object": {"name": "canary"}}})
    assert created and res["name"] == "canary"
    res, created = db({"create": {"collection": "canary"},
                       "params": {"object": {"data": {"object": {"k": 1}}}}})
    assert created and res["data"] == {"k": 1}
    doc_id = res["ref"].id()
    res, created = db({"get": {"ref": {"collection": "canary"}, "id": doc_id}})
    assert not created and res["data"] == {"k": 1}
    res, _ = db({"paginate": {"documents": {"collection": "canary"}}, "size": 100})
    assert [r.id() for r in res["data"]] == [doc_id]
    res, _ = db({"count": {"documents": {"collection": "canary"}}})
    assert res == 1


def test_document_wire_shape():
    ev = Evaluator(MemoryBackend())
    ev.run({"create_collection": {"object": {"name": "canary"}}})
    out = ev.run({"create": {"ref": {"collection": "canary"}, "id": "123"},
                  "params": {"object": {"data": {"object": {"k": 1}}}}})
    assert out["ref"] == {"@ref": {"id": "123", "collection": {"@ref": {
        "id": "canary", "collection": {"@ref": {"id": "collections"}}}}}}
    assert isinstance(out["ts"], int) and out["data"] == {"k": 1}


def test_crud_cycle(db):
    db(q.create_collection({"name": "canary"}))
    ref = q.ref(CANARY, "7")
    first, _ = db(q.create(ref, {"data": {"a": 1, "nested": {"x": 1, "y": 2}}}))
    upd, created = db(q.update(ref, {"data": {"b": 2, "nested": {"y": None}}}))
    assert not created
    assert upd["data"] == {"a": 1, "b": 2, "nested": {"x": 1}}
    assert upd["ts"] > first["ts"]
    rep, _ = db(q.replace(ref, {"data": {"c": 3}}))
    assert rep["data"] == {"c": 3}
    assert db(q.exists(ref))[0] is True
    deleted, _ = db(q.delete(ref))
    assert deleted["data"] == {"c": 3}
    assert db(q.exists(ref))[0] is False
    with pytest.raises(QueryError) as err:
        db(q.get(ref))
    assert err.value.status == 404


def test_errors_have_fauna_codes_and_status(db):
    db(q.create_collection({"name": "canary"}))
    cases = [
        (q.get(q.ref(CANARY, "404")), 404, "instance not found"),
        (q.get(q.ref(q.collection("nope"), "1")), 400, "invalid ref"),
        (q.create(q.collection("nope"), {"data": {}}), 400, "invalid ref"),
        (q.create_collection({"name": "canary"}), 400, "instance already exists"),
        (q.update(q.ref(CANARY, "404"), {"data": {}}), 404, "instance not found"),
        (q.delete(q.ref(CANARY, "404")), 404, "instance not found"),
        (q.abs(-1), 400, "invalid expression"),
    ]
    for expr, status, code in cases:
        with pytest.raises(QueryError) as err:
            db(expr)
        assert (err.value.status, err.value.code) == (status, code), expr
        body = err.value.body()
        assert set(body["errors"][0]) == {"position", "code", "description"}


def test_duplicate_id_rejected(db):
    db(q.create_collection({"name": "canary"}))
    db(q.create(q.ref(CANARY, "1"), {"data": {}}))
    with pytest.raises(QueryError) as err:
        db(q.create(q.ref(CANARY, "1"), {"data": {}}))
    assert err.value.code == "instance already exists"


def test_unavailable_write_is_503(db):
    db(q.create_collection({"name": "canary"}))
    db.backend.down = True
    with pytest.raises(QueryError) as err:
        db(q.create(CANARY, {"data": {}}))
    assert err.value.status == 503 and err.value.code == "unavailable"


def test_paginate_cursors_walk_everything_once(db):
    db(q.create_collection({"name": "canary"}))
    for i in range(7):
        db(q.create(q.ref(CANARY, str(10 + i)), {"data": {"i": i}}))
    db(q.delete(q.ref(CANARY, "13")))
    seen, page = [], db(q.paginate(q.documents(CANARY), size=3))[0]
    for _ in range(10):
        seen += [r.id() for r in page["data"]]
        if "after" not in page:
            break
        page = db(q.paginate(q.documents(CANARY), size=3, after=page["after"]))[0]
    assert seen == ["10", "11", "12", "14", "15", "16"]
    back = db(q.paginate(q.documents(CANARY), size=2, before=[q.ref(CANARY, "15")]))[0]
    assert [r.id() for r in back["data"]] == ["12", "14"]
    assert db(q.count(q.documents(CANARY)))[0] == 6


def test_map_let_do_new_id(db):
    db(q.create_collection({"name": "canary"}))
    db(q.create(q.ref(CANARY, "1"), {"data": {"v": "a"}}))
    page, _ = db(q.map_(q.lambda_("x", q.select(["data", "v"], q.get(q.var("x")))),
                        q.paginate(q.documents(CANARY))))
    assert page["data"] == ["a"]
    assert db(q.let({"n": 5}, q.var("n")))[0] == 5
    assert db(q.do(q.new_id(), 3))[0] == 3
    assert db(q.new_id())[0].isdigit()


def test_objects_with_at_keys_round_trip(db):
    db(q.create_collection({"name": "canary"}))
    res, _ = db(q.create(q.ref(CANARY, "1"), {"data": {"@weird": 1, "ref": q.ref(CANARY, "9")}}))
    assert res["data"]["@weird"] == 1
    assert res["data"]["ref"].id() == "9"


def test_encode_decode_inverse():
    value = {"r": DocRef("c", "1"), "list": [1, {"@x": 2}]}
    assert decode(encode(value)) == value


def test_the_register_workload_queries_read_write_and_compare_and_set(db):
    # The expressions module_utils/faunadb_workload_client.py's FaunaSession sends for registers.
    db(q.create_collection({"name": "canary_registers"}))
    ref = q.ref(q.collection("canary_registers"), "9")
    value = q.if_(q.exists(ref), q.select(["data", "v"], q.get(ref)), None)

    def write(v):
        return q.if_(q.exists(ref), q.update(ref, {"data": {"v": v}}),
                     q.create(ref, {"data": {"v": v}}))

    def cas(expected, new):
        return q.if_(q.equals(value, expected), q.do(write(new), True), False)

    assert db(value)[0] is None
    assert db(cas(None, 1))[0] is True and db(value)[0] == 1
    assert db(cas(None, 2))[0] is False and db(value)[0] == 1  # no write when it differs
    db(write(5))
    assert db(value)[0] == 5 and db(cas(5, 6))[0] is True and db(value)[0] == 6


def test_if_wants_a_boolean_and_evaluates_one_branch(db):
    db(q.create_collection({"name": "canary"}))
    ref = q.ref(CANARY, "1")
    assert db(q.if_(False, q.create(ref, {"data": {}}), "no"))[0] == "no"
    assert db(q.exists(ref))[0] is False  # the branch not taken wrote nothing
    with pytest.raises(QueryError) as err:
        db(q.if_(1, "a", "b"))
    assert err.value.status == 400 and err.value.code == "invalid argument"
    assert db(q.equals(1, 1, 1))[0] is True and db(q.equals([1], [1], [2]))[0] is False
    assert db(q.equals("only"))[0] is True
