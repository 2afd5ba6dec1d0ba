"""tests/infra/conftest.py's Docker engine: the modules' client, from Docker's own variables
(loaded from its file: the checks run only under molecule verify)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_CONFTEST = Path(__file__).resolve().parents[2] / "infra" / "conftest.py"
_SPEC = importlib.util.spec_from_file_location("infra_conftest", _CONFTEST)
infra = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(infra)


@pytest.fixture
def made(monkeypatch):
    """The keyword arguments of every DockerClient made, none connecting anywhere."""
    seen = []

    class Client:
        def __init__(self, **kwargs):
            seen.append(kwargs)
            self.closed = False

        def close(self):
            self.closed = True

    factory = infra.module_util("faunadb_docker")
    monkeypatch.setattr(factory.docker, "DockerClient", Client)
    for name in ("DOCKER_HOST", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    return seen


def test_the_engine_is_dockers_host_with_tls_and_certificates_from_the_cert_path(
        made, monkeypatch, tmp_path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv("DOCKER_HOST", "tcp://engine-b:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    infra.engine_client()
    (kwargs,) = made
    assert kwargs["base_url"] == "tcp://engine-b:2376"
    tls = kwargs["tls"]
    assert (tls.verify, tls.ca_cert) == (True, str(tmp_path / "ca.pem"))
    assert tls.cert == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))


def test_docker_tls_alone_encrypts_without_verifying(made, monkeypatch):
    # docker.from_env() knows no DOCKER_TLS: it would talk plain HTTP to a TLS engine.
    monkeypatch.setenv("DOCKER_HOST", "tcp://engine-b:2376")
    monkeypatch.setenv("DOCKER_TLS", "1")
    infra.engine_client()
    (kwargs,) = made
    assert kwargs["tls"] and kwargs["tls"].verify is False


def test_without_dockers_variables_the_fixture_uses_the_local_socket_and_closes_it(made):
    fixture = infra.engine.__wrapped__()
    client = next(fixture)
    (kwargs,) = made
    assert (kwargs["base_url"], kwargs["tls"]) == ("unix:///var/run/docker.sock", False)
    with pytest.raises(StopIteration):
        next(fixture)
    assert client.closed
