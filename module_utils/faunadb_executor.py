"""Where faunadb-admin runs: on the managed host, or inside a container via the Docker API.

Modules never call subprocess or docker themselves; they get an Executor from
make_executor() and hand it argv lists. The Docker executor's client comes from
faunadb_docker.docker_client().
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import time

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.faunadb_common import (
    DEFAULT_DOCKER_HOST,
    ExecutorError,
    FaunaDBError,
    replace_file,
)
from ansible.module_utils.faunadb_docker import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    _is_read_timeout,
    _is_transport_error,
    _unreachable,
    docker_client,
    tls_config,
)

if HAS_DOCKER:
    import docker.errors


class FileState:
    """A regular file as read or to be written: content (bytes), mode bits, owner ids."""

    def __init__(self, content, mode, uid, gid):
        self.content, self.mode, self.uid, self.gid = content, mode, uid, gid

    def __eq__(self, other):
        return isinstance(other, FileState) and vars(self) == vars(other)

    __hash__ = None


class Executor:
    """Runs one argv list and returns (rc, stdout, stderr) as text."""

    name = "abstract"
    # Whether two commands may run at once (FaunaAdmin reads status and
    # movement-status side by side); a scripted test executor answers in order.
    concurrent = True

    def run(self, argv, env=None, timeout=None):
        raise NotImplementedError

    def missing(self, paths):
        """The paths that do not exist on the node (files needed before it starts)."""
        raise NotImplementedError

    def read_file(self, path):
        """The FileState of a regular file on the node, None when it does not exist."""
        raise NotImplementedError

    def write_files(self, files):
        """Write {path: FileState} on the node."""
        raise NotImplementedError

    def describe(self):
        return self.name


class LocalExecutor(Executor):
    """Runs the command on the host executing the module (service mode)."""

    name = "local"

    def run(self, argv, env=None, timeout=None):
        # subprocess rather than module.run_command: only it can bound the call.
        try:
            proc = subprocess.run(
                list(argv),
                env=dict(os.environ, **dict(env or {})),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ExecutorError(
                f"{argv[0]} did not finish within {timeout} s", "timeout", cmd=argv[0]
            ) from None
        except OSError as exc:
            raise ExecutorError(f"Cannot run {argv[0]}: {exc}", "not_found", cmd=argv[0]) from None
        return proc.returncode, _text(proc.stdout), _text(proc.stderr)

    def missing(self, paths):
        return [p for p in paths if not os.path.exists(p)]

    def read_file(self, path):
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            raise FaunaDBError(f"{path} exists and is not a regular file")
        with open(path, "rb") as handle:
            content = handle.read()
        return FileState(content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    def write_files(self, files):
        for path, state in files.items():
            replace_file(
                path,
                lambda handle, data=state.content: handle.write(data),
                mode=state.mode,
                owner=(state.uid, state.gid),
            )


class DockerExecutor(Executor):
    """Runs the command inside a container through the Docker API (container mode).

    Only the FaunaDB binaries are needed in the container: the module itself
    runs where the docker SDK is installed (usually the controller).
    """

    name = "docker"

    def __init__(
        self, container, *, docker_host=None, timeout=180, client=None, tls=None,
        use_ssh_client=False,
    ):  # fmt: skip
        self.container_name = container
        self.docker_host = docker_host or DEFAULT_DOCKER_HOST
        self.timeout = timeout
        self.tls = tls
        self.use_ssh_client = use_ssh_client
        self._client = client
        self._container = None

    def describe(self):
        return f"docker container {self.container_name} on {self.docker_host}"

    def _get_client(self):
        if self._client is None:
            self._client = docker_client(
                self.docker_host, timeout=self.timeout, tls=self.tls,
                use_ssh_client=self.use_ssh_client,
            )  # fmt: skip
        return self._client

    def _unreachable(self, exc):
        return _unreachable(self.docker_host, exc)

    def _get_container(self, running=True):
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
            if not running:
                return container  # not cached: run() must see it stopped
            raise ExecutorError(
                f"Container {self.container_name} is not running (status: {container.status})",
                "not_running",
                container=self.container_name,
                docker_host=self.docker_host,
            )
        self._container = container
        return container

    def run(self, argv, env=None, timeout=None):
        container = self._get_container()
        api = self._get_client().api
        try:
            exec_id = api.exec_create(container.id, list(argv), environment=dict(env or {}))["Id"]
            output = self._exec_start(api, exec_id, timeout)
            exit_code = api.exec_inspect(exec_id)["ExitCode"]
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
            if _is_read_timeout(exc):
                # The command may still run in the container; nothing stops an exec.
                raise ExecutorError(
                    f"{argv[0]} in container {self.container_name} did not finish within "
                    f"{timeout} s",
                    "timeout",
                    container=self.container_name,
                    docker_host=self.docker_host,
                ) from None
            if _is_transport_error(exc):
                raise self._unreachable(exc) from None
            raise
        stdout, stderr = output if output else (None, None)
        return exit_code, _text(stdout), _text(stderr)

    def missing(self, paths):
        # The archive API answers for a created container too, so an image
        # can be checked before its process ever starts.
        container = self._get_container(running=False)
        absent = []
        for path in paths:
            try:
                self._get_client().api.get_archive(container.id, path)
            except docker.errors.NotFound:
                absent.append(path)
            except Exception as exc:
                if _is_transport_error(exc):
                    raise self._unreachable(exc) from None
                raise
        return absent

    def read_file(self, path):
        # Through the archive API, like missing(): a created container answers too.
        container = self._get_container(running=False)
        try:
            stream, _ = self._get_client().api.get_archive(container.id, path)
            data = b"".join(stream)
        except docker.errors.NotFound:
            return None
        except Exception as exc:
            if _is_transport_error(exc):
                raise self._unreachable(exc) from None
            raise
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise FaunaDBError(f"{path} in {self.describe()} is not a regular file")
            content = tar.extractfile(member).read()
        return FileState(content, stat.S_IMODE(member.mode), member.uid, member.gid)

    def write_files(self, files):
        # One archive per directory: the engine unpacks it in place.
        container = self._get_container(running=False)
        by_dir = {}
        for path, state in files.items():
            by_dir.setdefault(os.path.dirname(path), []).append((os.path.basename(path), state))
        for directory, members in by_dir.items():
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for name, state in members:
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(state.content), state.mode
                    info.uid, info.gid, info.mtime = state.uid, state.gid, int(time.time())
                    tar.addfile(info, io.BytesIO(state.content))
            try:
                self._get_client().api.put_archive(container.id, directory, buffer.getvalue())
            except Exception as exc:
                if _is_transport_error(exc):
                    raise self._unreachable(exc) from None
                raise ExecutorError(
                    f"Cannot write into {directory} of {self.describe()}: {exc}",
                    "failed",
                    container=self.container_name,
                ) from None

    def _exec_start(self, api, exec_id, timeout):
        """Run the exec, its socket bounded by timeout (the client's default otherwise)."""
        if not timeout:
            return api.exec_start(exec_id, demux=True)
        previous = api.timeout
        api.timeout = timeout
        try:
            return api.exec_start(exec_id, demux=True)
        finally:
            api.timeout = previous


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
            tls=tls_config(params),
            use_ssh_client=bool(params.get("docker_use_ssh_client")),
        )
    return LocalExecutor()
