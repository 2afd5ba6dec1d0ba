"""Test helpers: a cluster of double processes on loopback addresses.

``LoopbackCluster`` starts N ``faunadb`` processes of the double, each on its
own loopback address (127.X.0.11, 127.X.0.12, ...; X derived from the pid so
parallel test runs do not collide), with its own temp data and log
directories, and tears everything down on ``close()`` / context exit.

API (all waits are bounded; ``TimeoutError`` when a bound is exceeded)::

    with LoopbackCluster(replicas=3, nodes_per_replica=1) as c:
        c.start_all()                      # spawn every process, wait for its admin port
        c.form()                           # init on nodes[0], join the rest through it,
                                           # update-replica data+log on every replica,
                                           # wait until status shows everyone up
        n = c.nodes[0]                     # LoopbackNode: name, replica, address,
                                           #   admin (host:port), config_path, data_path,
                                           #   log_path, pid, running
        c.admin(n, "status", "--json")     # run faunadb-admin against n -> CompletedProcess
        c.status(n)                        # parsed `status --json`
        c.client(n)                        # faunadb.client.FaunaClient on n:8443
        c.ping(n, "write", timeout_ms=500) # -> (http status, body dict)
        c.node_state(n)                    # what n itself holds (peer /peer/state hook)
        c.kill(n)                          # SIGKILL
        c.stop(n)                          # SIGTERM, wait
        c.start(n)                         # (re)start with the same data directory
        c.wait_until(fn, timeout=10)       # poll fn() until truthy

Constructor options: ``replicas``, ``nodes_per_replica``, ``root_key``,
``use_hash`` (configure auth_root_key_hash instead of the key), ``subnet``
(second octet), ``python`` (interpreter the launchers run the jar with, via
FAUNADB_DOUBLE_PYTHON), ``env`` (extra environment, e.g. libfaketime
variables), ``base_dir``.

The processes run the real launchers of an install built from this tree
(``install_dir()``: bin/ plus lib/faunadb.jar, cached under build/ by content),
with what those launchers demand: ``JAVA_OPTS`` set, heap sizes given, the log
directory and the feature-flags file in place, and for faunadb-admin
``FAUNADB_CONFIG`` (it ignores ``-c``) and the key in ``FAUNADB_ROOT_KEY``.
Configs carry ``auth_root_key``, so faunadb-admin's stdout starts with the
launcher's key notice; ``status()`` skips it (``without_key_notice``).
``FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS`` defaults to 0.1 here (2.0 otherwise),
``FAUNADB_DOUBLE_NODE_STARTUP_SECONDS`` (how long a node takes to bind its
admin API) to 0.2 (5.0 otherwise); set either in the environment to change it.
``FAUNADB_BIN`` and ``ADMIN_BIN`` are the installed launchers.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import yaml

from . import VERSION

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(os.path.dirname(PACKAGE_ROOT))
KEY_NOTICE = "Using plain-text auth_root_key found in "
ADMIN_STARTUP_SECONDS = "0.1"  # a real JVM start takes seconds; tests need not wait that long
NODE_STARTUP_SECONDS = "0.2"  # a real node's admin API listens after ~5 s
FLAGS = '{"version": 1, "properties": []}\n'


def package_module():
    """tests/faunadb_double/package.py (build_jar, install, build), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "faunadb_double_package", os.path.join(PACKAGE_ROOT, "package.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def install_dir() -> str:
    """An install (bin/, lib/faunadb.jar) of this tree's double, under build/, keyed by content.

    Built once per content (a temp dir renamed into place, so parallel runs
    are safe); the launchers find the jar next to themselves as in a release.
    """
    digest = hashlib.sha256()
    for pattern in ("bin/*", "faunadb_double/*.py", "package.py"):
        for path in sorted(glob.glob(os.path.join(PACKAGE_ROOT, pattern))):
            with open(path, "rb") as fh:
                digest.update(os.path.relpath(path, PACKAGE_ROOT).encode() + b"\0" + fh.read())
    parent = os.path.join(REPO_ROOT, "build", "faunadb-double-install")
    target = os.path.join(parent, digest.hexdigest()[:16])
    if not os.path.isdir(target):
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
        package_module().install(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process got there first: same content
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def __getattr__(name: str) -> str:
    # FAUNADB_BIN / ADMIN_BIN: the installed launchers, built on first use.
    if name in ("FAUNADB_BIN", "ADMIN_BIN"):
        return os.path.join(install_dir(), "bin",
                            "faunadb" if name == "FAUNADB_BIN" else "faunadb-admin")
    raise AttributeError(name)


def launcher_env(python: str = sys.executable, **extra: str) -> dict:
    """Environment for bin/faunadb: what its `set -u` and heap sizing want, set,
    and a short start-up (FAUNADB_DOUBLE_NODE_STARTUP_SECONDS) unless given."""
    return {**os.environ, "JAVA_OPTS": os.environ.get("JAVA_OPTS", ""),
            "MAX_HEAP_SIZE": "256M", "MAX_DIRECT_SIZE": "128M",
            "FAUNADB_DOUBLE_PYTHON": python,
            "FAUNADB_DOUBLE_NODE_STARTUP_SECONDS": os.environ.get(
                "FAUNADB_DOUBLE_NODE_STARTUP_SECONDS", NODE_STARTUP_SECONDS), **extra}


def admin_env(config_path: str, python: str = sys.executable, **extra: str) -> dict:
    """Environment for bin/faunadb-admin: the config by FAUNADB_CONFIG, a short start-up."""
    return {**os.environ, "FAUNADB_CONFIG": config_path, "FAUNADB_DOUBLE_PYTHON": python,
            "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": os.environ.get(
                "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS", ADMIN_STARTUP_SECONDS), **extra}


def without_key_notice(stdout: str) -> str:
    """faunadb-admin's stdout minus the launcher's `Using plain-text auth_root_key ...` line."""
    first, _, rest = stdout.partition("\n")
    return rest if first.startswith(KEY_NOTICE) else stdout


def project_image() -> str:
    """The double's image: FAUNADB_DOUBLE_IMAGE, else the tag `make setup` builds.

    (roles/faunadb/defaults names it faunadb_test_double_image.) Set the
    variable to test a private build, e.g. faunalab/faunadb-double:dev.
    """
    return os.environ.get("FAUNADB_DOUBLE_IMAGE") or f"faunalab/faunadb-double:{VERSION}"


@dataclass
class LoopbackNode:
    name: str
    replica: str
    address: str
    config_path: str
    data_path: str
    log_path: str
    env: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def admin(self) -> str:
        return f"{self.address}:8444"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


# Real-build timings shortened for tests (see timings.py for the real ones).
FAST_TIMINGS = {
    "FAUNADB_DOUBLE_FAILURE_DETECTION_SECONDS": "3",
    "FAUNADB_DOUBLE_MOVEMENT_SECONDS": "1",
}


def wait_until(fn, timeout: float = 10.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(interval)


def port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.3):
            return True
    except OSError:
        return False


class LoopbackCluster:
    def __init__(
        self,
        replicas: int = 3,
        nodes_per_replica: int = 1,
        *,
        root_key: str = "secret",
        use_hash: bool = False,
        subnet: int | None = None,
        python: str = sys.executable,
        env: dict | None = None,
        base_dir: str | None = None,
        settings: dict | None = None,
    ):
        self.root_key = root_key
        self.python = python
        self.base_dir = base_dir or tempfile.mkdtemp(prefix="faunadb-double-")
        self._own_dir = base_dir is None
        subnet = subnet if subnet is not None else 20 + os.getpid() % 200
        key_setting = {"auth_root_key": root_key}
        if use_hash:
            import bcrypt  # noqa: PLC0415 - only needed for this option

            key_setting = {"auth_root_key_hash": bcrypt.hashpw(root_key.encode(),
                                                               bcrypt.gensalt(4)).decode()}
        self.nodes: list[LoopbackNode] = []
        for r in range(1, replicas + 1):
            for n in range(1, nodes_per_replica + 1):
                index = len(self.nodes)
                address = f"127.{subnet}.0.{11 + index}"
                name = f"replica{r}-node{n}"
                home = os.path.join(self.base_dir, name)
                node = LoopbackNode(
                    name=name, replica=f"replica{r}", address=address,
                    config_path=os.path.join(home, "faunadb.yml"),
                    data_path=os.path.join(home, "data"), log_path=os.path.join(home, "log"),
                    env=dict(env or {}),
                )
                # bin/faunadb needs the GC log directory, the server the flags file's.
                os.makedirs(node.log_path, exist_ok=True)
                flags_path = os.path.join(home, "feature-flags.json")
                with open(flags_path, "w", encoding="utf-8") as fh:
                    fh.write(FLAGS)
                config = {
                    **key_setting,
                    "network_broadcast_address": address,
                    "network_admin_http_address": address,
                    "storage_data_path": node.data_path,
                    "log_path": node.log_path,
                    "flags_path": flags_path,
                    **(settings or {}),
                }
                # Plain scalars: the launcher reads log_path as text, quotes and all.
                with open(node.config_path, "w", encoding="utf-8") as fh:
                    yaml.safe_dump(config, fh)
                self.nodes.append(node)

    # -- context management ---------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for node in self.nodes:
            if node.running:
                node.process.kill()
                node.process.wait(timeout=10)
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def node(self, name: str) -> LoopbackNode:
        return next(n for n in self.nodes if n.name == name)

    # -- processes ---------------------------------------------------------------
    def start(self, node: LoopbackNode, wait: bool = True) -> None:
        if node.running:
            return
        out = open(os.path.join(self.base_dir, f"{node.name}.out"), "ab")  # noqa: SIM115
        node.process = subprocess.Popen(
            [os.path.join(install_dir(), "bin", "faunadb"), "-c", node.config_path],
            stdout=out, stderr=subprocess.STDOUT, env=launcher_env(self.python, **node.env),
        )
        out.close()
        if wait:
            wait_until(lambda: port_open(node.address, 8444) or not node.running, 15,
                       what=f"admin port of {node.name}")
            if not node.running:
                raise RuntimeError(f"{node.name} exited with {node.process.returncode}")

    def start_all(self) -> None:
        for node in self.nodes:
            self.start(node, wait=False)
        for node in self.nodes:
            wait_until(lambda n=node: port_open(n.address, 8444), 15,
                       what=f"admin port of {node.name}")

    def kill(self, node: LoopbackNode) -> None:
        if node.running:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=10)

    def stop(self, node: LoopbackNode) -> None:
        if node.running:
            node.process.terminate()
            node.process.wait(timeout=15)

    # -- faunadb-admin -------------------------------------------------------------
    def admin(self, node: LoopbackNode, *args: str, check: bool = True, env: dict | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [os.path.join(install_dir(), "bin", "faunadb-admin"), "-H", node.admin, *args],
            capture_output=True, text=True, timeout=timeout,
            env=admin_env(node.config_path, self.python, FAUNADB_ROOT_KEY=self.root_key,
                          **(env or {})),
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"faunadb-admin {' '.join(args)} failed on {node.name}: "
                               f"rc={proc.returncode} stdout={proc.stdout!r} "
                               f"stderr={proc.stderr!r}")
        return proc

    def status(self, node: LoopbackNode) -> dict:
        return json.loads(without_key_notice(self.admin(node, "status", "--json").stdout))

    def form(self, replica_type: str = "data+log", timeout: float = 20) -> None:
        seed = self.nodes[0]
        self.admin(seed, "init", "-r", seed.replica)
        for node in self.nodes[1:]:
            self.admin(node, "join", seed.address, "-r", node.replica)
        others = sorted({n.replica for n in self.nodes} - {seed.replica})
        if others:
            self.admin(seed, "update-replica", replica_type, *others)
        self.wait_all_up(timeout=timeout)

    def all_up(self, node: LoopbackNode) -> bool:
        try:
            doc = self.status(node)
        except (RuntimeError, ValueError):
            return False
        live = [n for n in doc["nodes"] if n["state"] == "live"]
        return len(live) == len(self.nodes) and all(n["status"] == "up" for n in live)

    def wait_all_up(self, timeout: float = 20) -> None:
        for node in self.nodes:
            if node.running:
                wait_until(lambda n=node: self.all_up(n), timeout, 0.3,
                           what=f"all nodes up as seen by {node.name}")

    # -- client side ------------------------------------------------------------------
    def client(self, node: LoopbackNode, **kwargs):
        from faunadb.client import FaunaClient  # noqa: PLC0415 - optional dependency

        class OfflineClient(FaunaClient):
            def check_new_version(self):
                """The driver asks pypi.org for a newer version, with no timeout,
                in every constructor: offline that hangs or fails."""

        return OfflineClient(secret=self.root_key, domain=node.address, port=8443, scheme="http",
                             **kwargs)

    def _get(self, url: str, timeout: float) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http only
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def ping(self, node: LoopbackNode, scope: str = "write", timeout_ms: int = 1000):
        return self._get(f"http://{node.address}:8443/ping?scope={scope}&timeout={timeout_ms}",
                         timeout_ms / 1000 + 5)

    def node_state(self, node: LoopbackNode) -> dict:
        return self._get(f"http://{node.address}:7500/peer/state", 5)[1]

    @staticmethod
    def wait_until(fn, timeout: float = 10.0, interval: float = 0.2, what: str = "condition"):
        return wait_until(fn, timeout, interval, what)
