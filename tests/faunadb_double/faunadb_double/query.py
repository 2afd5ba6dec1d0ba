"""Evaluator for the FQL v4 subset the `faunadb` Python driver 4.5 needs.

Supported forms: collection, collections, ref, documents, create_collection,
create, get, update, replace, delete, exists, paginate (size/after/before),
count, select, new_id, do, let/var, map/lambda, and the wire literals
(``object``, ``@ref``, ``@obj`` ...). Anything else is an "invalid expression".

The evaluator knows nothing about the network: it talks to a ``Backend``
(read a key, scan a prefix, write a key, make an id). Each write form commits
on its own, so a query with several writes is not atomic (a simplification).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

DEFAULT_PAGE_SIZE = 64
MAX_PAGE_SIZE = 100_000


class QueryError(Exception):
    def __init__(self, status: int, code: str, description: str, position=None):
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.position = list(position or [])

    def body(self) -> dict:
        return {
            "errors": [
                {"position": self.position, "code": self.code, "description": self.description}
            ]
        }


def unavailable(description: str = "Unable to reach a majority of log replicas.") -> QueryError:
    return QueryError(503, "unavailable", description)


@dataclass(frozen=True)
class CollRef:
    name: str


@dataclass(frozen=True)
class DocRef:
    coll: str
    id: str


@dataclass(frozen=True)
class NativeRef:
    name: str  # "collections"


@dataclass(frozen=True)
class DocsSet:
    coll: str


@dataclass(frozen=True)
class CollectionsSet:
    pass


@dataclass(frozen=True)
class Lambda:
    params: tuple
    expr: object


class Backend(Protocol):
    def read(self, key: str) -> tuple | None: ...  # (lts, entry id, value or None)
    def scan(self, prefix: str) -> dict: ...  # key -> (lts, entry id, value or None)
    def write(self, key: str, value: dict | None) -> int: ...  # returns the commit lts
    def new_id(self) -> str: ...


def coll_key(name: str) -> str:
    return f"c/{name}"


def doc_key(coll: str, doc_id: str) -> str:
    return f"d/{coll}/{doc_id}"


# -- wire encoding --------------------------------------------------------

_COLLECTIONS = {"@ref": {"id": "collections"}}


def encode(value):
    """Internal value -> wire JSON (what the driver parses)."""
    if isinstance(value, DocRef):
        return {"@ref": {"id": value.id, "collection": encode(CollRef(value.coll))}}
    if isinstance(value, CollRef):
        return {"@ref": {"id": value.name, "collection": _COLLECTIONS}}
    if isinstance(value, NativeRef):
        return {"@ref": {"id": value.name}}
    if isinstance(value, DocsSet):
        return {"@set": {"documents": encode(CollRef(value.coll))}}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        out = {k: encode(v) for k, v in value.items()}
        return {"@obj": out} if any(k.startswith("@") for k in value) else out
    return value


def decode(wire):
    """Wire JSON (as stored) -> internal value."""
    if isinstance(wire, list):
        return [decode(v) for v in wire]
    if isinstance(wire, dict):
        if "@ref" in wire:
            return _parse_ref(wire["@ref"])
        if "@obj" in wire:
            return {k: decode(v) for k, v in wire["@obj"].items()}
        return {k: decode(v) for k, v in wire.items()}
    return wire


def _parse_ref(ref: dict):
    coll = ref.get("collection")
    if coll is None:
        return NativeRef(ref["id"])
    parent = _parse_ref(coll["@ref"]) if isinstance(coll, dict) and "@ref" in coll else coll
    if isinstance(parent, NativeRef):
        return CollRef(ref["id"])
    if isinstance(parent, CollRef):
        return DocRef(parent.name, str(ref["id"]))
    raise QueryError(400, "invalid argument", "Ref expected.")


def _sort_key(ref: DocRef) -> tuple:
    # Ids are numeric strings; compare them as numbers when they are.
    return (len(ref.id), ref.id) if ref.id.isdigit() else (1 << 30, ref.id)


# -- evaluator -------------------------------------------------------------


class Evaluator:
    def __init__(self, backend: Backend):
        self.backend = backend
        self.created = False  # 201 instead of 200 when a document was created

    def run(self, expr):
        return encode(self.eval(expr, (), {}))

    # dispatch ------------------------------------------------------------
    def eval(self, expr, pos: tuple, env: dict):
        if isinstance(expr, list):
            return [self.eval(v, (*pos, i), env) for i, v in enumerate(expr)]
        if not isinstance(expr, dict):
            return expr
        if "@ref" in expr:
            return _parse_ref(expr["@ref"])
        if "@obj" in expr:
            return decode(expr["@obj"])
        if any(k.startswith("@") for k in expr):
            return expr  # other typed literals (@ts, @date, ...) pass through
        keys = set(expr)
        if keys == {"object"}:
            obj = expr["object"]
            if not isinstance(obj, dict):
                raise self._invalid(expr, pos)
            return {k: self.eval(v, (*pos, "object", k), env) for k, v in obj.items()}
        for name, allowed in _FORMS.items():
            if name in keys and keys <= allowed:
                return getattr(self, "_f_" + name)(expr, pos, env)
        raise self._invalid(expr, pos)

    @staticmethod
    def _invalid(expr, pos):
        keys = ", ".join(sorted(expr)) if isinstance(expr, dict) else ""
        return QueryError(
            400, "invalid expression",
            f"No form/function found, or invalid argument keys: {{ {keys} }}.", pos,
        )

    def _arg(self, expr, key, pos, env):
        return self.eval(expr[key], (*pos, key), env)

    # refs and sets -------------------------------------------------------
    def _f_collection(self, expr, pos, env):
        name = self._arg(expr, "collection", pos, env)
        if not isinstance(name, str):
            raise QueryError(400, "invalid argument", "String expected.", (*pos, "collection"))
        return CollRef(name)

    def _f_collections(self, expr, pos, env):
        return CollectionsSet()

    def _f_ref(self, expr, pos, env):
        coll = self._arg(expr, "ref", pos, env)
        doc_id = self._arg(expr, "id", pos, env) if "id" in expr else None
        if not isinstance(coll, CollRef) or doc_id is None:
            raise QueryError(400, "invalid argument", "Collection Ref expected.", (*pos, "ref"))
        return DocRef(coll.name, str(doc_id))

    def _f_documents(self, expr, pos, env):
        coll = self._arg(expr, "documents", pos, env)
        if not isinstance(coll, CollRef):
            raise QueryError(400, "invalid argument", "Collection Ref expected.",
                             (*pos, "documents"))
        self._require_collection(coll.name, (*pos, "documents"))
        return DocsSet(coll.name)

    # reads -----------------------------------------------------------------
    def _collection_doc(self, name):
        hit = self.backend.read(coll_key(name))
        if not hit or hit[2] is None:
            return None
        return {"ref": CollRef(name), "ts": hit[0], **decode(hit[2])}

    def _require_collection(self, name, pos):
        if self._collection_doc(name) is None:
            raise QueryError(
                400, "invalid ref", f"Ref refers to undefined collection '{name}'.", pos
            )

    def _document(self, ref: DocRef):
        hit = self.backend.read(doc_key(ref.coll, ref.id))
        if not hit or hit[2] is None:
            return None
        return {"ref": ref, "ts": hit[0], **decode(hit[2])}

    def _lookup(self, ref, pos):
        if isinstance(ref, CollRef):
            doc = self._collection_doc(ref.name)
            if doc is None:
                raise QueryError(
                    400, "invalid ref", f"Ref refers to undefined collection '{ref.name}'.", pos
                )
            return doc
        if isinstance(ref, DocRef):
            self._require_collection(ref.coll, pos)
            doc = self._document(ref)
            if doc is None:
                raise QueryError(404, "instance not found", "Document not found.", pos)
            return doc
        raise QueryError(400, "invalid argument", "Ref expected.", pos)

    def _f_get(self, expr, pos, env):
        return self._lookup(self._arg(expr, "get", pos, env), (*pos, "get"))

    def _f_exists(self, expr, pos, env):
        ref = self._arg(expr, "exists", pos, env)
        if isinstance(ref, CollRef):
            return self._collection_doc(ref.name) is not None
        if isinstance(ref, DocRef):
            return self._collection_doc(ref.coll) is not None and self._document(ref) is not None
        raise QueryError(400, "invalid argument", "Ref expected.", (*pos, "exists"))

    def _members(self, s, pos) -> list:
        if isinstance(s, DocsSet):
            rows = self.backend.scan(f"d/{s.coll}/")
            refs = [DocRef(s.coll, k.split("/", 2)[2]) for k, v in rows.items() if v[2] is not None]
            return sorted(refs, key=_sort_key)
        if isinstance(s, CollectionsSet):
            rows = self.backend.scan("c/")
            return sorted(CollRef(k[2:]) for k, v in rows.items() if v[2] is not None)
        raise QueryError(400, "invalid argument", "Set expected.", pos)

    def _f_count(self, expr, pos, env):
        return len(self._members(self._arg(expr, "count", pos, env), (*pos, "count")))

    def _f_paginate(self, expr, pos, env):
        members = self._members(self._arg(expr, "paginate", pos, env), (*pos, "paginate"))
        size = self._arg(expr, "size", pos, env) if "size" in expr else DEFAULT_PAGE_SIZE
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PAGE_SIZE:
            raise QueryError(400, "invalid argument", "Page size must be positive.", (*pos, "size"))
        key = _sort_key if members and isinstance(members[0], DocRef) else (lambda r: r.name)
        keys = [key(m) for m in members]
        if "before" in expr:
            cur = self._cursor(self._arg(expr, "before", pos, env), key, pos)
            end = sum(1 for k in keys if k < cur) if cur is not None else len(members)
            start = max(0, end - size)
        else:
            cur = None
            if "after" in expr:
                cur = self._cursor(self._arg(expr, "after", pos, env), key, pos)
            start = sum(1 for k in keys if k < cur) if cur is not None else 0
            end = start + size
        page = {"data": members[start:end]}
        if start > 0:
            page["before"] = [members[start]] if start < len(members) else [members[-1]]
        if end < len(members):
            page["after"] = [members[end]]
        return page

    @staticmethod
    def _cursor(value, key, pos):
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None:
            return None
        if isinstance(value, DocRef | CollRef):
            return key(value)
        raise QueryError(400, "invalid argument", "Cursor must be an array of refs.", pos)

    def _f_select(self, expr, pos, env):
        path = self._arg(expr, "select", pos, env)
        value = self._arg(expr, "from", pos, env)
        for step in path if isinstance(path, list) else [path]:
            if isinstance(value, dict) and step in value:
                value = value[step]
            elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
                value = value[step]
            elif "default" in expr:
                return self._arg(expr, "default", pos, env)
            else:
                raise QueryError(404, "value not found", f"Value not found at path {path}.", pos)
        return value

    # writes ----------------------------------------------------------------
    def _params(self, expr, pos, env) -> dict:
        params = self._arg(expr, "params", pos, env) if "params" in expr else {}
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise QueryError(400, "invalid argument", "Object expected.", (*pos, "params"))
        data = params.get("data", {})
        if data is not None and not isinstance(data, dict):
            raise QueryError(400, "invalid argument", "Object expected.", (*pos, "params", "data"))
        return params

    def _f_create_collection(self, expr, pos, env):
        params = self._arg(expr, "create_collection", pos, env)
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str) or not name:
            raise QueryError(400, "validation failed", "Collection name is required.", pos)
        if self._collection_doc(name) is not None:
            raise QueryError(400, "instance already exists", "Collection already exists.", pos)
        value = {"name": name, "history_days": params.get("history_days", 30)}
        if "data" in params:
            value["data"] = params["data"]
        lts = self.backend.write(coll_key(name), encode(value))
        self.created = True
        return {"ref": CollRef(name), "ts": lts, **value}

    def _f_create(self, expr, pos, env):
        target = self._arg(expr, "create", pos, env)
        params = self._params(expr, pos, env)
        if isinstance(target, CollRef):
            target = DocRef(target.name, self.backend.new_id())
        elif not isinstance(target, DocRef):
            raise QueryError(400, "invalid argument", "Ref or Collection Ref expected.", pos)
        self._require_collection(target.coll, (*pos, "create"))
        if self._document(target) is not None:
            raise QueryError(400, "instance already exists", "Document already exists.", pos)
        value = {"data": params.get("data") or {}}
        lts = self.backend.write(doc_key(target.coll, target.id), encode(value))
        self.created = True
        return {"ref": target, "ts": lts, **value}

    def _f_update(self, expr, pos, env):
        return self._modify(expr, pos, env, "update")

    def _f_replace(self, expr, pos, env):
        return self._modify(expr, pos, env, "replace")

    def _modify(self, expr, pos, env, form):
        ref = self._arg(expr, form, pos, env)
        if not isinstance(ref, DocRef):
            raise QueryError(400, "invalid argument", "Ref expected.", (*pos, form))
        current = self._lookup(ref, (*pos, form))
        params = self._params(expr, pos, env)
        if form == "update":
            data = _merge(current.get("data", {}), params.get("data") or {})
        else:
            data = _merge({}, params.get("data") or {})
        value = {"data": data}
        lts = self.backend.write(doc_key(ref.coll, ref.id), encode(value))
        return {"ref": ref, "ts": lts, **value}

    def _f_delete(self, expr, pos, env):
        ref = self._arg(expr, "delete", pos, env)
        current = self._lookup(ref, (*pos, "delete"))
        key = coll_key(ref.name) if isinstance(ref, CollRef) else doc_key(ref.coll, ref.id)
        self.backend.write(key, None)
        return current

    def _f_new_id(self, expr, pos, env):
        return self.backend.new_id()

    # plumbing forms --------------------------------------------------------
    def _f_if(self, expr, pos, env):
        cond = self._arg(expr, "if", pos, env)
        if not isinstance(cond, bool):
            raise QueryError(400, "invalid argument", "Boolean expected.", (*pos, "if"))
        branch = "then" if cond else "else"
        return self.eval(expr.get(branch), (*pos, branch), env)

    def _f_equals(self, expr, pos, env):
        values = self._arg(expr, "equals", pos, env)
        values = values if isinstance(values, list) else [values]
        return all(v == values[0] for v in values[1:])

    def _f_do(self, expr, pos, env):
        result = None
        for i, step in enumerate(expr["do"] if isinstance(expr["do"], list) else [expr["do"]]):
            result = self.eval(step, (*pos, "do", i), env)
        return result

    def _f_let(self, expr, pos, env):
        bindings = expr["let"]
        pairs = []
        for item in bindings if isinstance(bindings, list) else [bindings]:
            pairs.extend(item.items())
        scope = dict(env)
        for name, value in pairs:
            scope[name] = self.eval(value, (*pos, "let", name), scope)
        return self.eval(expr["in"], (*pos, "in"), scope)

    def _f_var(self, expr, pos, env):
        name = expr["var"]
        if name not in env:
            raise QueryError(400, "invalid expression", f"Variable '{name}' is not defined.", pos)
        return env[name]

    def _f_lambda(self, expr, pos, env):
        params = expr["lambda"]
        return Lambda(tuple(params) if isinstance(params, list) else (params,), expr["expr"])

    def _f_map(self, expr, pos, env):
        fn = self._arg(expr, "map", pos, env)
        coll = self._arg(expr, "collection", pos, env)
        if not isinstance(fn, Lambda):
            raise QueryError(400, "invalid argument", "Lambda expected.", (*pos, "map"))

        def apply(item):
            scope = dict(env)
            if len(fn.params) == 1:
                scope[fn.params[0]] = item
            else:
                scope.update(zip(fn.params, item, strict=False))
            return self.eval(fn.expr, (*pos, "map", "expr"), scope)

        if isinstance(coll, dict) and "data" in coll:
            return {**coll, "data": [apply(i) for i in coll["data"]]}
        if isinstance(coll, list):
            return [apply(i) for i in coll]
        raise QueryError(400, "invalid argument", "Array or Page expected.", (*pos, "collection"))


def _merge(base: dict, patch: dict) -> dict:
    """FQL Update semantics: objects merge recursively, null removes a field."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


WRITE_FORMS = frozenset({"create_collection", "create", "update", "replace", "delete"})

_FORMS = {
    "create_collection": {"create_collection"},
    "collection": {"collection", "scope"},
    "collections": {"collections", "scope"},
    "ref": {"ref", "id"},
    "documents": {"documents"},
    "create": {"create", "params"},
    "get": {"get", "ts"},
    "exists": {"exists", "ts"},
    "update": {"update", "params"},
    "replace": {"replace", "params"},
    "delete": {"delete"},
    "paginate": {"paginate", "size", "after", "before", "ts", "events", "sources"},
    "count": {"count"},
    "select": {"select", "from", "default"},
    "new_id": {"new_id"},
    "do": {"do"},
    "if": {"if", "then", "else"},
    "equals": {"equals"},
    "let": {"let", "in"},
    "var": {"var"},
    "lambda": {"lambda", "expr"},
    "map": {"map", "collection"},
}
