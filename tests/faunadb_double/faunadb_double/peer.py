"""Node-to-node transport: JSON over HTTP on network_peer_port (TCP) for
requests, and small JSON datagrams on the same port number (UDP) for
heartbeats, which keeps an idle cluster cheap.

TCP connections to peers are kept open and reused, as FaunaDB keeps its peer
connections: a fresh connection per write costs more than the write.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import selectors
import socket
import threading
import time

IDLE_PER_PEER = 16  # pooled idle connections kept per peer
CONNECT_TIMEOUT = 0.3  # peers are on one network: a connect that takes longer will fail


class PeerError(Exception):
    """The peer could not be reached or answered with an error."""

    def __init__(self, message: str, status: int | None = None, body: dict | None = None,
                 unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.body = body or {}
        self.unreachable = unreachable


class _Pool:
    def __init__(self):
        self.lock = threading.Lock()
        self.idle: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}

    def take(self, address: str, port: int, timeout: float):
        with self.lock:
            conns = self.idle.get((address, port))
            conn = conns.pop() if conns else None
        if conn is None:
            return http.client.HTTPConnection(address, port, timeout=timeout), False
        return conn, True

    def give(self, address: str, port: int, conn) -> None:
        with self.lock:
            conns = self.idle.setdefault((address, port), [])
            if len(conns) < IDLE_PER_PEER:
                conns.append(conn)
                return
        conn.close()

    def clear(self) -> None:
        with self.lock:
            pools, self.idle = list(self.idle.values()), {}
        for conns in pools:
            for conn in conns:
                conn.close()


_pool = _Pool()


def _send(address: str, port: int, method: str, path: str, payload, *, timeout: float):
    """Send a request on a pooled connection (a fresh one if the pooled one
    went stale); return (connection, reused)."""
    conn, reused = _pool.take(address, port, timeout)
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    for attempt in (0, 1):
        try:
            if conn.sock is None:
                conn.timeout = min(timeout, CONNECT_TIMEOUT)
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sock.settimeout(timeout)
            conn.request(method, path, body=payload, headers=headers)
            return conn, reused
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if not reused or attempt:
                raise PeerError(f"{address}:{port}: {exc}", unreachable=True) from exc
            conn, reused = http.client.HTTPConnection(address, port, timeout=timeout), False
    raise AssertionError("unreachable")


def _receive(address: str, port: int, conn) -> dict:
    try:
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise PeerError(f"{address}:{port}: {exc}", unreachable=True) from exc
    if resp.will_close:
        conn.close()
    else:
        _pool.give(address, port, conn)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise PeerError(f"{address}:{port}: invalid JSON", resp.status) from exc
    if resp.status >= 400:
        raise PeerError(data.get("error", f"HTTP {resp.status}"), resp.status, data)
    return data


def _payload(body) -> bytes | None:
    return json.dumps(body, separators=(",", ":")).encode() if body is not None else None


def call(address: str, port: int, method: str, path: str, body=None, *,
         timeout: float = 2.0) -> dict:
    """One request to a peer. Every peer request is idempotent, so a pooled
    connection the peer closed meanwhile is retried once on a fresh one."""
    payload = _payload(body)
    conn, reused = _send(address, port, method, path, payload, timeout=timeout)
    try:
        return _receive(address, port, conn)
    except PeerError as exc:
        if not (reused and exc.status is None):
            raise
    conn, _ = _send(address, port, method, path, payload, timeout=timeout)  # stale: once more
    return _receive(address, port, conn)


class Fanout:
    """Requests to several peers from one thread: all are sent first, then
    answers are read as they arrive. Python threads handing work to each
    other cost more CPU than the requests themselves, so a quorum round
    trip uses none. Answers nobody waits for any more are read by one
    background thread, which returns their connections to the pool."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        # socket -> (key, address, port, conn, reused, request, answer due by)
        self.waiting: dict = {}

    def send(self, key, address: str, port: int, path: str, body, *, timeout: float) -> None:
        self._send(key, address, port, (path, _payload(body), timeout))

    def _send(self, key, address: str, port: int, request: tuple) -> None:
        path, payload, timeout = request
        conn, reused = _send(address, port, "POST", path, payload, timeout=timeout)
        self.waiting[conn.sock] = (key, address, port, conn, reused, request,
                                   time.monotonic() + timeout)
        self.selector.register(conn.sock, selectors.EVENT_READ)

    def __len__(self) -> int:
        return len(self.waiting)

    def receive(self, timeout: float) -> list:
        """[(key, answer or PeerError)] for the answers that arrived within timeout."""
        out = []
        for sel_key, _ in self.selector.select(max(0.0, timeout)):
            sock = sel_key.fileobj
            key, address, port, conn, reused, request, _ = self.waiting.pop(sock)
            self.selector.unregister(sock)
            try:
                out.append((key, _receive(address, port, conn)))
            except PeerError as exc:
                if reused and exc.status is None:  # a stale pooled connection: resend
                    try:
                        self._send(key, address, port, request)
                    except PeerError as again:
                        out.append((key, again))
                    continue
                out.append((key, exc))
        now = time.monotonic()
        for sock, (key, address, port, conn, *_, due) in list(self.waiting.items()):
            if due <= now:
                del self.waiting[sock]
                self.selector.unregister(sock)
                conn.close()
                out.append((key, PeerError(f"{address}:{port}: timed out", unreachable=True)))
        return out

    def abandon(self) -> None:
        """Leave the answers still due to the background reader."""
        self.selector.close()
        for _, address, port, conn, _, _, due in self.waiting.values():
            _reaper.adopt(address, port, conn, due)
        self.waiting.clear()


class _Reaper:
    def __init__(self):
        self.lock = threading.Lock()
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = socket.socketpair()
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.thread = None

    def adopt(self, address: str, port: int, conn, due: float) -> None:
        with self.lock:
            self.selector.register(conn.sock, selectors.EVENT_READ, (address, port, conn, due))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="peer-reaper",
                                               daemon=True)
                self.thread.start()
        self.wake_w.send(b"x")

    def _run(self) -> None:
        while True:
            for key, _ in self.selector.select(1.0):
                if key.fileobj is self.wake_r:
                    self.wake_r.recv(4096)
                    continue
                with self.lock:
                    self.selector.unregister(key.fileobj)
                address, port, conn, _ = key.data
                with contextlib.suppress(PeerError):
                    _receive(address, port, conn)
            now = time.monotonic()
            with self.lock:
                late = [k for k in self.selector.get_map().values()
                        if k.data is not None and k.data[3] < now]
                for key in late:
                    self.selector.unregister(key.fileobj)
                    key.data[2].close()


_reaper = _Reaper()


def close_all() -> None:
    _pool.clear()


def udp_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    return sock


def send_datagram(sock: socket.socket, address: str, port: int, message: dict) -> None:
    try:
        sock.sendto(json.dumps(message, separators=(",", ":")).encode(), (address, port))
    except OSError:
        pass  # an unreachable peer is exactly what the failure detector notices
