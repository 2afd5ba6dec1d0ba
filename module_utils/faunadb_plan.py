"""Decisions of the faunadb_* modules, as pure functions of what was read.

Kept apart from the modules so the idempotence rules (already a member, other
replica, types already set, ...) are unit-tested without running anything.
"""

from __future__ import annotations

import re

from ansible.module_utils.faunadb_common import REPLICA_TYPES, FaunaDBError
from ansible.module_utils.faunadb_parse_status import replica_types, summarize

# Promote before demoting: demoting first could leave the cluster with fewer
# data+log replicas than it needs while the other half of the change waits.
TYPE_ORDER = ("data+log", "data", "compute")


def own_node(status, host_id):
    for node in status["nodes"]:
        if node.get("host_id") == host_id:
            return node
    return None


def plan_member(status, host_id, replica, seed=None):
    """Decide what `state=present` must do on this node.

    status is None when the node is not part of a cluster. Returns a dict with
    ``action`` ('init', 'join' or None) and ``changed``.
    """
    if status is None:
        return dict(action="join" if seed else "init", changed=True, node=None)
    node = own_node(status, host_id)
    if node is None:
        raise FaunaDBError(
            f"This node reports host ID {host_id}, but the cluster status lists no node with it; "
            "cannot tell which replica it belongs to",
            host_id=host_id,
        )
    if node["replica"] != replica:
        raise FaunaDBError(
            "This node ({}, host ID {}) is already a member of replica {!r}, not of the "
            "requested replica {!r}. A node keeps its replica name: remove it from the "
            "cluster and wipe its data directory to move it".format(
                node.get("address"), host_id, node["replica"], replica
            ),
            host_id=host_id,
            current_replica=node["replica"],
            wanted_replica=replica,
        )
    return dict(action=None, changed=False, node=node)


_DID_RE = {
    "init": re.compile(r"Node has initialized the cluster", re.I),
    "join": re.compile(r"Node has joined the cluster", re.I),
}
_DID_NOT_RE = re.compile(r"Node has NOT (?:initialized|joined) the cluster", re.I)


def cluster_operation_outcome(action, stdout):
    """Read what init/join actually did: both exit 0 even when they did nothing.

    Returns True (done), False (already a member: someone else got there
    first); raises on anything else.
    """
    if _DID_NOT_RE.search(stdout or ""):
        return False
    if _DID_RE[action].search(stdout or ""):
        return True
    raise FaunaDBError(
        'faunadb-admin {} exited 0 but printed neither "Node has {} the cluster." nor '
        '"Node has NOT ..."; output: {!r}'.format(
            action, "initialized" if action == "init" else "joined", (stdout or "").strip()
        ),
        stdout=stdout,
    )


def find_node(status, address=None, host_id=None):
    for node in status["nodes"]:
        if host_id is not None and node.get("host_id") == host_id:
            return node
        if address is not None and node.get("address") == address:
            return node
    return None


def plan_remove(status, address=None, host_id=None):
    """Return the node to remove, or None when it is already gone or being removed."""
    node = find_node(status, address=address, host_id=host_id)
    if node is None or node.get("state") == "removed":
        return None
    if not node.get("host_id"):
        raise FaunaDBError("Node %s has no host ID in the status output" % (address or host_id))
    return node


def check_replica_types(desired):
    bad_types = sorted(r for r, t in desired.items() if t not in REPLICA_TYPES)
    if bad_types:
        raise FaunaDBError(
            "Invalid replica type for {}: expected one of {}".format(
                ", ".join(f"{r}={desired[r]!r}" for r in bad_types), ", ".join(REPLICA_TYPES)
            )
        )


def plan_replication(current, desired):
    """Compare replica types and group the needed update-replica calls by type.

    current and desired map replica name -> type. Returns ``changes`` (one
    per replica), ``actions`` (one per target type, in TYPE_ORDER), and the
    predicted ``after`` mapping.
    """
    check_replica_types(desired)
    unknown = sorted(r for r in desired if r not in current)
    if unknown:
        raise FaunaDBError(
            "Unknown replica{} {}: the cluster has {}. A replica exists once a node has "
            "joined with that name".format(
                "s" if len(unknown) > 1 else "",
                ", ".join(unknown),
                ", ".join(sorted(current)) or "no replicas",
            ),
            unknown_replicas=unknown,
            current_replicas=dict(current),
        )
    changes = [
        dict(replica=r, before=current[r], after=desired[r])
        for r in sorted(desired)
        if current[r] != desired[r]
    ]
    actions = []
    for rtype in TYPE_ORDER:
        names = [c["replica"] for c in changes if c["after"] == rtype]
        if names:
            actions.append(dict(type=rtype, replicas=names))
    after = dict(current)
    after.update({c["replica"]: c["after"] for c in changes})
    return dict(changes=changes, actions=actions, after=after)


_UPDATED_RE = re.compile(r"Updated replicas? (?P<names>.+?) to type (?P<type>\S+?)\.?\s*$", re.M)


def confirm_update(stdout, action):
    """Check that update-replica said it updated exactly the replicas asked for."""
    match = _UPDATED_RE.search(stdout or "")
    named = set(re.split(r",\s*|\s+and\s+", match.group("names"))) if match else set()
    if not match or match.group("type") != action["type"] or named != set(action["replicas"]):
        raise FaunaDBError(
            "update-replica {} {} exited 0 but did not confirm the update; output: {!r}".format(
                action["type"], " ".join(action["replicas"]), (stdout or "").strip()
            ),
            stdout=stdout,
        )


def healthy_problems(status, summary, min_nodes, wanted_types):
    """Why a parsed status is not healthy (empty list when it is)."""
    problems = []
    if summary["nodes_total"] < min_nodes:
        problems.append(f"{summary['nodes_total']} nodes listed, expected at least {min_nodes}")
    if not summary["all_up_and_live"]:
        down = sorted(set(summary["nodes_down"] + summary["nodes_not_live"]), key=str)
        problems.append("nodes not up and live: {}".format(", ".join(map(str, down))))
    if not summary["write_quorum"]:
        live, total = len(summary["data_log_replicas_live"]), len(summary["data_log_replicas"])
        problems.append(f"no write quorum: {live} of {total} data+log replicas live")
    if summary["data_replicas_down"]:
        # Also a data replica listed with no nodes at all, which the node
        # counts above cannot see.
        down = ", ".join(summary["data_replicas_down"])
        problems.append(f"data replicas with no node up and live: {down}")
    types = replica_types(status)
    for name, wanted in sorted((wanted_types or {}).items()):
        if types.get(name) != wanted:
            problems.append(
                "replica {} is {}, expected {}".format(name, types.get(name, "absent"), wanted)
            )
    return problems


def cluster_problems(status, movement, expected_nodes, wanted_types):
    """Why a member's status and movement-status are not yet the cluster wanted (empty when
    they are): every expected node (address -> replica) listed in its replica, and the
    cluster healthy by healthy_problems with no data movement, the same judgement as a
    wait for condition=healthy.
    """
    listed = {n.get("address"): n for n in status["nodes"] if n.get("state") != "removed"}
    problems = []
    for address, replica in sorted(expected_nodes.items()):
        seen = listed.get(address)
        if seen is None:
            problems.append(f"{address} is not listed")
        elif seen.get("replica") != replica:
            problems.append(f"{address} is in {seen.get('replica')}, not {replica}")
    problems += healthy_problems(status, summarize(status), len(expected_nodes), wanted_types)
    if not (movement or {}).get("settled"):
        problems.append((movement or {}).get("message") or "movement unknown")
    return problems
