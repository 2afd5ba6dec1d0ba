"""`faunadb -c CONFIG [-b] [-p PIDFILE]`: the node process of the double.

Three listeners: the admin API (network_admin_http_address:port), bound
``timings.NODE_STARTUP`` seconds after the process started (a real node's
takes seconds: surface doc, item 9), then, only once the node is a member
(after init/join, or at start-up for a member), the peer port (TCP for
requests, UDP for heartbeats) and the client API on the coordinator address.
Before that only the admin port listens, as on a real node (item 6).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import HOST_VERSION, timings
from .auth import KeyChecker, secret_from_header
from .clock import pause
from .cluster import JOIN_WAIT, AdminError, Deadline, Node
from .config import Config, ConfigError, load_config
from .query import WRITE_FORMS, Evaluator, QueryError
from .topology import valid_replica_name

log = logging.getLogger("faunadb")

# A real node's default timeout per ping scope (UtilRoutes.scala): write 1 s,
# read 500 ms, all 5 s, node 100 ms (answered by the node alone).
PING_TIMEOUT_MS = {"write": 1000, "read": 500, "all": 5000, "node": 100}
# A failed read or write ping answered after about twice its timeout on a real
# node: ~1 s for read, ~2 s for write (surface doc, items 12, 15, 17).
PING_FAILURE_FACTOR = 2.0
NOT_A_MEMBER_YET = ("This node is not part of the cluster yet. You should use faunadb-admin to "
                    "have it either join an existing cluster or initialize a new one.")
USAGE = "usage: faunadb -c CONFIG [-b] [-p PIDFILE]"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK adds ~40 ms to every response.
    disable_nagle_algorithm = True
    server_version = "FaunaDB-double"
    sys_version = ""
    node: Node
    keys: KeyChecker

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        return json.loads(raw)

    def _send(self, status: int, doc, headers: dict | None = None) -> None:
        payload = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, code: str, description: str) -> None:
        self._send(status, {"errors": [{"code": code, "description": description}]})


# -- admin API (faunadb-admin talks to this) --------------------------------


class _NoAnswer(Exception):
    """Drop the request's connection without an answer."""


