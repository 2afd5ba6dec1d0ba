"""The `faunadb` driver as the benchmarks use it: one client per thread, each request
with a timeout, no version lookup."""

from __future__ import annotations

import warnings

from requests.adapters import HTTPAdapter

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the driver warns about FQL v4 on import
    from faunadb.client import FaunaClient

# The constructor asks pypi.org for a newer driver, with no timeout, every time a
# client is made: offline (CI) that hangs or fails. It is no part of a query.
FaunaClient.check_new_version = lambda self: None


class _TimeoutAdapter(HTTPAdapter):
    """The driver's `timeout` never reaches requests (Session has no default timeout),
    so a hung request would block forever: give every request one."""

    def __init__(self, timeout: float, **kwargs):
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (2.0, self._timeout)
        return super().send(request, **kwargs)


def make_client(target: tuple[str, int], key: str, timeout: float) -> FaunaClient:
    client = FaunaClient(secret=key, domain=target[0], port=target[1], scheme="http")
    client.session.mount("http://", _TimeoutAdapter(timeout, pool_connections=1, pool_maxsize=1))
    return client
