"""site.yml through a Docker engine reached over ssh:// (issue 10).

The test starts its own sshd on a loopback port, with throwaway host and
client keys, and points faunadb_docker_host at ssh://root@127.0.0.1:PORT: the
same engine as the local one, but every Docker API call of the roles and the
modules (community.docker's and the faunadb_* executor alike) has to travel
through SSH. sshd's own log proves it did.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from playbook_kit import ansible_playbook, docker_names, write_inventory

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SSHD = "/usr/sbin/sshd"
CLUSTER = "sshtest"
LB_PORT = 18643
NODES = {"ssh_replica1_node1": "172.29.10.11", "ssh_replica2_node1": "172.29.10.21",
         "ssh_replica3_node1": "172.29.10.31"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ssh_engine(tmp_path_factory):
    if not os.path.exists(SSHD) or os.geteuid() != 0:
        pytest.skip("needs openssh-server (make setup installs it) and root")
    tmp = tmp_path_factory.mktemp("sshd")
    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
    subprocess.run([*keygen, "-f", str(tmp / "host_key")], check=True)
    subprocess.run([*keygen, "-f", str(home / ".ssh" / "id_ed25519")], check=True)
    shutil.copy(home / ".ssh" / "id_ed25519.pub", tmp / "authorized_keys")
    port = free_port()
    (tmp / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPidFile {tmp / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "AllowStreamLocalForwarding yes\nLogLevel VERBOSE\n"
    )
    host_pub = (tmp / "host_key.pub").read_text().split()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (home / ".ssh" / "config").write_text(
        f"Host 127.0.0.1\n  Port {port}\n  User root\n"
        f"  IdentityFile {home / '.ssh' / 'id_ed25519'}\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)
    log = tmp / "sshd.log"
    sshd = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")],
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    else:
        sshd.kill()
        pytest.fail(f"sshd did not listen on 127.0.0.1:{port}: {log.read_text()}")
    try:
        yield dict(url=f"ssh://root@127.0.0.1:{port}", home=home, log=log, tmp=tmp)
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)


def inventory(tmp: Path, docker_host: str) -> Path:
    lb = {"ssh_load_balancer": {"faunadb_lb_address": "172.29.10.2",
                                "faunadb_lb_publish_port": LB_PORT}}  # fmt: skip
    return write_inventory(
        tmp / "inventory.yml", CLUSTER, "172.29.10.0/24", NODES, lb,
        faunadb_docker_host=docker_host, faunadb_root_key_file=str(tmp / "root_key"),
    )  # fmt: skip


def playbook(engine: dict, inventory_path: Path, *args: str) -> subprocess.CompletedProcess:
    # HOME holds the client key, ssh config and known_hosts paramiko reads;
    # DOCKER_HOST must not point anywhere else.
    env = dict(HOME=str(engine["home"]), ANSIBLE_LOCAL_TEMP=str(engine["tmp"] / "ansible-tmp"),
               DOCKER_HOST=None)  # fmt: skip
    return ansible_playbook(inventory_path, *args, check=False, env=env)


def test_site_provisions_through_an_ssh_docker_host(ssh_engine):
    path = inventory(ssh_engine["tmp"], ssh_engine["url"])
    teardown = ("playbooks/teardown.yml", "-e", f"faunadb_teardown_confirm={CLUSTER}")
    playbook(ssh_engine, path, *teardown)
    accepted_before = ssh_engine["log"].read_text().count("Accepted publickey for root")
    try:
        proc = playbook(ssh_engine, path, "site.yml")
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{LB_PORT}/ping?scope=write") as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["resource"] == "Scope write is OK"
        # Every Docker API call came over SSH: many sessions, all as root with our key.
        accepted = ssh_engine["log"].read_text().count("Accepted publickey for root")
        assert accepted - accepted_before >= 20, ssh_engine["log"].read_text()[-3000:]
        assert sorted(docker_names(CLUSTER)) == sorted([*NODES, "ssh_load_balancer"])
    finally:
        playbook(ssh_engine, path, *teardown)


def test_unreachable_ssh_engine_fails_fast_with_its_own_message(ssh_engine, tmp_path):
    path = inventory(tmp_path, f"ssh://root@127.0.0.1:{free_port()}")
    started = time.monotonic()
    proc = playbook(ssh_engine, path, "site.yml")
    assert proc.returncode != 0
    assert time.monotonic() - started < 120
    assert "Traceback" not in proc.stdout
    assert "No Docker engine answers at ssh://root@127.0.0.1" in proc.stdout
