"""Shared helpers for the faunadb_* module unit tests (imported by conftest.py first).

Makes library/ and module_utils/ importable the way Ansible does
(``ansible.module_utils.faunadb_*``), loads recorded faunadb-admin output, and
runs nodes of the FaunaDB double (tests/faunadb_double) in this process, with
an executor that hands the modules' faunadb-admin argv lists to the double's
own admin CLI, so the modules run end to end against the double's answers.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import socket
import sys
import threading
import time
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import Mock

import ansible.module_utils
import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))
if str(REPO / "library") not in sys.path:
    sys.path.insert(0, str(REPO / "library"))

# Re-exported for conftest.py, which must not import ansible.module_utils.faunadb_*
# before the path above is set.
from ansible.module_utils import faunadb_executor  # noqa: E402, F401
from ansible.module_utils.faunadb_common import FaunaDBError  # noqa: E402
from ansible.module_utils.faunadb_executor import Executor  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

ROOT_KEY = "s3cr3t-root-key"


def fixture_text(name):
    return (FIXTURES / name).read_text()


def recorded(command, variant):
    """(stdout, stderr) recorded for `faunadb-admin COMMAND` in situation VARIANT."""
    base = f"faunadb_admin_{command}_{variant}"
    out = FIXTURES / f"{base}.txt"
    err = FIXTURES / f"{base}.stderr.txt"
    if not out.exists() and not err.exists():
        raise FileNotFoundError(base)
    return (
        out.read_text() if out.exists() else "",
        err.read_text() if err.exists() else "",
    )


# A DockerExecutor's face towards DockerNodeOps, around a fake engine API.
class FakeExecutor:
    container_name = "n1"
    docker_host = "unix:///fake.sock"

    def __init__(self, api):
        self.client = Mock(api=api)

    def describe(self):
        return "docker container n1 on unix:///fake.sock"

    def _get_client(self):
        return self.client

    def _unreachable(self, exc):
        return FaunaDBError(f"Cannot reach the Docker engine: {exc}")


class Scripted(Executor):
    """Answers each call with the next scripted (rc, stdout, stderr), recording argv and env."""

    # Answers come in the scripted order, so no two commands may run at once.
    concurrent = False

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def run(self, argv, env=None, timeout=None):
        self.calls.append((list(argv), dict(env or {})))
        return self.answers.pop(0)


class ModuleRun:
    def __init__(self, rc, result):
        self.rc = rc
        self.result = result

    @property
    def failed(self):
        return bool(self.result.get("failed"))


def run_module_main(module, args, capsys, *, check_mode=False, diff=False, patches=()):
    """Run a library module's main() with ARGS as Ansible would, in check and diff mode
    when asked, inside the context managers PATCHES (the executor or ops it should get);
    return its exit code and the JSON result it printed."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    capsys.readouterr()
    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_module_args(args))
        for patch in patches:
            stack.enter_context(patch)
        with pytest.raises(SystemExit) as exc:
            module.main()
    return ModuleRun(exc.value.code, json.loads(capsys.readouterr().out))


# -- an HTTP server standing in for a node's API ------------------------------------------

StubRequest = namedtuple("StubRequest", "method path headers body")


