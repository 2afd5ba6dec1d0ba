"""Where faunadb-admin runs: on the managed host, or inside a container via the Docker API.

Modules never call subprocess or docker themselves; they get an Executor from
make_executor() and hand it argv lists.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import time
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.faunadb_common import DEFAULT_DOCKER_HOST, FaunaDBError, replace_file

try:
    import docker
    import docker.errors
    import docker.tls

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()


class ExecutorError(FaunaDBError):
    """The command could not be started at all (engine unreachable, container gone...)."""

    # 'unreachable' may heal on its own (engine restarting); 'not_found' and
    # 'not_running' mean the node is dead, so wait loops stop early on them;
    # 'timeout' is a call that did not finish in time (a JVM starting on a
    # busy host can take minutes); 'config' is an engine address or TLS/SSH
    # setting that can never work (no waiting fixes it).
    def __init__(self, msg, kind, **details):
        super().__init__(msg, **details)
        self.kind = kind


class FileState:
    """A regular file as read or to be written: content (bytes), mode bits, owner ids."""

    def __init__(self, content, mode, uid, gid):
        self.content, self.mode, self.uid, self.gid = content, mode, uid, gid

    def __eq__(self, other):
        return isinstance(other, FileState) and vars(self) == vars(other)

    __hash__ = None


def files_option():
    """The ``files`` option: regular files a node should hold (content, mode, owner ids).

    faunadb_node_files writes them and faunadb_node's probe only compares them,
    so both take the same spec and compare through files_to_write().
    """
    return dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(
            path=dict(type="str", required=True),
            content=dict(type="str", required=True, no_log=True),
            mode=dict(type="str", default="0644"),
            owner_id=dict(type="int", default=0),
            group_id=dict(type="int", default=0),
            force=dict(type="bool", default=True),
        ),
    )


def check_absolute(paths):
    relative = [p for p in paths if not p.startswith("/")]
    if relative:
        raise FaunaDBError(f"paths must be absolute: {', '.join(relative)}")


def check_file_specs(specs):
    """Refuse what no executor can write, before the node is read."""
    check_absolute(s["path"] for s in specs)
    for spec in specs:
        wanted_file(spec)


def wanted_file(spec):
    """The FileState one entry of ``files`` asks for."""
    try:
        mode = int(spec["mode"], 8)
    except ValueError:
        raise FaunaDBError(f"mode of {spec['path']} must be octal, is {spec['mode']!r}") from None
    return FileState(spec["content"].encode(), mode, spec["owner_id"], spec["group_id"])


def files_to_write(executor, specs):
    """The entries of ``files`` that differ on the node: ({path: wanted FileState}, diffs).

    A file that exists is kept when its entry has force false. The diffs
    carry the content: Ansible masks it in results because the option is no_log.
    """
    writes, diffs = {}, []
    for spec in specs:
        want = wanted_file(spec)
        have = executor.read_file(spec["path"])
        if have is None or (spec["force"] and have != want):
            writes[spec["path"]] = want
            diffs.append(
                dict(
                    before_header=spec["path"],
                    after_header=spec["path"],
                    before="" if have is None else have.content.decode(errors="replace"),
                    after=want.content.decode(errors="replace"),
                )
            )
    return writes, diffs


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


def _text(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


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
