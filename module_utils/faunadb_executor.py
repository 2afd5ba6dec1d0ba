"""Where faunadb-admin runs: on the managed host, or inside a container via the Docker API.

Modules never call subprocess or docker themselves; they get an Executor from
make_executor() and hand it argv lists.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.faunadb_common import DEFAULT_DOCKER_HOST, FaunaDBError

try:
    import docker
    import docker.errors

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()


class ExecutorError(FaunaDBError):
    """The command could not be started at all (engine unreachable, container gone...)."""

    # 'unreachable' may heal on its own (engine restarting); 'not_found' and
    # 'not_running' mean the node is dead, so wait loops stop early on them.
    def __init__(self, msg, kind, **details):
        super().__init__(msg, **details)
        self.kind = kind


class Executor:
    """Runs one argv list and returns (rc, stdout, stderr) as text."""

    name = "abstract"

    def run(self, argv, env=None):
        raise NotImplementedError

    def describe(self):
        return self.name


class LocalExecutor(Executor):
    """Runs the command on the host executing the module (service mode)."""

    name = "local"

    def __init__(self, module):
        self.module = module

    def run(self, argv, env=None):
        rc, out, err = self.module.run_command(
            list(argv), environ_update=dict(env or {}), check_rc=False
        )
        return rc, out, err


class DockerExecutor(Executor):
    """Runs the command inside a container through the Docker API (container mode).

    Only the FaunaDB binaries are needed in the container: the module itself
    runs where the docker SDK is installed (usually the controller).
    """

    name = "docker"

    def __init__(self, container, docker_host=None, timeout=180, client=None):
        self.container_name = container
        self.docker_host = docker_host or DEFAULT_DOCKER_HOST
        self.timeout = timeout
        self._client = client
        self._container = None

    def describe(self):
        return f"docker container {self.container_name} on {self.docker_host}"

    def _get_client(self):
        if self._client is None:
            try:
                self._client = docker.DockerClient(base_url=self.docker_host, timeout=self.timeout)
            except Exception as exc:
                if _is_transport_error(exc):
                    raise self._unreachable(exc) from None
                raise
        return self._client

    def _unreachable(self, exc):
        return ExecutorError(
            f"Cannot reach the Docker engine at {self.docker_host}: {exc}",
            "unreachable",
            docker_host=self.docker_host,
        )

    def _get_container(self):
        if self._container is not None:
            return self._container
        client = self._get_client()
        try:
            container = client.containers.get(self.container_name)
        except docker.errors.NotFound:
            raise ExecutorError(
                f"Container {self.container_name} not found on the Docker engine "
                f"at {self.docker_host}",
                "not_found",
                container=self.container_name,
                docker_host=self.docker_host,
            ) from None
        except Exception as exc:
            if _is_transport_error(exc):
                raise self._unreachable(exc) from None
            raise
        if container.status != "running":
            raise ExecutorError(
                f"Container {self.container_name} is not running (status: {container.status})",
                "not_running",
                container=self.container_name,
                docker_host=self.docker_host,
            )
        self._container = container
        return container

    def run(self, argv, env=None):
        container = self._get_container()
        try:
            result = container.exec_run(list(argv), environment=dict(env or {}), demux=True)
        except docker.errors.APIError as exc:
            # 409 is what the engine answers when the container stopped
            # between inspect and exec.
            kind = "not_running" if getattr(exc, "status_code", None) == 409 else "unreachable"
            raise ExecutorError(
                f"docker exec in container {self.container_name} failed: {exc.explanation or exc}",
                kind,
                container=self.container_name,
                docker_host=self.docker_host,
            ) from None
        except Exception as exc:
            if _is_transport_error(exc):
                raise self._unreachable(exc) from None
            raise
        stdout, stderr = result.output if result.output else (None, None)
        return (
            result.exit_code,
            _text(stdout),
            _text(stderr),
        )


def _is_transport_error(exc):
    # The SDK lets requests/urllib3 exceptions (ConnectionError, ReadTimeout)
    # through unwrapped; to the user they all mean "engine unreachable".
    if HAS_DOCKER and isinstance(exc, docker.errors.DockerException):
        return True
    return type(exc).__module__.startswith(("requests", "urllib3"))


def _text(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def make_executor(module):
    """Build the executor the module's options ask for."""
    params = module.params
    if params["executor"] == "docker":
        if not HAS_DOCKER:
            module.fail_json(
                msg=missing_required_lib("docker (the Docker SDK for Python)"),
                exception=DOCKER_IMPORT_ERROR,
            )
        return DockerExecutor(
            params["container"],
            docker_host=params.get("docker_host"),
            timeout=params.get("docker_timeout") or 180,
        )
    return LocalExecutor(module)
