"""Pure helpers of roles/chaos/files/testinfra/test_fault.py (loaded from its file: it is not a
package, and its own tests need CHAOS_CHECKS, so they are not collected from here)."""

from __future__ import annotations

import email.utils
import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "roles/chaos/files/testinfra/test_fault.py"
# As pytest does for the checks themselves: their folder is importable (project.py).
if str(_PATH.parent) not in sys.path:
    sys.path.insert(0, str(_PATH.parent))
_SPEC = importlib.util.spec_from_file_location("chaos_testinfra_fault", _PATH)
fault = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(fault)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 27 Nov 2026 16:44:22 GMT", 1795797862.0),
        ("Friday, 27-Nov-26 16:44:22 GMT", 1795797862.0),  # RFC 850, obsolete
        ("Fri Nov 27 16:44:22 2026", 1795797862.0),  # asctime, obsolete
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_parse_http_date(value, expected):
    assert fault.parse_http_date(value) == expected


def test_skew_error_uses_the_request_midpoint():
    # Stamped 300 s ahead of the middle of a request sent at 100 and answered at 102.
    assert fault.skew_error(401.0, 100.0, 102.0, 300) == 0.0
    assert fault.skew_error(101.0, 100.0, 102.0, 300) == -300.0
    assert fault.skew_error(396.0, 100.0, 102.0, -300) == 595.0


@pytest.mark.parametrize(
    ("docker_host", "local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("", True),
        (None, True),
        ("npipe:////./pipe/docker_engine", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://localhost:2376", True),
        ("tcp://10.0.0.5:2376", False),
        ("tcp://127.0.0.2:23750", False),
        ("ssh://deploy@vm1", False),
    ],
)
def test_engine_is_local(docker_host, local):
    assert fault.engine_is_local(docker_host) is local


def test_tagged_rules():
    lines = [
        "-P INPUT ACCEPT",
        "-A INPUT -s 10.0.0.11/32 -p tcp -m multiport --ports 7500,7501,8443 "
        '-m comment --comment "faunadb_node cut_off" -j DROP',
        "-A INPUT -i lo -j ACCEPT",
    ]
    assert fault.tagged_rules(lines) == [lines[1]]


def _skewed_node():
    return {"name": "n1", "mode": "service", "address": "127.0.0.1", "offset_seconds": 300}


def _answers(monkeypatch, stamps):
    """http_get answers with a Date header stamped `stamps[i]` seconds off the real clock."""
    calls = []

    def http_get(url):
        now = 1_000_000.0 + len(calls)
        date = email.utils.formatdate(now + stamps[min(len(calls), len(stamps) - 1)], usegmt=True)
        calls.append(url)
        return 200, {"Date": date}, now, now

    monkeypatch.setattr(fault, "http_get", http_get)
    monkeypatch.setattr(fault.time, "sleep", lambda s: None)
    return calls


def test_a_skew_not_yet_seen_is_asked_again_until_the_node_shows_it(monkeypatch):
    # libfaketime's cache: the first two answers still carry the old clock.
    calls = _answers(monkeypatch, [0, 0, 300])
    seen = {}
    fault.check_skewed(_skewed_node(), {}, None, None, seen.__setitem__)
    assert len(calls) == 3 and seen["skew_seen_seconds"] == 300.0


def test_a_skew_the_node_never_shows_fails_after_the_settle_time(monkeypatch):
    calls = _answers(monkeypatch, [0])
    clock = iter(range(100))
    monkeypatch.setattr(fault.time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(AssertionError, match=r"is \+0\.0 s from now, expected \+300 s"):
        fault.check_skewed(_skewed_node(), {}, None, None, lambda *a: None)
    assert 2 <= len(calls) <= fault.SKEW_SETTLE_SECONDS + 1


_CONFTEST = _PATH.with_name("conftest.py")
_CSPEC = importlib.util.spec_from_file_location("chaos_testinfra_conftest", _CONFTEST)
conftest = importlib.util.module_from_spec(_CSPEC)
_CSPEC.loader.exec_module(conftest)


def test_the_checks_docker_client_is_the_modules_with_tls_from_dockers_variables(
        monkeypatch, tmp_path):
    factory = conftest.module_util("faunadb_docker")
    seen = []

    class Client:
        def __init__(self, **kwargs):
            seen.append(kwargs)

        def close(self):
            pass

    (tmp_path / "ca.pem").write_text("x")
    monkeypatch.setattr(factory.docker, "DockerClient", Client)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    gen = conftest.docker_clients.__wrapped__()
    get = next(gen)
    assert get("tcp://engine-b:2376") is get("tcp://engine-b:2376")  # made once per engine
    (made,) = seen
    assert made["base_url"] == "tcp://engine-b:2376"
    assert (made["tls"].verify, made["tls"].ca_cert) == (True, str(tmp_path / "ca.pem"))
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    get("unix:///var/run/docker.sock")
    assert seen[1]["tls"] is False  # a plain engine without Docker's TLS variables