class HTTPStub:
    """A loopback HTTP server in a node's place: records each request in ``seen`` and
    answers the n-th with ``answers[n]`` or ``default`` (status, JSON text[, headers]) after
    ``delay`` seconds; with ``drop`` it closes the connection instead, as a node killed while
    it held the request."""

    def __init__(self):
        self.seen, self.answers, self.delay, self.drop = [], {}, 0.0, False
        self.default = (200, "{}")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
        self.server.stub = self
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        stub = self.server.stub
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        stub.seen.append(StubRequest(self.command, self.path, dict(self.headers), body))
        if stub.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        time.sleep(stub.delay)
        status, text, *headers = stub.answers.get(len(stub.seen) - 1, stub.default)
        payload = text.encode()
        self.send_response(status)
        for name, value in (headers[0] if headers else {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_GET


# -- the double, in process -------------------------------------------------------------

# The double's package (tests/conftest.py put it on sys.path).
from faunadb_double import admin_cli, cluster, timings  # noqa: E402, F401
from faunadb_double.auth import hash_key  # noqa: E402
from faunadb_double.config import load_config  # noqa: E402
from faunadb_double.server import Server  # noqa: E402

# Loopback addresses of their own (the double's tests use 127.X.1-3.*), one per node
# started in this session, so that no listener is ever bound twice.
_SUBNET = 20 + os.getpid() % 200
_addresses = (f"127.{_SUBNET}.{5 + i // 240}.{10 + i % 240}" for i in itertools.count())
_KEY_HASH = []
MUTATIONS = ("init", "join", "update-replica", "remove")


def _key_hash():
    # bcrypt takes a while: one hash for the session.
    if not _KEY_HASH:
        _KEY_HASH.append(hash_key(ROOT_KEY))
    return _KEY_HASH[0]


class DoubleNode:
    """One node of the double: its faunadb.yml (the key only as a hash, so faunadb-admin
    needs FAUNADB_ROOT_KEY), data directory and server, started in this process."""

    def __init__(self, home, cluster_name="fauna"):
        self.address = next(_addresses)
        self.config_path = str(home / "faunadb.yml")
        home.mkdir(parents=True)
        settings = dict(
            auth_root_key_hash=_key_hash(), cluster_name=cluster_name,
            network_broadcast_address=self.address, network_admin_http_address=self.address,
            storage_data_path=str(home / "data"), log_path=str(home / "log"),
        )  # fmt: skip
        Path(self.config_path).write_text("".join(f"{k}: '{v}'\n" for k, v in settings.items()))
        self.server = None

    def start(self):
        self.server = Server(load_config(self.config_path))
        self.server.start(startup_seconds=0)
        return self

    def stop(self):
        if self.server is not None:
            # Each listener's shutdown waits for its next poll (0.5 s): all at once.
            _all_at_once([httpd.shutdown for httpd in self.server.servers])
            self.server.stop()
            self.server = None

    @property
    def host_id(self):
        return self.server.node.host_id

    def admin(self, *args):
        """(rc, stdout, stderr) of the double's faunadb-admin on this node, with the key."""
        return self.executor().run(["faunadb-admin", *args], {"FAUNADB_ROOT_KEY": ROOT_KEY})

    def executor(self, **env):
        return DoubleAdmin(self, env)


class DoubleAdmin(Executor):
    """Runs faunadb-admin argv lists with the double's admin CLI, in process, as if on the
    node: its environment names the node's config (as /etc/faunadb.yml would), what the
    caller passes comes on top. Records every (argv, env) the caller gave."""

    name = "double"

    def __init__(self, node, env=None, admin_path="faunadb-admin"):
        self.node = node
        self.env = dict(env or {})
        self.admin_path = admin_path
        self.calls = []

    @property
    def mutations(self):
        """The changing commands run, without the admin path and --json."""
        words = ([w for w in argv[1:] if w != "--json"] for argv, _ in self.calls)
        return [w for w in words if w and w[0] in MUTATIONS]

    def run(self, argv, env=None, timeout=None):
        self.calls.append((list(argv), dict(env or {})))
        if argv[0] != self.admin_path:
            return 127, "", f"exec: {argv[0]}: not found"
        out, err = io.StringIO(), io.StringIO()
        full_env = {"FAUNADB_CONFIG": self.node.config_path, **self.env, **(env or {})}
        rc = admin_cli.run(list(argv[1:]), env=full_env, out=out, err=err)
        return rc, out.getvalue(), err.getvalue()


class DoubleCluster:
    """Nodes of the double formed into a cluster through its own faunadb-admin."""

    def __init__(self, base):
        self.base = base
        self.nodes = []

    def node(self, name=None):
        """A new node, started, not yet a member."""
        node = DoubleNode(self.base / (name or f"node{len(self.nodes) + 1}")).start()
        self.nodes.append(node)
        return node

    def form(self, replicas, types=None):
        """init on the first node, join the others through it (one node per replica),
        update-replica to ``types``; wait until every node sees all up and nothing moving."""
        nodes = [self.node() for _ in replicas]
        for i, (node, replica) in enumerate(zip(nodes, replicas, strict=True)):
            words = ["init"] if i == 0 else ["join", nodes[0].address]
            _check(node.admin(*words, "-r", replica))
        changed = {r: t for r, t in (types or {}).items() if r != replicas[0] or t != "data+log"}
        for rtype in sorted(set(changed.values())):
            names = sorted(r for r, t in changed.items() if t == rtype)
            _check(nodes[0].admin("update-replica", rtype, *names))
        self.settle(nodes)
        return nodes

    def settle(self, nodes, up=None):
        """Wait until each node's status lists every node of ``nodes`` (``up`` of them up;
        all by default) and its movement-status says nothing moves."""
        up = set(nodes if up is None else up)
        want = {n.address: ("up" if n in up else "down") for n in nodes}

        def settled(node):
            rc, out, _ = node.admin("--json", "status")
            if rc != 0:
                return False
            seen = {n["address"]: n["status"] for n in json.loads(out)["nodes"]}
            moving = node.admin("movement-status")[1]
            return seen == want and moving.startswith("No data movement")

        wait_for(lambda: all(settled(n) for n in up), f"the cluster to settle ({want})")

    def close(self):
        _all_at_once([node.stop for node in self.nodes])


def _all_at_once(calls):
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def unused_address():
    """A loopback address nothing listens on."""
    return next(_addresses)


def _check(answer):
    rc, out, err = answer
    assert rc == 0, (rc, out, err)
    return out


def wait_for(condition, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
