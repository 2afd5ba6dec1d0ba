"""playbooks/preflight.yml stops a broken inventory before anything changes.

No Docker: preflight only checks variables and reads or generates the root
key. Each case writes a small inventory (3 replicas x 1 node and a load
balancer) into a tmp dir, so a generated key lands in <tmp>/.secrets and the
test can tell that a failed run wrote nothing at all.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def dropped_none(variables: dict) -> dict:
    return {k: v for k, v in variables.items() if v is not None}


def inventory(
    nodes: dict | None = None, cluster: dict | None = None, lb: dict | None = None
) -> dict:
    """A valid inventory; overrides per host (None drops a host or a variable)."""
    hosts = {
        "n1": {"faunadb_replica": "r1", "faunadb_address": "172.28.0.11"},
        "n2": {"faunadb_replica": "r2", "faunadb_address": "172.28.0.12"},
        "n3": {"faunadb_replica": "r3", "faunadb_address": "172.28.0.13"},
    }
    for host, overrides in (nodes or {}).items():
        if overrides is None:
            del hosts[host]
        else:
            hosts[host] = dropped_none({**hosts.get(host, {}), **overrides})
    lb_vars = dropped_none({"faunadb_lb_address": "172.28.0.2", **(lb or {})})
    local = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    }
    return {
        "all": {
            "vars": {"faunadb_cluster_name": "pftest", **(cluster or {})},
            "children": {
                "faunadb_nodes": {"vars": local, "hosts": hosts},
                "faunadb_lb": {"vars": local, "hosts": {"lb1": lb_vars}},
            },
        }
    }


def preflight(tmp_path: Path, inv: dict, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run preflight; return the run and its error messages, unwrapped."""
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    proc = subprocess.run(
        [
            str(ROOT / ".venv/bin/ansible-playbook"),
            "-i",
            str(path),
            "playbooks/preflight.yml",
            *args,
        ],
        cwd=ROOT,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Ansible prints each failure once unwrapped: after [ERROR], up to Origin.
    output = f"{proc.stdout}\n{proc.stderr}"
    errors = "\n".join(re.findall(r"\[ERROR\]: (.*?)^Origin:", output, re.S | re.M))
    return proc, errors


def files(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))


# id, inventory, strings the error must hold (host, variable and value).
BAD = [
    (
        "bad_replica_name",
        inventory(nodes={"n1": {"faunadb_replica": "_r1"}}),
        ['n1: faunadb_replica is "_r1"'],
    ),
    (
        "missing_replica",
        inventory(nodes={"n2": {"faunadb_replica": None}}),
        ["n2: faunadb_replica is unset"],
    ),
    (
        "invalid_address",
        inventory(nodes={"n1": {"faunadb_address": "172.28.0.300"}}),
        ['n1: faunadb_address is "172.28.0.300"; it must be set to an IP address'],
    ),
    (
        "address_outside_subnet",
        inventory(nodes={"n3": {"faunadb_address": "10.0.0.5"}}),
        ['n3: faunadb_address is "10.0.0.5"', "inside faunadb_network_subnet 172.28.0.0/24"],
    ),
    (
        "address_is_gateway",
        inventory(nodes={"n3": {"faunadb_address": "172.28.0.1"}}),
        ['n3: faunadb_address is "172.28.0.1"', "other than 172.28.0.0, 172.28.0.255, 172.28.0.1"],
    ),
    (
        "bad_subnet",
        inventory(cluster={"faunadb_network_subnet": "172.28.0.5/24"}),
        ['faunadb_network_subnet is "172.28.0.5/24"'],
    ),
    (
        "duplicate_node_addresses",
        inventory(nodes={"n2": {"faunadb_address": "172.28.0.11"}}),
        ["faunadb_address", "shared: n1 = 172.28.0.11, n2 = 172.28.0.11"],
    ),
    (
        "lb_address_of_a_node",
        inventory(lb={"faunadb_lb_address": "172.28.0.13"}),
        ["faunadb_lb_address", "shared: n3 = 172.28.0.13, lb1 = 172.28.0.13"],
    ),
    (
        "lb_address_outside_subnet",
        inventory(lb={"faunadb_lb_address": "172.29.0.2"}),
        ['lb1: faunadb_lb_address is "172.29.0.2"'],
    ),
    (
        "missing_lb_address",
        inventory(lb={"faunadb_lb_address": None}),
        ["lb1: faunadb_lb_address is unset"],
    ),
    (
        "bad_lb_container_name",
        inventory(lb={"faunadb_lb_container_name": "lb 1"}),
        ["lb1: faunadb_lb_container_name", 'is "lb 1"'],
    ),
    (
        "unknown_replica_type_key",
        inventory(cluster={"faunadb_replica_types": {"r9": "compute"}}),
        ['faunadb_replica_types is {"r9": "compute"}', "(r1, r2, r3); unknown: r9."],
    ),
    (
        "bad_replica_type",
        inventory(cluster={"faunadb_replica_types": {"r1": "witness"}}),
        ['faunadb_replica_types is {"r1": "witness"}', "one of: compute, data, data+log"],
    ),
    (
        "bad_default_replica_type",
        inventory(cluster={"faunadb_default_replica_type": "log"}),
        ['faunadb_default_replica_type "log"', "one of: compute, data, data+log"],
    ),
    (
        "no_data_log_replica",
        inventory(cluster={"faunadb_default_replica_type": "compute"}),
        ["no replica is data+log", 'faunadb_default_replica_type "compute"'],
    ),
    (
        "one_data_log_replica",
        inventory(cluster={"faunadb_replica_types": {"r2": "compute", "r3": "data"}}),
        ["only 1 replica(s) are data+log (r1;", "faunadb_allow_fewer_data_log_replicas"],
    ),
    (
        "two_data_log_replicas",
        inventory(cluster={"faunadb_replica_types": {"r3": "compute"}}),
        ["only 2 replica(s) are data+log (r1, r2;", 'faunadb_replica_types {"r3": "compute"}'],
    ),
    # Unchecked, the key would land in <tmp>/x.root_key, outside <tmp>/.secrets.
    (
        "cluster_name_escaping_secrets",
        inventory(cluster={"faunadb_cluster_name": "bad name/../../x"}),
        ['faunadb_cluster_name is "bad name/../../x"'],
    ),
    (
        "cluster_name_with_newline",
        inventory(cluster={"faunadb_cluster_name": "fauna\n"}),
        ['faunadb_cluster_name is "fauna\\n"'],
    ),
    (
        "bad_deploy_mode",
        inventory(cluster={"faunadb_deploy_mode": "vm"}),
        ['faunadb_deploy_mode is "vm"', "must be one of: container, service"],
    ),
    (
        "bad_container_name",
        inventory(nodes={"n2": {"faunadb_container": "node/2"}}),
        ["n2: faunadb_container", 'is "node/2"'],
    ),
    (
        "bad_host_name",
        inventory(
            nodes={"n1": None, "n@1": {"faunadb_replica": "r1", "faunadb_address": "172.28.0.11"}}
        ),
        ['n@1: faunadb_container (the inventory hostname unless set) is "n@1"'],
    ),
    (
        "bad_network_name",
        inventory(cluster={"faunadb_network": "my net"}),
        ['faunadb_network is "my net"'],
    ),
    # n1 (the host the checks run on) is in service mode; n2 is in container
    # mode by the role's default, which hostvars alone would not show.
    (
        "mode_from_role_default",
        inventory(
            nodes={
                "n1": {"faunadb_deploy_mode": "service", "faunadb_address": "10.0.1.10"},
                "n2": {"faunadb_address": "10.0.0.5"},
            }
        ),
        ['n2: faunadb_address is "10.0.0.5"', "inside faunadb_network_subnet 172.28.0.0/24"],
    ),
    # Left to the role's argument spec, which validate.yml runs last.
    (
        "bad_type",
        inventory(cluster={"faunadb_images_build": "perhaps"}),
        ["faunadb_images_build", "perhaps"],
    ),
]


