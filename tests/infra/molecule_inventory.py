"""The scenario's inventory as the verifiers read it: molecule links it into
the ephemeral inventory directory."""

from __future__ import annotations

import os
from pathlib import Path

from testinfra.utils.ansible_runner import AnsibleRunner

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "."))
INVENTORY = str(EPHEMERAL / "inventory")


def nodes_and_lbs(active: bool) -> tuple[dict, dict]:
    """{name: variables} of faunadb_nodes and of faunadb_lb; empty outside the scenario."""
    if not active:
        return {}, {}
    runner = AnsibleRunner(INVENTORY)
    nodes = {name: runner.get_variables(name) for name in runner.get_hosts("faunadb_nodes")}
    lbs = {name: runner.get_variables(name) for name in runner.get_hosts("faunadb_lb")}
    return nodes, lbs
