"""What the integration tests that drive playbooks share: running
ansible-playbook, reading its recap, and writing a small container-mode
inventory of the double on a network of the test's own.

tests/integration/conftest.py puts this folder on sys.path.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from faunadb_double.testing import project_image

ROOT = Path(__file__).resolve().parents[2]
_LOCAL = {
    "ansible_connection": "local",
    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
}


def ansible_playbook(
    inventory: Path, *args: str, check: bool = True, env: dict | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run ansible-playbook from the repository root; with check, fail the test on rc != 0.

    env adds to the environment; a value of None removes the variable."""
    full_env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), *args],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        pytest.fail(f"ansible-playbook {' '.join(args)} failed:\n{tail}")
    return proc


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines as {host: {ok: n, changed: n, failed: n, ...}}."""
    hosts = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        hosts[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return hosts


def write_inventory(
    path: Path, cluster: str, subnet: str, nodes: dict[str, str], lb: dict | None = None, **extra
) -> Path:
    """A 3-replica container-mode inventory of the double: node name -> address, replica i
    for the i-th node; lb is {name: {faunadb_lb_address, faunadb_lb_publish_port}}."""
    inventory = {
        "all": {
            "vars": {
                "faunadb_cluster_name": cluster,
                "faunadb_network": f"faunadb-{cluster}",
                "faunadb_network_subnet": subnet,
                "faunadb_node_image": project_image(),
                "faunadb_node_env": {"FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": "0.3",
                                     "FAUNADB_DOUBLE_MOVEMENT_SECONDS": "3"},
                "faunadb_node_memory": "256m",
                **extra,
            },
            "children": {
                "docker_hosts": {"hosts": {"localhost": _LOCAL}},
                "faunadb_nodes": {
                    "vars": _LOCAL,
                    "hosts": {
                        name: {"faunadb_address": address, "faunadb_replica": f"replica{i}"}
                        for i, (name, address) in enumerate(nodes.items(), start=1)
                    },
                },
                **({"faunadb_lb": {"vars": _LOCAL, "hosts": lb}} if lb else {}),
            },
        }
    }
    path.write_text(yaml.safe_dump(inventory))
    return path


def docker_names(cluster: str, *, all_states: bool = False) -> dict[str, str]:
    """Containers labelled with the cluster: name -> state."""
    out = subprocess.run(
        ["docker", "ps", *(["-a"] if all_states else []), "--filter",
         f"label=org.faunalab.cluster={cluster}", "--format", "{{.Names}} {{.State}}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(line.split() for line in out.splitlines())


def derive_inventory(source: Path, path: Path, *, cluster: str, prefix: str, subnet: str,
                     lb_port: int, **extra) -> Path:
    """source (an inventory like inventory/real.yml) under other names: cluster, network,
    subnet (its first three octets, e.g. "172.29.60") and load balancer port, each host's
    name with its first "_"-separated word replaced by prefix; extra vars go on top."""
    inventory = yaml.safe_load(source.read_text())
    top = inventory["all"]
    old_subnet = top["vars"]["faunadb_network_subnet"].rsplit(".", 1)[0]
    top["vars"].update(faunadb_cluster_name=cluster, faunadb_network=f"faunadb-{cluster}",
                       faunadb_network_subnet=f"{subnet}.0/24", **extra)

    def renamed(hosts: dict, **more) -> dict:
        out = {}
        for name, values in hosts.items():
            moved = {k: v.replace(f"{old_subnet}.", f"{subnet}.") if k.endswith("_address")
                     and isinstance(v, str) else v for k, v in (values or {}).items()}
            out[prefix + name.split("_", 1)[1]] = dict(moved, **more)
        return out

    children = top["children"]
    children["faunadb_lb"]["hosts"] = renamed(children["faunadb_lb"]["hosts"],
                                              faunadb_lb_publish_port=lb_port)
    for replica in children["faunadb_nodes"]["children"].values():
        replica["hosts"] = renamed(replica["hosts"])
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path