@pytest.mark.parametrize(
    ("inv", "expected"),
    [pytest.param(inv, expected, id=name) for name, inv, expected in BAD],
)
def test_bad_inventory_fails_before_anything_changes(tmp_path, inv, expected):
    proc, errors = preflight(tmp_path, inv)
    assert proc.returncode != 0, proc.stdout[-3000:]
    for text in expected:
        assert text in errors, f"{text!r} not in:\n{errors or proc.stdout[-3000:]}"
    # Not even the root key: validation failed before it was read or written.
    assert files(tmp_path) == ["inventory.yml"]


@pytest.mark.parametrize(
    "inv",
    [
        pytest.param(inventory(), id="container"),
        pytest.param(
            inventory(
                cluster={"faunadb_deploy_mode": "service"},
                nodes={f"n{i}": {"faunadb_address": f"10.0.{i}.10"} for i in (1, 2, 3)},
            ),
            id="service",
        ),
        pytest.param(
            inventory(
                cluster={
                    "faunadb_replica_types": {"r2": "compute", "r3": "data"},
                    "faunadb_allow_fewer_data_log_replicas": True,
                }
            ),
            id="fewer_data_log_allowed",
        ),
        # Templated from a role default, the way defaults/main.yml picks the test double.
        pytest.param(
            inventory(cluster={"faunadb_node_image": "{{ faunadb_test_double_image }}"}),
            id="value_from_role_default",
        ),
    ],
)
def test_valid_inventory_passes(tmp_path, inv):
    proc, errors = preflight(tmp_path, inv)
    assert proc.returncode == 0, f"{errors}\n{proc.stdout[-3000:]}"
    key = tmp_path / ".secrets" / "pftest.root_key"
    assert files(tmp_path) == [".secrets", ".secrets/pftest.root_key", "inventory.yml"]
    assert key.stat().st_mode & 0o777 == 0o600


def test_limit_checks_the_hosts_it_keeps(tmp_path):
    inv = inventory(nodes={"n2": {"faunadb_replica": "_r2"}})
    proc, errors = preflight(tmp_path, inv, "--limit", "n2")
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert 'n2: faunadb_replica is "_r2"' in errors, errors or proc.stdout[-3000:]
    assert files(tmp_path) == ["inventory.yml"]


def test_a_role_run_without_preflight_still_checks_the_shared_variables(tmp_path):
    # After preflight the roles skip their check of the shared variables
    # (roles/*/meta/main.yml); run alone, a role must still refuse them.
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory(cluster={"faunadb_images_build": "perhaps"})))
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(path), "playbooks/cluster.yml"],
        cwd=ROOT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = f"{proc.stdout}\n{proc.stderr}"
    assert proc.returncode != 0, output[-3000:]
    assert "Validating arguments against arg spec 'main' - Settings shared" in output
    assert "faunadb_images_build" in output and "perhaps" in output, output[-3000:]
