"""Testinfra checks of service-mode nodes, run by `molecule verify -s service`.

The scenario's inventory reaches the nodes as on real VMs: SSH as the
unprivileged user `ansible`, root only through sudo. testinfra follows the same
inventory, so checks that need root say so (the `root` fixture).
"""

from __future__ import annotations

import json
import os
import re

import pytest
import yaml

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "service",
    reason="runs in molecule verify -s service",
)


# sudo's log line of an Ansible become from the deploy user to root.
ANSIBLE_BECOME_ROOT = re.compile(
    r"^\s*ansible : .*USER=root ; COMMAND=.*BECOME-SUCCESS-", re.MULTILINE
)


def hostvars(host):
    return host.ansible.get_variables()


@pytest.fixture
def root(host):
    """The node as root, through sudo from the deploy user like the roles' become."""
    with host.sudo():
        yield host


def test_converge_logged_in_over_ssh_as_ansible_and_used_sudo(root):
    """Fails if the scenario goes back to molecule's docker connection (root, no sshd, no sudo)."""
    sshd = root.check_output("journalctl -q --no-pager -o cat SYSLOG_IDENTIFIER=sshd")
    assert "Accepted publickey for ansible " in sshd
    # Ansible's become wraps each privileged module in `echo BECOME-SUCCESS-...`
    # (testinfra's sudo does not): prepare.yml does it once, converge and
    # idempotence once per task with become.
    sudo = root.check_output("journalctl -q --no-pager -o cat SYSLOG_IDENTIFIER=sudo")
    becomes = ANSIBLE_BECOME_ROOT.findall(sudo)
    assert len(becomes) >= 10, sudo[-2000:]
    # The files the roles wrote were sent into the login user's remote tmp.
    tmp = root.file("/home/ansible/.ansible/tmp")
    assert tmp.is_directory and tmp.user == "ansible"


def test_deploy_user_is_unprivileged_without_become(host):
    assert host.check_output("id -un") == "ansible"
    assert host.run("cat /etc/faunadb/faunadb.yml").rc != 0


def test_fauna_is_a_system_user_without_a_shell(host):
    user = host.user("fauna")
    assert user.exists
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"


def test_release_is_unpacked_under_opt(host):
    launcher = host.file("/opt/faunadb/bin/faunadb")
    assert launcher.is_file and launcher.mode & 0o111
    assert launcher.user == "root"
    assert host.file("/opt/faunadb/bin/faunadb-admin").is_file


def test_config_is_private_and_strict(root, faunadb_config_keys):
    config = root.file("/etc/faunadb/faunadb.yml")
    assert (config.user, config.group, config.mode) == ("root", "fauna", 0o640)
    settings = yaml.safe_load(config.content_string)
    assert set(settings) <= faunadb_config_keys
    assert settings["network_broadcast_address"] == hostvars(root)["faunadb_address"]
    assert settings["cluster_name"] == "svctest"


def test_service_runs_enabled_with_skew_hook(root):
    service = root.service("faunadb")
    assert service.is_running
    assert service.is_enabled
    env = root.check_output("systemctl show faunadb -p Environment")
    assert "JAVA_OPTS=" in env
    assert "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1" in env
    assert "FAKETIME_TIMESTAMP_FILE=/etc/faunadb/faketime.rc" in env
    assert root.file("/etc/faunadb/faketime.rc").content_string.strip() == "+0"


def test_ports(host):
    address = hostvars(host)["faunadb_address"]
    assert host.socket("tcp://127.0.0.1:8444").is_listening  # admin API stays on loopback
    assert host.socket(f"tcp://{address}:8443").is_listening
    assert host.socket(f"tcp://{address}:7500").is_listening
    assert not host.socket(f"tcp://{address}:8444").is_listening


def test_no_faunadb_process_is_left_frozen(root):
    # side_effect.yml SIGSTOPs one node's service, then runs heal.yml.
    states = root.check_output(
        "cg=$(systemctl show -p ControlGroup --value faunadb);"
        ' for p in $(cat "/sys/fs/cgroup$cg/cgroup.procs" 2>/dev/null'
        " || systemctl show -p MainPID --value faunadb); do awk '{print $3}' /proc/$p/stat; done"
    ).split()
    assert states and "T" not in states


def test_root_key_never_on_a_command_line(root):
    key = hostvars(root)["faunadb_root_key"]
    assert key not in root.check_output("ps -eo args")


def test_status_shows_three_data_log_replicas_all_up(root):
    # faunadb.yml holds only the key's hash: faunadb-admin finds the config
    # through FAUNADB_CONFIG (it ignores -c) and takes the key from
    # FAUNADB_ROOT_KEY. The key reaches the node in a root-only file that
    # Ansible templates from the inventory, never on a command line.
    keyfile = "/run/faunadb-verify.key"
    root.ansible(
        "copy",
        f"content={{{{ faunadb_root_key }}}} dest={keyfile} mode=0600",
        become=True,
        check=False,
    )
    try:
        out = root.check_output(
            f'FAUNADB_ROOT_KEY="$(cat {keyfile})" FAUNADB_CONFIG=/etc/faunadb/faunadb.yml'
            " /opt/faunadb/bin/faunadb-admin --json status 2>/dev/null"
        )
    finally:
        root.ansible("file", f"path={keyfile} state=absent", become=True, check=False)
    status = json.loads(out)
    assert sorted((r["name"], r["type"]) for r in status["replica_info"]) == [
        ("replica1", "data+log"), ("replica2", "data+log"), ("replica3", "data+log"),
    ]  # fmt: skip
    assert [n["status"] for n in status["nodes"]] == ["up", "up", "up"]


def test_write_ping_answers(host):
    address = hostvars(host)["faunadb_address"]
    probe = (
        "import urllib.request;"
        f"print(urllib.request.urlopen('http://{address}:8443/ping?scope=write').read().decode())"
    )
    assert json.loads(host.check_output(f'python3 -c "{probe}"')) == {
        "resource": "Scope write is OK"
    }
