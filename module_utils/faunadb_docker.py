"""The Docker client every faunadb_* module and the chaos checks use, and its errors.

docker_client() builds the client from the docker_* options (tls_config) or
Docker's own variables (docker_settings_from_env); the _is_* helpers tell an
unreachable engine from a setting that can never work.
"""

from __future__ import annotations

import os
import traceback

from ansible.module_utils.faunadb_common import DEFAULT_DOCKER_HOST, ExecutorError

try:
    import docker
    import docker.errors
    import docker.tls

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()


def docker_client(docker_host=None, *, timeout=180, tls=None, use_ssh_client=False):
    """A Docker client for an engine: unix://, tcp:// (with tls, a docker.tls.TLSConfig from
    tls_config) or ssh://. Every module and the chaos role's testinfra checks use this one;
    ExecutorError (kind config or unreachable) when it cannot be made."""
    docker_host = docker_host or DEFAULT_DOCKER_HOST
    try:
        return docker.DockerClient(
            base_url=docker_host, timeout=timeout, tls=tls or False,
            use_ssh_client=use_ssh_client,
        )  # fmt: skip
    except Exception as exc:
        # Building the client connects nowhere yet (except ssh://): what fails
        # here is the address or its settings, or the ssh:// link.
        if _is_transport_error(exc) and not _is_setting_error(exc):
            raise _unreachable(docker_host, exc) from None
        raise ExecutorError(
            f"Cannot use the Docker engine at {docker_host}: {exc}", "config",
            docker_host=docker_host,
        ) from None


def _unreachable(docker_host, exc):
    return ExecutorError(
        f"Cannot reach the Docker engine at {docker_host}: {exc}", "unreachable",
        docker_host=docker_host,
    )  # fmt: skip


def docker_settings_from_env(environ=None):
    """The docker_* settings from Docker's own variables (DOCKER_HOST, DOCKER_TLS,
    DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), as the modules' options fall back to them: for
    callers without module options."""
    environ = os.environ if environ is None else environ

    def flag(name):
        return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")

    return {"docker_host": environ.get("DOCKER_HOST") or None, "docker_tls": flag("DOCKER_TLS"),
            "docker_validate_certs": flag("DOCKER_TLS_VERIFY")}


def _is_transport_error(exc):
    # The SDK lets requests/urllib3 exceptions (ConnectionError, ReadTimeout)
    # through unwrapped; to the user they all mean "engine unreachable".
    if HAS_DOCKER and isinstance(exc, docker.errors.DockerException):
        return True
    return type(exc).__module__.startswith(("requests", "urllib3"))


def _is_setting_error(exc):
    # docker.errors.TLSParameterError, a missing paramiko, a malformed address.
    text = str(exc)
    return type(exc).__name__ in ("TLSParameterError", "ValueError") or any(
        hint in text for hint in ("paramiko", "Invalid bind address", "not supported", "scheme")
    )


def _is_read_timeout(exc):
    return type(exc).__name__ in ("ReadTimeout", "ReadTimeoutError", "timeout", "TimeoutError")


def tls_config(params):
    """docker.tls.TLSConfig from the docker_tls* options, or None for a plain engine."""
    verify = bool(params.get("docker_validate_certs"))
    if not (params.get("docker_tls") or verify):
        return None
    # Unset paths default to DOCKER_CERT_PATH's ca.pem, cert.pem and key.pem.
    cert_dir = os.environ.get("DOCKER_CERT_PATH")

    def path(option, name):
        if params.get(option):
            return params[option]
        candidate = os.path.join(cert_dir, name) if cert_dir else None
        return candidate if candidate and os.path.exists(candidate) else None

    client_cert = path("docker_client_cert", "cert.pem")
    client_key = path("docker_client_key", "key.pem")
    cert = (client_cert, client_key) if client_cert or client_key else None
    try:
        return docker.tls.TLSConfig(
            client_cert=cert, ca_cert=path("docker_ca_path", "ca.pem"), verify=verify
        )
    except docker.errors.TLSParameterError as exc:
        raise ExecutorError(f"Docker TLS settings: {exc}", "config") from None
