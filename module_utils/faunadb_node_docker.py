"""Container mode of faunadb_node: a node that is a container, driven through the Docker API.

DockerNodeOps uses the client the faunadb-admin executor builds (same
docker_host, TLS and ssh:// options); container_state() reads `docker
inspect`, and the skew file travels as a one-file tar (put/get_archive).
"""

from __future__ import annotations

import io
import os
import tarfile
import time

from ansible.module_utils import faunadb_node_container
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_executor import HAS_DOCKER, ExecutorError, _is_transport_error
from ansible.module_utils.faunadb_node_parse import (
    DEFAULT_FAKETIME_FILE,
    clock_hook,
    format_offset,
    parse_skew_file,
)
from ansible.module_utils.faunadb_node_plan import NodeOps

if HAS_DOCKER:
    import docker.errors

# The engine's stop timeout for a container created without one.
DOCKER_STOP_TIMEOUT = 10


def container_state(inspect, network=None):
    """The observed state from `docker inspect` (None: no such container)."""
    if inspect is None:
        return dict(exists=False, running=False, paused=False, restarting=False, exit_code=None,
                    pid=None, status="absent", cut_off=None, networks=[], address=None,
                    restart_count=None, clock_hook=dict(preloaded=False, file=None),
                    labels={})  # fmt: skip
    st = inspect.get("State") or {}
    restarting = bool(st.get("Restarting"))
    running = bool(st.get("Running")) and not restarting
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    config = inspect.get("Config") or {}
    env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    attached = networks.get(network) if network else None
    return dict(
        exists=True,
        running=running,
        paused=bool(st.get("Paused")) and running,
        restarting=restarting,
        exit_code=None if running else st.get("ExitCode"),
        pid=st.get("Pid") or None,
        status=st.get("Status"),
        networks=sorted(networks),
        cut_off=(attached is None) if network else None,
        address=(attached or {}).get("IPAddress") or None,
        restart_count=inspect.get("RestartCount"),
        clock_hook=clock_hook(env),
        labels=dict(config.get("Labels") or {}),
    )


def skew_archive(path, seconds):
    """A tar holding the skew file (root-owned, 0644: the node's user only reads it)."""
    data = format_offset(seconds).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(os.path.basename(path))
        info.size = len(data)
        info.mode = 0o644
        info.uid = info.gid = 0
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def file_from_archive(chunks):
    """The text of the single file in a tar stream (what get_archive returns)."""
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                return tar.extractfile(member).read().decode("utf-8", errors="replace")
    return ""


