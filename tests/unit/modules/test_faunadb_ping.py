"""faunadb_ping: the /ping URL and one bounded GET, against a local HTTP server."""

from __future__ import annotations

import socket

import pytest
from ansible.module_utils import faunadb_ping


def test_ping_url():
    assert faunadb_ping.ping_url("http://lb:8443/") == "http://lb:8443/ping?scope=write"
    assert (faunadb_ping.ping_url("https://n1:8443", "read", 400)
            == "https://n1:8443/ping?scope=read&timeout=400")
    with pytest.raises(ValueError, match="scope is 'everything'"):
        faunadb_ping.ping_url("http://lb:8443", "everything")


def test_an_answer_with_any_status_is_returned_with_its_body(http_stub):
    base = http_stub.url
    http_stub.answers = {0: (200, '{"resource":"Scope write is OK"}'),
                         1: (503, '{"errors":[{"code":"time out"}]}'),
                         2: (302, "", {"Location": "/ok"})}
    status, headers, body, sent, received = faunadb_ping.get(f"{base}/ok", 5)
    assert (status, body) == (200, '{"resource":"Scope write is OK"}')
    assert headers["Content-Length"] == str(len(body)) and sent <= received
    status, _, body, _, _ = faunadb_ping.get(f"{base}/busy", 5)
    assert (status, body) == (503, '{"errors":[{"code":"time out"}]}')
    # A redirect is the answer itself, not followed.
    assert faunadb_ping.get(f"{base}/moved", 5)[0] == 302
    assert len(http_stub.seen) == 3


def test_no_answer_is_status_none_with_the_reason():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    status, error, body, _, _ = faunadb_ping.get(f"http://127.0.0.1:{port}/ping", 2)
    assert status is None and isinstance(error, OSError) and "refused" in body.lower()
    assert faunadb_ping.get("not a url", 2)[0] is None
