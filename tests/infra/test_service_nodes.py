"""Testinfra checks of service-mode nodes, run by `molecule verify -s service`."""

from __future__ import annotations

import json
import os

import pytest
import yaml

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "service",
    reason="runs in molecule verify -s service",
)


def hostvars(host):
    return host.ansible.get_variables()


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


def test_config_is_private_and_strict(host, faunadb_config_keys):
    config = host.file("/etc/faunadb/faunadb.yml")
    assert (config.user, config.group, config.mode) == ("root", "fauna", 0o640)
    settings = yaml.safe_load(config.content_string)
    assert set(settings) <= faunadb_config_keys
    assert settings["network_broadcast_address"] == hostvars(host)["faunadb_address"]
    assert settings["cluster_name"] == "svctest"


def test_service_runs_enabled_with_skew_hook(host):
    service = host.service("faunadb")
    assert service.is_running
    assert service.is_enabled
    env = host.check_output("systemctl show faunadb -p Environment")
    assert "JAVA_OPTS=" in env
    assert "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1" in env
    assert "FAKETIME_TIMESTAMP_FILE=/etc/faunadb/faketime.rc" in env
    assert host.file("/etc/faunadb/faketime.rc").content_string.strip() == "+0"


def test_ports(host):
    address = hostvars(host)["faunadb_address"]
    assert host.socket("tcp://127.0.0.1:8444").is_listening  # admin API stays on loopback
    assert host.socket(f"tcp://{address}:8443").is_listening
    assert host.socket(f"tcp://{address}:7500").is_listening
    assert not host.socket(f"tcp://{address}:8444").is_listening


def test_root_key_never_on_a_command_line(host):
    key = hostvars(host)["faunadb_root_key"]
    assert key not in host.check_output("ps -eo args")


def test_status_shows_three_data_log_replicas_all_up(host):
    # faunadb-admin reads the key from the config (root only), not from argv.
    out = host.check_output(
        "/opt/faunadb/bin/faunadb-admin -c /etc/faunadb/faunadb.yml --json status 2>/dev/null"
    )
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
