# The database as the workload sees it, through the `faunadb` driver: the guarded
# import of the driver, the client options the API modules share, the
# classification of what a request raised (or a write ping answered), the
# driver's client with its timeouts, FaunaSession (documents and registers) and
# the factories Workload takes for its clients and its pings.
"""Chaos workload: the faunadb driver's client, and what its errors mean."""

from __future__ import annotations

import json
import traceback
import warnings

from ansible.module_utils.faunadb_workload_schedule import (
    ANSWER_GRACE_S,
    CONNECT_TIMEOUT_S,
    parse_url,
    register_collection,
)
from ansible.module_utils.faunadb_workload_stats import READ, WRITE

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the driver warns about FQL v4 on import
        import faunadb.client
        import requests
        from faunadb import query as q
        from faunadb.errors import BadRequest, FaunaError, HttpError, NotFound, UnavailableError
        from faunadb.query import _wrap
        from requests.adapters import HTTPAdapter
        from urllib3.exceptions import ConnectTimeoutError, InsecureRequestWarning, MaxRetryError
    HAS_FAUNADB = True
    FAUNADB_IMPORT_ERROR = None
except ImportError:
    HAS_FAUNADB = False
    FAUNADB_IMPORT_ERROR = traceback.format_exc()
    HTTPAdapter = object

PING_PATH = "/ping?scope=write"
DETAIL_CHARS = 200  # a failed ping's detail; the whole body is no evidence worth keeping


# -- module options ------------------------------------------------------------------


def client_argument_spec():
    """The options a module reaches the cluster's API with, beside its own url.

    Documented once, in the doc fragment's CLIENT part (plugins/doc_fragments/faunadb.py);
    faunadb_workload sends its load with them, faunadb_chaos_journal reads an interrupted
    run's writes back.
    """
    return dict(
        secret=dict(type="str", no_log=True),
        secret_file=dict(type="path", no_log=False),
        validate_certs=dict(type="bool", default=True),
        verify_timeout=dict(type="float", default=60),
    )


# -- classification ------------------------------------------------------------------


def _never_sent(exc):
    """Whether a requests ConnectionError happened before the request left (refused, no route)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, ConnectTimeoutError)  # NewConnectionError is one too


def _codes(exc):
    return [getattr(e, "code", None) for e in getattr(exc, "errors", None) or []]


def classify(kind, exc):
    """(outcome, detail) of a request that raised exc. See OUTCOMES."""
    if HAS_FAUNADB and isinstance(exc, requests.exceptions.RequestException):
        if isinstance(exc, requests.exceptions.ConnectionError) and _never_sent(exc):
            return "unavailable", f"not sent: {type(exc).__name__}"
        if isinstance(exc, requests.exceptions.Timeout):
            return "timeout", f"no answer in time: {type(exc).__name__}"
        if isinstance(exc, requests.exceptions.ConnectionError):
            return "timeout", f"connection lost after sending: {type(exc).__name__}"
        return "other", f"{type(exc).__name__}: {exc}"
    if HAS_FAUNADB and isinstance(exc, FaunaError):
        codes = _codes(exc)
        result = exc.request_result
        status = result.status_code if result is not None else None
        text = f"{status} {codes[0] if codes else exc}"
        if isinstance(exc, UnavailableError):
            return ("timeout" if "time out" in codes else "unavailable"), text
        if kind == WRITE and isinstance(exc, BadRequest) and "instance already exists" in codes:
            return "duplicate", text  # this run sent the id once: the create was replayed
        if kind == READ and isinstance(exc, NotFound) and "instance not found" in codes:
            return "stale", text  # acknowledged earlier, not found now
        if status in (502, 504):  # the load balancer lost the node or stopped waiting
            return "timeout", f"{status} from the load balancer"
        if status == 503 and not isinstance(exc, HttpError):  # a 503 without FaunaDB's body
            return "unavailable", f"{status} {exc}"
        return "other", text
    return "other", f"{type(exc).__name__}: {exc}"


def _error_text(body):
    """'code: description' of FaunaDB's first error in body, '' when it has none."""
    try:
        error = json.loads(body)["errors"][0]
        return f"{error['code']}: {error.get('description', '')}".rstrip(": ")
    except (TypeError, ValueError, KeyError, IndexError):
        return ""


def ping_outcome(status, body=None, exc=None):
    """(ok, detail) of one write ping: ok only on HTTP 200; detail None when ok."""
    if exc is not None:
        if HAS_FAUNADB and isinstance(exc, requests.exceptions.RequestException):
            detail = classify(READ, exc)[1]
        else:
            detail = type(exc).__name__
    elif status == 200:
        return True, None
    else:
        detail = f"{status} {_error_text(body)}".rstrip()
    return False, detail[:DETAIL_CHARS]


def register_outcome(f, exc):
    """The history type of a register operation that raised exc: fail (certainly not
    applied: never sent, or refused before it could be) or info (no definite answer)."""
    _, detail = classify(WRITE if f != "read" else READ, exc)
    if detail.startswith("not sent"):
        return "fail", detail
    if HAS_FAUNADB and isinstance(exc, FaunaError) and "contended transaction" in _codes(exc):
        return "fail", detail
    # Anything else may have been applied (a 503 after the log took it, a lost answer).
    return "info", detail


# -- the database, through the driver --------------------------------------------------


