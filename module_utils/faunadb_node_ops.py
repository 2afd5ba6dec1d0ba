"""Node lifecycle operations for faunadb_node: picks the driver for the deploy mode.

faunadb_node (and through it heal, provisioning and every chaos scenario)
asks a NodeOps for the node's state and for the few things that change it:
start, stop, restart, kill, pause, resume, skew the clock, cut the node off
its peers, restore it; and for its lifecycle create it from a spec, enable,
disable and remove it. The code is split by concern:

- faunadb_node_plan: the states, the plan of an operation, NodeOps, run_operation;
- faunadb_node_docker: DockerNodeOps (container mode, the Docker API);
- faunadb_node_systemd: SystemdNodeOps (service mode: systemctl, signals, /proc, iptables);
- faunadb_node_parse: offsets, the skew file, /proc stat and systemctl output;
- faunadb_node_rules: the iptables rules of a cut-off;
- faunadb_node_lifecycle: the plan of present and absent;
- faunadb_node_container, faunadb_node_unit: what the two drivers do for them.

What is pure is a plain function, so unit tests need no engine and no systemd.
"""

from __future__ import annotations

from ansible.module_utils import faunadb_executor, faunadb_node_container
from ansible.module_utils.faunadb_node_docker import DockerNodeOps
from ansible.module_utils.faunadb_node_parse import DEFAULT_FAKETIME_FILE
from ansible.module_utils.faunadb_node_rules import DEFAULT_CUT_OFF_PORTS
from ansible.module_utils.faunadb_node_systemd import SystemdNodeOps


def make_node_ops(module):
    """DockerNodeOps for executor=docker, SystemdNodeOps for executor=local."""
    params = module.params
    faketime_file = params.get("faketime_file") or DEFAULT_FAKETIME_FILE
    if params["executor"] == "docker":
        return DockerNodeOps(
            faunadb_executor.make_executor(module),
            network=params.get("network"),
            address=params.get("address"),
            faketime_file=faketime_file,
            stop_timeout=params.get("stop_timeout"),
            spec=params.get("spec"),
            volumes=faunadb_node_container.data_volumes(params["container"])
            if params.get("state") == "absent" and not params.get("keep_data") else (),
        )
    return SystemdNodeOps(
        service=params.get("service") or "faunadb",
        peers=params.get("peers") or [],
        ports=params.get("cut_off_ports") or DEFAULT_CUT_OFF_PORTS,
        faketime_file=faketime_file,
        timeout=params.get("command_timeout") or 120,
    )
