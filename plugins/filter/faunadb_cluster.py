# Apache-2.0, like the rest of the project.
"""Filters of the faunadb_cluster role (plain Python: no Ansible imports, so the
unit tests load it without Ansible's controller code)."""

from __future__ import annotations


def faunadb_cluster_drift(info, nodes, replica_types):
    """Why a faunadb_info reading is not yet the cluster wanted (empty when it is).

    info is faunadb_info's result (gather status and movement); nodes maps
    every inventory node's address to its replica; replica_types maps replica
    to type. Wanted: every node listed in its replica, up and live, the types as
    wanted, a write quorum and no data movement. The cluster play skips its
    steps (each a faunadb-admin call, a JVM start, per node) when this is empty.
    """
    info = info or {}
    if not info or info.get("skipped"):
        return ["the cluster was not read"]
    if not info.get("member"):
        return [f"the node read is no member: {info.get('msg') or 'not part of a cluster'}"]
    listed = {n.get("address"): n for n in info.get("nodes", []) if n.get("state") != "removed"}
    problems = []
    for address, replica in sorted(nodes.items()):
        seen = listed.get(address)
        if seen is None:
            problems.append(f"{address} is not listed")
        elif seen.get("replica") != replica:
            problems.append(f"{address} is in {seen.get('replica')}, not {replica}")
        elif not seen.get("up_and_live"):
            problems.append(f"{address} is {seen.get('status')} and {seen.get('state')}")
    have = info.get("replica_types", {})
    for name, wanted in sorted(replica_types.items()):
        if have.get(name) != wanted:
            problems.append(f"replica {name} is {have.get(name, 'absent')}, not {wanted}")
    summary = info.get("summary", {})
    if not summary.get("write_quorum") or summary.get("data_replicas_down"):
        problems.append("no write quorum, or a data replica without a live node")
    if not (info.get("movement") or {}).get("settled"):
        problems.append((info.get("movement") or {}).get("message") or "movement unknown")
    return problems


class FilterModule:
    def filters(self):
        return {"faunadb_cluster_drift": faunadb_cluster_drift}