class _TimeoutAdapter(HTTPAdapter):
    """The driver's `timeout` never reaches requests (a Session has no default timeout),
    so a hung request would block forever: give every request one."""

    def __init__(self, timeout, **kwargs):
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


if HAS_FAUNADB:

    class _Client(faunadb.client.FaunaClient):
        def check_new_version(self):
            """The driver asks pypi.org for a newer release, with no timeout, every time a
            client is made (a hang when offline). It is no part of a query: skip it."""


def driver_client(url, secret, request_timeout, *, validate_certs=True, last_txn_time=None):
    """The driver's client as the workload (and the benchmarks) use it: one connection,
    X-Query-Timeout (the server's deadline) and a client-side timeout a little longer on
    every request, no version lookup."""
    scheme, host, port = parse_url(url)
    kwargs = {"last_txn_time": last_txn_time} if last_txn_time is not None else {}
    client = _Client(secret=secret, domain=host, port=port, scheme=scheme,
                     timeout=request_timeout, query_timeout_ms=max(1, int(request_timeout * 1000)),
                     pool_connections=1, pool_maxsize=1, **kwargs)
    timeout = (min(CONNECT_TIMEOUT_S, request_timeout), request_timeout + ANSWER_GRACE_S)
    adapter = _TimeoutAdapter(timeout, pool_connections=1, pool_maxsize=1)
    client.session.mount("http://", adapter)
    client.session.mount("https://", adapter)
    client.session.verify = validate_certs
    if not validate_certs:  # said once in the docs, not once per request on stderr
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    return client


class FaunaSession:
    """One client (its own connection) and the collection the workload writes to.

    Every query carries X-Query-Timeout (the server's deadline) and the
    connection a client-side timeout a little longer, so no call waits
    forever. The clients of one run share the last transaction time they saw
    (X-Last-Seen-Txn), as one application's would: a read then misses an
    acknowledged write only if the cluster lost or hid it, not by lag.
    """

    def __init__(self, url, secret, collection, request_timeout, *, validate_certs=True,
                 last_txn_time=None):
        self.client = driver_client(url, secret, request_timeout, validate_certs=validate_certs,
                                    last_txn_time=last_txn_time)
        self.collection = collection

    def _ref(self, ident):
        return q.ref(q.collection(self.collection), ident)

    def ensure_collection(self):
        """True when the collection was created, False when it existed."""
        try:
            self.client.query(q.create_collection({"name": self.collection}))
        except BadRequest as exc:
            if "instance already exists" in _codes(exc):
                return False
            raise
        return True

    def create(self, ident, data):
        self.client.query(q.create(self._ref(ident), {"data": data}))

    def get(self, ident):
        return self.client.query(q.get(self._ref(ident)))["data"]

    def exists_many(self, idents):
        """One query, one boolean per id (an array of expressions evaluates element-wise)."""
        return self.client.query([q.exists(self._ref(i)) for i in idents])

    # Registers: documents of their own collection, each query one transaction.
    def _register(self, key):
        return q.ref(q.collection(register_collection(self.collection)), key)

    def _register_value(self, ref):
        return q.if_(q.exists(ref), q.select(["data", "v"], q.get(ref)), None)

    def _register_write(self, ref, value):
        return q.if_(q.exists(ref), q.update(ref, {"data": {"v": value}}),
                     q.create(ref, {"data": {"v": value}}))

    def _linearized(self, expr):
        # FaunaDB serves a read-only query from a snapshot (serializable, may be stale);
        # POST /linearized runs it through the log (FQL1Routes.scala), strictly serializable
        # as a read-write transaction is. The v4 driver has no option for it.
        return self.client._execute("POST", "linearized", _wrap(expr), with_txn_time=True)  # noqa: SLF001

    def register_read(self, key):
        return self._linearized(self._register_value(self._register(key)))

    def register_write(self, key, value):
        self.client.query(self._register_write(self._register(key), value))

    def register_cas(self, key, expected, new):
        """Whether the register held expected and now holds new, in one transaction."""
        ref = self._register(key)
        return self.client.query(q.if_(q.equals(self._register_value(ref), expected),
                                       q.do(self._register_write(ref, new), True), False))

    def ensure_registers(self):
        name = register_collection(self.collection)
        try:
            self.client.query(q.create_collection({"name": name}))
        except BadRequest as exc:
            if "instance already exists" not in _codes(exc):
                raise


def session_factory(url, secret, collection, request_timeout, validate_certs=True):
    """connect() for Workload: a FaunaSession per call, all sharing one transaction time."""
    shared = getattr(faunadb.client, "_LastTxnTime", None)
    shared = shared() if shared else None

    def connect():
        return FaunaSession(url, secret, collection, request_timeout,
                            validate_certs=validate_certs, last_txn_time=shared)

    return connect


def ping_factory(url, request_timeout, validate_certs=True):
    """ping() for Workload: GET url/ping?scope=write, no key, -> (status, body) or raises."""
    parse_url(url)
    session = requests.Session()
    session.verify = validate_certs
    if not validate_certs:
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    target = url.rstrip("/") + PING_PATH
    timeout = (min(CONNECT_TIMEOUT_S, request_timeout), request_timeout)

    def ping():
        response = session.get(target, timeout=timeout, allow_redirects=False)
        return response.status_code, response.text

    return ping
