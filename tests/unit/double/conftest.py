"""Helpers for tests that run the double's real launchers (an install built from the tree)."""

import itertools
import os
import signal
import subprocess

import pytest
from faunadb_double.testing import (
    ADMIN_BIN,
    FAUNADB_BIN,
    FLAGS,
    admin_env,
    launcher_env,
    port_open,
    wait_until,
)

SUBNET = 20 + os.getpid() % 200
_octets = itertools.count(11)


class Node:
    """A config in a temp dir (plain scalars, flags file, log dir); once started, its process."""

    def __init__(self, home, key_line="auth_root_key: secret", **extra):
        self.home = home
        self.address = f"127.{SUBNET}.3.{next(_octets)}"
        self.config = home / "faunadb.yml"
        self.log_dir = home / "log"
        self.log_dir.mkdir(parents=True)
        flags = home / "feature-flags.json"
        flags.write_text(FLAGS)
        settings = {
            "network_broadcast_address": self.address,
            "network_admin_http_address": self.address,
            "storage_data_path": home / "data",
            "log_path": self.log_dir,
            "flags_path": flags,
            **extra,
        }
        self.config.write_text(
            key_line + "\n" + "".join(f"{k}: {v}\n" for k, v in settings.items()))
        self.process = None

    def start(self, env=None):
        self.process = subprocess.Popen(
            [FAUNADB_BIN, "-c", str(self.config)],
            env=launcher_env() if env is None else env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.address, 8444) or self.process.poll() is not None,
                   15, 0.1, "admin port")
        assert self.process.poll() is None, f"server exited {self.process.returncode}"
        return self

    def cmdline(self, pid=None) -> list[str]:
        with open(f"/proc/{pid or self.process.pid}/cmdline", "rb") as fh:
            return fh.read().decode().split("\0")[:-1]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)

    def admin_command(self, *args, env=None, cwd=None) -> dict:
        """Popen/run keywords for bin/faunadb-admin against this node, config by FAUNADB_CONFIG.

        ``env`` entries override; a None value removes the variable.
        """
        full_env = admin_env(str(self.config))
        for name in ("ADMIN_KEY", "FAUNADB_ROOT_KEY", "FAUNADB_ADMIN_HOST", "JAVA_OPTS"):
            full_env.pop(name, None)  # only what the test gives
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        return {"args": [ADMIN_BIN, "-H", self.address, *args], "env": full_env,
                "cwd": cwd or self.home, "text": True}

    def admin(self, *args, env=None, cwd=None, timeout=30):
        return subprocess.run(**self.admin_command(*args, env=env, cwd=cwd),
                              capture_output=True, timeout=timeout)


@pytest.fixture
def make_node(tmp_path):
    nodes = []

    def make(name="node", **kwargs):
        node = Node(tmp_path / name, **kwargs)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.stop()
