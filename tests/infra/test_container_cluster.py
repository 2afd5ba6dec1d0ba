"""Testinfra checks of a container-mode cluster, run by `molecule verify -s default`.

Nodes are reached through the Docker API (testinfra's docker backend runs
commands inside the container; nothing needs Python there). Expected values
come from the scenario's inventory.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
import testinfra
import yaml
from molecule_inventory import nodes_and_lbs

IN_SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME") == "default"
pytestmark = pytest.mark.skipif(not IN_SCENARIO, reason="runs in molecule verify -s default")
NODES, LBS = nodes_and_lbs(IN_SCENARIO)


def listening(host, port: int) -> set[str]:
    """Addresses listening on port, read from /proc/net/tcp (images carry no ss)."""
    found = set()
    for line in host.file("/proc/net/tcp").content_string.splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:
            octets = [str(int(address[i : i + 2], 16)) for i in range(6, -1, -2)]
            found.add(".".join(octets))
    return found


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_container_keeps_its_address_and_restarts(engine, name):
    attrs = engine.containers.get(name).attrs
    assert attrs["State"]["Running"]
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    networks = attrs["NetworkSettings"]["Networks"]
    (network,) = networks.values()
    assert network["IPAMConfig"]["IPv4Address"] == NODES[name]["faunadb_address"]
    assert attrs["HostConfig"]["Memory"] > 0  # resource limits are set


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_config_is_private_and_strict(name, faunadb_config_keys):
    host = testinfra.get_host(f"docker://{name}")
    config = host.file("/etc/faunadb/faunadb.yml")
    # Readable by the server's group (uid/gid 999 in the image) and nobody else.
    assert (config.user, config.gid, config.mode) == ("root", 999, 0o640)
    settings = yaml.safe_load(config.content_string)
    assert "auth_root_key" not in settings
    assert settings["auth_root_key_hash"].startswith("$2a$")
    assert set(settings) <= faunadb_config_keys
    assert settings["network_broadcast_address"] == NODES[name]["faunadb_address"]
    assert settings["cluster_name"] == NODES[name]["faunadb_cluster_name"]


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_process_has_the_skew_hook_and_no_key_in_argv(name):
    host = testinfra.get_host(f"docker://{name}")
    environ = dict(
        item.split("=", 1)
        for item in host.file("/proc/1/environ").content_string.split("\0")
        if "=" in item
    )
    assert environ["LD_PRELOAD"].endswith("libfaketime.so.1")
    assert environ["FAKETIME_TIMESTAMP_FILE"] == "/etc/faunadb/faketime.rc"
    assert environ["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"
    assert environ["FAKETIME_FORCE_MONOTONIC_FIX"] == "0"  # else an idle JVM burns ~2 cores
    assert environ["JAVA_OPTS"] == ""
    assert host.file("/etc/faunadb/faketime.rc").content_string.strip() == "+0"
    secrets = Path(__file__).resolve().parents[1] / "integration" / "site" / ".secrets"
    key = (secrets / f"{NODES[name]['faunadb_cluster_name']}.root_key").read_text().strip()
    cmdline = host.file("/proc/1/cmdline").content_string.replace("\0", " ")
    assert "faunadb.yml" in cmdline and key not in cmdline
    assert key not in "".join(environ.values())


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_ports(name):
    host = testinfra.get_host(f"docker://{name}")
    address = NODES[name]["faunadb_address"]
    assert listening(host, 8444) == {"127.0.0.1"}  # admin API never leaves the node
    assert listening(host, 8443) & {address, "0.0.0.0"}
    assert listening(host, 7500) & {address, "0.0.0.0"}


@pytest.mark.parametrize("name", sorted(LBS))
def test_load_balancer_fronts_every_node(engine, name):
    attrs = engine.containers.get(name).attrs
    port = LBS[name]["faunadb_lb_publish_port"]
    assert attrs["HostConfig"]["PortBindings"]["8443/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": str(port)}
    ]
    host = testinfra.get_host(f"docker://{name}")
    conf = host.file("/etc/nginx/nginx.conf").content_string
    for node in NODES.values():
        assert f"server {node['faunadb_address']}:8443" in conf
    # A query that reached a node is never replayed on another.
    directives = [line.split("#")[0] for line in conf.splitlines()]
    assert any("proxy_next_upstream error timeout;" in line for line in directives)
    assert not any("non_idempotent" in line for line in directives)
    assert host.run("nginx -t").rc == 0


def test_write_ping_through_the_load_balancer():
    (lb,) = LBS.values()
    url = f"http://127.0.0.1:{lb['faunadb_lb_publish_port']}/ping?scope=write"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert json.loads(resp.read()) == {"resource": "Scope write is OK"}
