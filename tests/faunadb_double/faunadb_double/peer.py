"""Node-to-node transport: JSON over HTTP on network_peer_port (TCP) for
requests, and small JSON datagrams on the same port number (UDP) for
heartbeats, which keeps an idle cluster cheap."""

from __future__ import annotations

import http.client
import json
import socket


class PeerError(Exception):
    """The peer could not be reached or answered with an error."""

    def __init__(self, message: str, status: int | None = None, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {}


def call(address: str, port: int, method: str, path: str, body=None, *,
         timeout: float = 2.0) -> dict:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise PeerError(f"{address}:{port}: {exc}") from exc
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise PeerError(f"{address}:{port}: invalid JSON", resp.status) from exc
    if resp.status >= 400:
        raise PeerError(data.get("error", f"HTTP {resp.status}"), resp.status, data)
    return data


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
