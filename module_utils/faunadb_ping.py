# FaunaDB's /ping, asked from where the caller runs: faunadb_status (its ping and healthy
# conditions, from the controller), the chaos role's testinfra checks and the benchmarks.
# Two callers ask differently on purpose: faunadb_workload pings through the driver's own
# HTTP stack (requests), as a client would, and faunadb_lb's verify runs curl inside the load
# balancer's container, so that a remote engine's cluster is reached where it runs.
"""GET /ping?scope=... on a node or a load balancer: the URL, and one bounded GET."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

# A real node's scopes (UtilRoutes.scala): write is a linearized read through the log,
# read a snapshot read, all the whole cluster, node the node alone; global and local are
# its older names of write and read.
SCOPES = ("write", "read", "all", "node", "global", "local")
BODY_LIMIT = 65536


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0917
        return None  # a ping that redirects is an answer, not a place to go


def ping_url(base, scope="write", timeout_ms=None):
    """base (scheme://host:port) + /ping?scope=...[&timeout=ms]."""
    if scope not in SCOPES:
        raise ValueError(f"scope is {scope!r}, one of {', '.join(SCOPES)}")
    query = {"scope": scope}
    if timeout_ms:
        query["timeout"] = int(timeout_ms)
    return f"{base.rstrip('/')}/ping?{urlencode(query)}"


def get(url, timeout, validate_certs=True):
    """One GET: (status, headers, body text, sent, received), wall-clock seconds.

    An HTTP error status is an answer (status, its headers and body); no answer at all
    (refused, timed out, a bad URL) is status None with the exception in place of the
    headers and its text as the body. validate_certs=False takes any certificate (a
    cluster's own self-signed one).
    """
    handlers = [_NoRedirect()]
    if url.startswith("https:") and not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    sent = time.time()
    try:
        with opener.open(url, timeout=timeout) as answer:
            body = answer.read(BODY_LIMIT)
            return answer.status, answer.headers, _text(body), sent, time.time()
    except urllib.error.HTTPError as exc:
        body = exc.read(BODY_LIMIT) if exc.fp is not None else b""
        return exc.code, exc.headers, _text(body), sent, time.time()
    except (OSError, ValueError) as exc:
        return None, exc, str(exc), sent, time.time()


def _text(data):
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data or ""
