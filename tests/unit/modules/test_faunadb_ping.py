"""faunadb_ping: the /ping URL and one bounded GET, against a local HTTP server."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible.module_utils import faunadb_ping


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        code, body = {"/ok": (200, b'{"resource":"Scope write is OK"}'),
                      "/busy": (503, b'{"errors":[{"code":"time out"}]}'),
                      "/moved": (302, b"")}[self.path.split("?")[0]]
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ping_url():
    assert faunadb_ping.ping_url("http://lb:8443/") == "http://lb:8443/ping?scope=write"
    assert (faunadb_ping.ping_url("https://n1:8443", "read", 400)
            == "https://n1:8443/ping?scope=read&timeout=400")
    with pytest.raises(ValueError, match="scope is 'everything'"):
        faunadb_ping.ping_url("http://lb:8443", "everything")


def test_an_answer_with_any_status_is_returned_with_its_body(base):
    status, headers, body, sent, received = faunadb_ping.get(f"{base}/ok", 5)
    assert (status, body) == (200, '{"resource":"Scope write is OK"}')
    assert headers["Content-Length"] == str(len(body)) and sent <= received
    status, _, body, _, _ = faunadb_ping.get(f"{base}/busy", 5)
    assert (status, body) == (503, '{"errors":[{"code":"time out"}]}')
    # A redirect is the answer itself, not followed.
    assert faunadb_ping.get(f"{base}/moved", 5)[0] == 302


def test_no_answer_is_status_none_with_the_reason():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    status, error, body, _, _ = faunadb_ping.get(f"http://127.0.0.1:{port}/ping", 2)
    assert status is None and isinstance(error, OSError) and "refused" in body.lower()
    assert faunadb_ping.get("not a url", 2)[0] is None