class AdminHandler(_Handler):
    def _dispatch(self, method: str) -> None:
        if not self.keys.check_header(self.headers.get("Authorization")):
            self._error(401, "unauthorized", "Unauthorized")
            return
        path = urlsplit(self.path).path.rstrip("/")
        route = _ADMIN_ROUTES.get((method, path))
        if route is None:
            self._error(404, "not found", f"No such admin endpoint {method} {path}")
            return
        try:
            body = self._body() if method in ("POST", "PUT") else {}
            status, doc, headers = route(self, body)
        except AdminError as exc:
            self._error(exc.status, exc.code, exc.description)
            return
        except _NoAnswer:
            self.close_connection = True
            return
        except (ValueError, KeyError, TypeError) as exc:
            self._error(400, "bad request", f"Invalid request: {exc}")
            return
        self._send(status, doc, headers)

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def a_status(self, _body):
        # A real node's status reads through the log: without a log quorum it
        # printed no table within ~105 s (item 15). Held while the quorum is
        # lost, at most timings.STATUS_STALL, then dropped without an answer.
        self.node._require_member()
        if not self.node.await_log_quorum(timings.STATUS_STALL, gone=self._client_gone):
            raise _NoAnswer()
        return 200, self.node.status_doc(), None

    def _client_gone(self) -> bool:
        """Has the caller hung up (a faunadb-admin killed by its timeout)?"""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(
                1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (OSError, ValueError):
            return True

    def a_host_id(self, body):
        # POST /admin/host-id {"node": ADDRESS}: from the membership alone, so it
        # answers without a log quorum (AdminApplication.scala).
        self.node._require_member()
        address = str(body["node"])
        for host, rec in self.node.view.hosts.items():
            if rec["address"] == address:
                return 200, {"identity": host}, None
        raise AdminError(400, "bad request", "Host is unknown.")

    def a_init(self, body):
        name = _replica_arg(body)
        return 200, {"initialized": self.node.init(name)}, None

    def a_join(self, body):
        name = _replica_arg(body)
        seed = body.get("seed")
        if not seed:
            raise AdminError(400, "bad request", "A seed node is required.")
        # "timeout": how long to wait for the seed, sent by the double's
        # faunadb-admin (FAUNADB_JOIN_TIMEOUT); a real node waits ~90 s.
        wait = body.get("timeout")
        wait = JOIN_WAIT if wait is None else float(wait)
        return 200, {"joined": self.node.join(str(seed), name, wait)}, None

    def a_replication_get(self, _body):
        self.node._require_member()
        reps, etag = self.node.replication()
        return 200, {"replicas": reps}, {"ETag": f'"{etag}"'}

    def a_replication_put(self, body):
        wanted = {r["name"]: r["type"] for r in body.get("replicas", [])}
        if not wanted:
            raise AdminError(400, "bad request",
                             "No replicas were given. Please specify at least one replica.")
        self.node.update_replicas(wanted, self.headers.get("If-Match"))
        reps, etag = self.node.replication()
        return 200, {"replicas": reps}, {"ETag": f'"{etag}"'}

    def a_movement(self, _body):
        return 200, {"message": self.node.movement_status()}, None

    def a_remove(self, body):
        host_id = str(body["host_id"])
        self.node.remove(host_id, bool(body.get("force")), bool(body.get("allow_unclean")))
        return 200, {"removed": host_id}, None

    def a_identity(self, _body):
        return 200, {"identity": self.node.host_id}, None

    def a_version(self, _body):
        return 200, {"version": HOST_VERSION}, None


def _replica_arg(body: dict) -> str:
    name = body.get("replica_name")
    if not name:
        raise AdminError(400, "bad request", "Replica name is required.")
    if not valid_replica_name(str(name)):
        raise AdminError(400, "bad request", f"Invalid replica name {name}.")
    return str(name)


_ADMIN_ROUTES = {
    ("GET", "/admin/status"): AdminHandler.a_status,
    ("POST", "/admin/init"): AdminHandler.a_init,
    ("POST", "/admin/join"): AdminHandler.a_join,
    ("GET", "/admin/replication"): AdminHandler.a_replication_get,
    ("PUT", "/admin/replication"): AdminHandler.a_replication_put,
    ("GET", "/admin/movement_status"): AdminHandler.a_movement,
    ("POST", "/admin/remove_node"): AdminHandler.a_remove,
    ("GET", "/admin/identity"): AdminHandler.a_identity,
    ("POST", "/admin/host-id"): AdminHandler.a_host_id,
    ("GET", "/admin/host_version"): AdminHandler.a_version,
}


# -- peer API (node to node) --------------------------------------------------


class PeerHandler(_Handler):
    def do_POST(self):  # noqa: N802
        node = self.node
        path = urlsplit(self.path).path
        try:
            body = self._body()
            node.observe(body.get("clock"))
            if path == "/peer/join":
                doc = node.handle_join(body)
            elif path == "/peer/topology":
                node.apply_records(body.get("records", {}))
                doc = {"records": node.store.topology}
            elif path == "/peer/seal":
                doc = node.seal(int(body["segment"]), body.get("reach"))
            elif path == "/peer/ping":
                doc = {"ok": True}  # a round trip: the quorum probe of pings and status
            elif path == "/peer/append":
                doc = {"accepted": node.accept(body["entries"])}
            elif path == "/peer/read":
                doc = {"hit": node.store.get(body["key"]), "synced": node.synced}
            elif path == "/peer/scan":
                doc = {"rows": node.store.scan(body["prefix"]), "synced": node.synced}
            elif path == "/peer/pull":
                doc = node.serve_pull(body)
            else:
                self._send(404, {"error": f"no such peer endpoint {path}"})
                return
        except AdminError as exc:
            self._send(exc.status, {"error": exc.description})
            return
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": f"invalid peer request: {exc}"})
            return
        doc.setdefault("clock", node.clock)
        self._send(200, doc)

    def do_GET(self):  # noqa: N802
        node = self.node
        if urlsplit(self.path).path != "/peer/state":
            self._send(404, {"error": "no such peer endpoint"})
            return
        # Test hook: what this very node holds, without routing to other nodes.
        self._send(200, {
            "host_id": node.host_id, "replica": node.replica, "member": node.member,
            "seq": node.store.seq, "synced": node.synced, "clock": node.clock,
            "docs": {k: v for k, v in node.store.scan("d/").items() if v[2] is not None},
        })


# -- client API (queries and /ping) ---------------------------------------------


class ClientHandler(_Handler):
    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path.rstrip("/") == "/ping":
            self._ping(parse_qs(url.query))
            return
        self._error(400, "invalid request", "Queries are sent with POST.")

    def _ping(self, query: dict) -> None:
        scope = (query.get("scope") or ["write"])[0]
        scope = {"global": "write", "local": "read"}.get(scope, scope)
        if scope not in ("read", "write", "all"):
            scope = "node"  # unknown scopes mean "is the process up"
        try:
            timeout_ms = int((query.get("timeout") or [PING_TIMEOUT_MS[scope]])[0])
        except ValueError:
            timeout_ms = PING_TIMEOUT_MS[scope]
        if scope != "node" and not self._healthy(scope, timeout_ms):
            self._error(503, "time out",
                        f"Scope {scope} timed out after {timeout_ms} milliseconds")
            return
        # Spaced like a real node's body (surface doc, verified item 11).
        payload = f'{{ "resource": "Scope {scope} is OK" }}'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _healthy(self, scope: str, timeout_ms: int) -> bool:
        """read, write: every log segment's majority answers a round trip
        within the timeout (a real write ping is a linearized read through the
        log, item 15; reads stop with it, item 12), and for write a window of
        the log sealed (it waits while the sealer's clock is behind the log,
        cluster.py); all: the quorum, and every member up. A failed read or
        write ping answers after twice its timeout."""
        started = time.monotonic()
        seconds = max(0, timeout_ms) / 1000.0
        ok = self.node.write_ping(seconds) if scope == "write" else self.node.log_quorum(seconds)
        if ok and scope == "all":
            while not self.node.all_up():
                if time.monotonic() - started >= seconds:
                    return False
                pause(min(0.1, max(0.0, started + seconds - time.monotonic())))
        if not ok and scope != "all":
            pause(started + PING_FAILURE_FACTOR * seconds - time.monotonic())
        return ok

    def do_POST(self):  # noqa: N802
        node = self.node
        secret = secret_from_header(self.headers.get("Authorization"))
        if not self.keys.check(secret):
            self._error(401, "unauthorized", "Unauthorized")
            return
        node.observe(self.headers.get("X-Last-Seen-Txn"))
        try:
            try:
                expr = self._body()
            except ValueError as exc:
                raise QueryError(400, "invalid expression",
                                 "Request body is not valid JSON.") from exc
            linearized = urlsplit(self.path).path.rstrip("/") == "/linearized"
            backend = NodeBackend.for_query(node, expr, self.headers.get("X-Query-Timeout"),
                                            linearized)
            if linearized:
                # Through the log first, as a read-write transaction is (FQL1Routes.scala):
                # it waits for a window where a snapshot read would not.
                node.linearize(backend.deadline)
            evaluator = Evaluator(backend)
            result = evaluator.run(expr)
        except QueryError as exc:
            self._send(exc.status, exc.body(), {"x-txn-time": str(node.clock)})
            return
        status = 201 if evaluator.created else 200
        self._send(status, {"resource": result},
                   {"x-txn-time": str(node.clock), "x-faunadb-build": HOST_VERSION})


class NodeBackend:
    """The query evaluator's view of the cluster, through this coordinator.

    A query has one deadline, like a transaction: X-Query-Timeout when sent,
    else 30 s for a query that writes (its reads included) or goes through the
    log (POST /linearized) and 185 s for a read-only one, what a real node took
    to give up without a log quorum (surface doc, verified item 12)."""

    def __init__(self, node: Node, deadline: Deadline):
        self.node = node
        self.deadline = deadline

    @classmethod
    def for_query(cls, node: Node, expr, timeout_ms, linearized=False) -> NodeBackend:
        if linearized or _writes(expr):
            return cls(node, Deadline.for_query(timeout_ms, timings.WRITE_DEADLINE, "write"))
        return cls(node, Deadline.for_query(timeout_ms, timings.READ_DEADLINE, "read"))

    def read(self, key):
        return self.node.read(key, self.deadline)

    def scan(self, prefix):
        return self.node.scan(prefix, self.deadline)

    def write(self, key, value):
        return self.node.commit(key, value, self.deadline)

    def new_id(self):
        return self.node.new_id()


def _writes(expr) -> bool:
    """Does the expression contain a write form anywhere?"""
    if isinstance(expr, dict):
        return any(k in WRITE_FORMS or _writes(v) for k, v in expr.items())
    if isinstance(expr, list):
        return any(_writes(v) for v in expr)
    return False


# -- process ------------------------------------------------------------------------


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections under load, and
    # each dropped SYN costs its client a 1 s retransmit.
    request_queue_size = 128


def _serve(handler_cls, node, keys, address, port, *, name) -> ThreadingHTTPServer:
    cls = type(handler_cls.__name__, (handler_cls,), {"node": node, "keys": keys})
    httpd = _Listener((address, port), cls)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name=name, daemon=True).start()
    return httpd