class DockerNodeOps(NodeOps):
    """A node that is a container, driven through the Docker API.

    kill is `docker kill` (SIGKILL): the engine counts it as a manual stop,
    so a restart policy (unless-stopped, always, on-failure) does not bring
    the container back. cut_off disconnects the container from its network;
    restore reconnects it with its fixed address.
    """

    mode = "container"

    def __init__(self, executor, *, network=None, address=None,
                 faketime_file=DEFAULT_FAKETIME_FILE, stop_timeout=None, spec=None,
                 volumes=()):  # fmt: skip
        super().__init__(faketime_file)
        self.executor = executor  # a faunadb_executor.DockerExecutor: client and its options
        self.name = executor.container_name
        self.network = network
        self.address = address
        self.stop_timeout = stop_timeout
        self.spec = spec  # what present creates the container from
        self.volumes = list(volumes)  # the named volumes absent removes

    def describe(self):
        return self.executor.describe()

    def _api(self, what, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except ExecutorError:
            raise
        except Exception as exc:
            raise self._error(what, exc) from None

    def _error(self, what, exc):
        """The FaunaDBError to report for a failed Docker call (unexpected ones unchanged)."""
        details = dict(container=self.name, docker_host=self.executor.docker_host)
        if HAS_DOCKER and isinstance(exc, docker.errors.APIError):
            text = exc.explanation or str(exc)
            if isinstance(exc, docker.errors.NotFound):
                return FaunaDBError(f"{what}: {text}", **details)
            return FaunaDBError(f"{what} failed on {self.describe()}: {text}",
                                status_code=getattr(exc, "status_code", None), **details)
        if _is_transport_error(exc):
            return self.executor._unreachable(exc)
        return exc

    @property
    def _client(self):
        return self.executor._get_client()

    def read(self):
        inspect = self._optional("docker inspect", self._client.api.inspect_container, self.name)
        state = container_state(inspect, self.network)
        state["node"] = self.describe()
        state["faketime_file"] = self.faketime_file
        state["skew_text"] = self._read_skew() if inspect else None
        state["skew"] = parse_skew_file(state["skew_text"])
        if self.volumes:
            state["volumes"] = faunadb_node_container.present_volumes(self, self.volumes)
        return state

    def _optional(self, what, call, *args):
        """call(*args), or None when the engine answers 404 (no such container or path)."""
        try:
            return call(*args)
        except ExecutorError:
            raise
        except Exception as exc:
            if HAS_DOCKER and isinstance(exc, docker.errors.NotFound):
                return None
            raise self._error(what, exc) from None

    def _read_skew(self):
        stream = self._optional(f"reading {self.faketime_file}", self._client.api.get_archive,
                                self.name, self.faketime_file)  # fmt: skip
        return None if stream is None else file_from_archive(stream[0])

    def _do(self, cli, what, call, *args, **kwargs):
        self.commands.append(cli)
        return self._api(what, call, *args, **kwargs)

    def start(self):
        self._do(f"docker start {self.name}", "docker start", self._client.api.start, self.name)

    def stop(self):
        kwargs = {} if self.stop_timeout is None else {"timeout": self.stop_timeout}
        cli = "docker stop" + (f" --time {self.stop_timeout}" if kwargs else "")
        self._do(f"{cli} {self.name}", "docker stop", self._client.api.stop, self.name, **kwargs)

    def restart(self):
        api = self._client.api
        timeout = self.stop_timeout
        if timeout is None:
            # The engine's own restart without -t uses the container's stop
            # timeout; docker-py always sends one (10 s by default), so read it.
            inspect = self._api("docker inspect", api.inspect_container, self.name)
            timeout = (inspect.get("Config") or {}).get("StopTimeout")
            timeout = DOCKER_STOP_TIMEOUT if timeout is None else timeout
            cli = f"docker restart {self.name}"
        else:
            cli = f"docker restart --time {timeout} {self.name}"
        self._do(cli, "docker restart", api.restart, self.name, timeout=timeout)

    def kill(self):
        api = self._client.api
        inspect = self._api("docker inspect", api.inspect_container, self.name)
        if (inspect.get("State") or {}).get("Restarting"):
            # A container between two tries of its restart policy has no
            # process to kill; stopping it cancels the next try.
            self._do(f"docker stop --time 0 {self.name}", "docker stop", api.stop, self.name,
                     timeout=0)  # fmt: skip
            return
        self._do(f"docker kill --signal SIGKILL {self.name}", "docker kill", api.kill, self.name,
                 signal="SIGKILL")  # fmt: skip

    def pause(self):
        self._do(f"docker pause {self.name}", "docker pause", self._client.api.pause, self.name)

    def resume(self):
        self._do(f"docker unpause {self.name}", "docker unpause", self._client.api.unpause,
                 self.name)  # fmt: skip

    def write_skew(self, seconds):
        directory = os.path.dirname(self.faketime_file) or "/"
        self.commands.append(
            f"docker cp - {self.name}:{directory}  # {os.path.basename(self.faketime_file)}: "
            f"{format_offset(seconds).strip()}"
        )
        ok = self._api(
            f"writing {self.faketime_file}", self._client.api.put_archive, self.name, directory,
            skew_archive(self.faketime_file, seconds),
        )  # fmt: skip
        if ok is False:
            raise FaunaDBError(f"The Docker engine refused to write {self.faketime_file} into "
                               f"{self.describe()}")  # fmt: skip

    def cut_off(self):
        self._need_network("cut_off")
        self._do(
            f"docker network disconnect {self.network} {self.name}", "docker network disconnect",
            self._client.api.disconnect_container_from_network, self.name, self.network,
        )  # fmt: skip

    def restore(self):
        self._need_network("restored")
        ip = f" --ip {self.address}" if self.address else ""
        kwargs = {"ipv4_address": self.address} if self.address else {}
        self._do(
            f"docker network connect{ip} {self.network} {self.name}", "docker network connect",
            self._client.api.connect_container_to_network, self.name, self.network, **kwargs,
        )  # fmt: skip

    def can_restore(self):
        return bool(self.network)

    def wanted_spec(self):
        if not self.spec:
            return None
        return faunadb_node_container.wanted_labels(self.spec)[faunadb_node_container.SPEC_LABEL]

    def create(self):
        faunadb_node_container.create(self, self.spec)

    def remove(self):
        faunadb_node_container.remove(self)

    def remove_volume(self, name):
        faunadb_node_container.remove_volume(self, name)

    def file_executor(self):
        return self.executor

    def _need_network(self, op):
        if not self.network:
            raise FaunaDBError(f"state={op} in container mode needs network (the project network)")