class Server:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.node = Node(cfg)
        self.keys = KeyChecker(cfg)
        self.servers: list[ThreadingHTTPServer] = []
        self.member_services = False
        self._member_lock = threading.Lock()
        self.node.on_member = self.start_member_services
        self.node.on_stall = self._stall_exit
        self.exit_code = 0
        self.stopping = threading.Event()

    def _stall_exit(self) -> None:
        """Shut down over the grace period, then exit 1 for a supervisor to
        restart the node, as a real node does on a consensus stall (item 12)."""
        def later():
            self.stopping.wait(self.cfg.shutdown_grace_period_seconds)
            self.exit_code = 1
            self.stopping.set()
        threading.Thread(target=later, name="stall-exit", daemon=True).start()

    def start(self, startup_seconds: float | None = None) -> None:
        """Open the storage and bind the admin API once the start-up delay has
        passed (``timings.NODE_STARTUP``; returns early if stopped meanwhile),
        logging what a real node logs on the way."""
        cfg = self.cfg
        delay = timings.NODE_STARTUP if startup_seconds is None else startup_seconds
        if self.stopping.wait(delay):
            return
        self.node.start()
        log.info("Admin endpoint: %s:%s", cfg.admin_address, cfg.admin_port)
        self.servers.append(_serve(AdminHandler, self.node, self.keys,
                                   cfg.admin_address, cfg.admin_port, name="admin"))
        log.info("Host ID: %s", self.node.host_id)
        if self.node.member:
            self.start_member_services()
        else:
            # Logged 2 s later unless automation made the node a member
            # meanwhile, as FaunaApp does.
            def not_a_member_yet():
                if not self.stopping.wait(2.0) and not self.node.member:
                    log.info(NOT_A_MEMBER_YET)
            threading.Thread(target=not_a_member_yet, name="start", daemon=True).start()

    def start_member_services(self) -> None:
        """Peer port (TCP and UDP) and client API: bound once the node is a member."""
        with self._member_lock:
            if self.member_services:
                return
            self.member_services = True
            cfg = self.cfg
            self.servers.append(_serve(PeerHandler, self.node, self.keys,
                                       cfg.listen_address, cfg.peer_port, name="peer"))
            self.node.start_heartbeats()
            self.servers.append(_serve(ClientHandler, self.node, self.keys,
                                       cfg.coordinator_address, cfg.coordinator_port,
                                       name="client"))
            log.info("Peer port %s:%s, client API on %s:%s", cfg.listen_address, cfg.peer_port,
                     cfg.coordinator_address, cfg.coordinator_port)

    def stop(self) -> None:
        for httpd in self.servers:
            httpd.shutdown()
            httpd.server_close()
        self.node.stop()


def _setup_logging(cfg: Config, foreground: bool) -> None:
    os.makedirs(cfg.log_path, exist_ok=True)
    # A real core.log line is `%d{ISO8601} [%c{2}] %level %msg` (CoreConfig
    # log_pattern); the double names the thread where FaunaDB names the logger.
    fmt = logging.Formatter("%(asctime)s,%(msecs)03d [%(threadName)s] %(levelname)s %(message)s",
                            "%Y-%m-%dT%H:%M:%S")
    handler = logging.FileHandler(os.path.join(cfg.log_path, "core.log"))
    handler.setFormatter(fmt)
    log.addHandler(handler)
    if foreground:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(fmt)
        log.addHandler(stream)
    log.setLevel(logging.INFO)


def _parse_args(argv: list[str]) -> dict:
    opts = {"config": None, "background": False, "pidfile": None}
    it = iter(argv)
    for arg in it:
        if arg in ("-c", "--config"):
            opts["config"] = next(it, None)
        elif arg == "-b":
            opts["background"] = True
        elif arg == "-p":
            opts["pidfile"] = next(it, None)
        elif arg in ("-h", "--help"):
            print(USAGE)
            sys.exit(0)
        else:
            raise ConfigError(f"Unknown option {arg}\n{USAGE}")
    if not opts["config"]:
        raise ConfigError(f"Error: a configuration file is required (-c).\n{USAGE}")
    return opts


def _daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def main(argv: list[str] | None = None) -> int:
    try:
        opts = _parse_args(sys.argv[1:] if argv is None else argv)
        cfg = load_config(opts["config"])
        flags_dir = os.path.dirname(cfg.flags_path) or "."
        if not os.path.isdir(flags_dir):
            # FaunaDB dies here yet exits 0 (surface doc, verified item 5), so a
            # restart policy "always" loops on it and "on-failure" gives up silently.
            print("Uncaught Exception on Main Thread. Terminating: "
                  f"java.nio.file.NoSuchFileException: {flags_dir}", file=sys.stderr)
            return 0
        os.makedirs(cfg.data_path, exist_ok=True)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if opts["background"]:
        _daemonize()
    _setup_logging(cfg, foreground=not opts["background"])
    if opts["pidfile"]:
        with open(opts["pidfile"], "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
    log.info("Fauna Service %s", HOST_VERSION)
    log.info("Loaded configuration from %s...", cfg.path)
    server = Server(cfg)
    stop = server.stopping
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except OSError as exc:
        log.error("Could not bind: %s", exc)
        return 1
    while not stop.wait(5.0):
        pass
    log.info("Shutting down")
    server.stop()
    if opts["pidfile"]:
        try:
            os.unlink(opts["pidfile"])
        except OSError:
            pass
    return server.exit_code


if __name__ == "__main__":
    sys.exit(main())
