#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_info
short_description: Read a FaunaDB cluster's status as structured data
description:
  - Runs C(faunadb-admin status) (with C(--json) when the binary accepts it, else the text table of
    the
    current release or of 2.x), and optionally C(movement-status), C(show-identity) and
    C(show-replication).
  - Returns every replica with its type, every node with its columns, and summaries a playbook can
    gate
    on, such as whether all nodes are up and live and whether a write quorum holds.
  - A node that is not part of a cluster yet is not an error; RV(member) is then V(false).
version_added: "0.1.0"
author: FaunaDB lab project
options:
  gather:
    description:
      - What to read. V(status) fills RV(replicas), RV(replica_types), RV(nodes) and RV(summary);
        V(status_text) fills RV(status_text) with the table as printed; V(movement) fills
        RV(movement); V(identity) fills RV(host_id) and RV(node); V(replication) fills
        RV(replication) from C(show-replication); V(version) fills RV(version) from
        C(host-version), what the node says it runs (a report names the system under test).
      - V(status_text), V(movement) and V(replication) are skipped on a node that is not a member.
      - V(version) alone reads nothing else (RV(member) is then not returned).
    type: list
    elements: str
    choices: [status, status_text, movement, identity, replication, version]
    default: [status, movement]
  status_format:
    description:
      - How to read C(status). V(auto) asks for C(--json) and falls back to the text table when the
        binary
        rejects the flag; V(text) always reads the table; V(json) fails unless JSON comes back.
      - With V(status_text) gathered, V(auto) reads the table alone and parses it, one
        C(faunadb-admin) call (a JVM start) instead of two.
    type: str
    choices: [auto, json, text]
    default: auto
  expect_nodes:
    description:
      - Address to replica of every node the cluster must have. With it, V(status) and
        V(movement) are read whatever O(gather) says, and RV(problems) tells why the cluster is
        not yet the one wanted.
    type: dict
  replica_types:
    description:
      - With O(expect_nodes), the type each named replica must have, as in M(faunadb_replication).
    type: dict
extends_documentation_fragment:
  - faunadb
  - faunadb.attributes
  - faunadb.attributes_info
attributes:
  check_mode:
    details: The module only reads; it runs the same commands in check mode.
seealso:
  - module: faunadb_status
"""

EXAMPLES = r"""
- name: Read the cluster status from the seed node
  faunadb_info:
    config_path: /etc/faunadb/faunadb.yml
  register: _faunadb
  run_once: true

- name: Stop unless every node is up and writes can commit
  ansible.builtin.assert:
    that:
      - _faunadb.member
      - _faunadb.summary.all_up_and_live
      - _faunadb.summary.write_quorum
      - _faunadb.summary.data_log_replicas | length == 3
    fail_msg: "Nodes down: {{ _faunadb.summary.nodes_down }}"

- name: Read a containerised node, with its identity
  faunadb_info:
    executor: docker
    container: replica1_node1
    gather: [status, identity]
  register: _node
"""

RETURN = r"""
member:
  description: Whether this node is part of a cluster. V(false) before C(init) or C(join).
  returned: always
  type: bool
  sample: true
source:
  description: Which output of C(status) was parsed.
  returned: when V(status) is gathered and the node is a member
  type: str
  sample: json
  choices: [json, text]
replicas:
  description: Replicas in name order, with their type (V(data+log), V(data), V(compute) or
    V(unknown type)).
  returned: when V(status) is gathered
  type: list
  elements: dict
  sample: [{"name": "replica1", "type": "data+log"}]
replica_types:
  description: The same as RV(replicas), as a mapping from name to type.
  returned: when V(status) is gathered
  type: dict
  sample: {"replica1": "data+log", "replica2": "compute"}
nodes:
  description:
    - One entry per node. C(worker_id) and C(log_segment) are integers or V(null) (C(n/a), C(none),
      C(Uninitialized)); C(owns) and C(goal) are percentages; C(persisted_timestamp) is an ISO
      instant
      or V(null) (C(none), C(not reported), and always on 2.x).
  returned: when V(status) is gathered
  type: list
  elements: dict
  sample:
    - replica: replica1
      replica_type: data+log
      status: up
      state: live
      up_and_live: true
      worker_id: 512
      log_segment: 0
      log_segment_leader: true
      address: 172.30.0.11
      owns: 33.4
      goal: 33.4
      host_id: 9b2f3a10-1c1e-4a57-9d7e-0c1e2f3a4b5c
      persisted_timestamp: "2026-01-01T12:00:00.123Z"
summary:
  description:
    - Facts computed from RV(nodes). Removed nodes are left out of every count except
      C(nodes_removed).
    - C(write_quorum) is true when more than half of the data+log replicas have at least one node
      up and live.
    - C(data_replicas_down) lists the data and data+log replicas with no node up and live
      (also those listed with no node at all).
  returned: when V(status) is gathered
  type: dict
  sample:
    nodes_total: 3
    nodes_up_and_live: 3
    all_up_and_live: true
    nodes_down: []
    nodes_not_live: []
    nodes_removed: []
    replicas_by_type: {"data+log": ["replica1", "replica2", "replica3"]}
    replicas_down: []
    data_log_replicas: ["replica1", "replica2", "replica3"]
    data_log_replicas_live: ["replica1", "replica2", "replica3"]
    data_replicas_live: ["replica1", "replica2", "replica3"]
    data_replicas_down: []
    write_quorum: true
    log_segment_leaders: ["172.30.0.11"]
movement:
  description: Parsed C(movement-status). C(settled) is true when no data movement is in progress.
  returned: when V(movement) is gathered and the node is a member
  type: dict
  sample: {"settled": false, "message": "12.5% of tokens in 3 segments moving to 2 nodes in 1
    replicas.",
           "progress": "12.5%", "segments": 3, "nodes": 2, "replicas": 1}
host_id:
  description: This node's host ID, from C(show-identity).
  returned: when V(identity) is gathered and the node has one
  type: str
  sample: 9b2f3a10-1c1e-4a57-9d7e-0c1e2f3a4b5c
node:
  description: This node's entry of RV(nodes).
  returned: when V(identity) and V(status) are gathered and the node is a member
  type: dict
status_text:
  description: The text table of C(faunadb-admin status), as printed.
  returned: when V(status_text) is gathered and the node is a member
  type: str
  sample: "\nReplica: replica1 (data+log)\n============================\nStatus  State ..."
version:
  description: The version C(host-version) prints after C(Fauna ) (a real node's
    C(25.02.07.dev-4f8f8be); the project's test double says C(1.0.0-double)).
  returned: when V(version) is gathered
  type: str
  sample: 25.02.07.dev-4f8f8be
replication:
  description: Replica name to type, from C(show-replication).
  returned: when V(replication) is gathered and the node is a member
  type: dict
  sample: {"replica1": "data+log"}
problems:
  description:
    - Why the cluster read is not yet the one O(expect_nodes) and O(replica_types) describe,
      empty when it is. Wanted is what M(faunadb_status) waits for with V(condition=healthy)
      (every node up and live, a write quorum, every data replica served, the types, no data
      movement), and every expected node listed in its replica.
  returned: when O(expect_nodes) is given
  type: list
  elements: str
  sample: ["172.30.0.13 is not listed", "replica replica2 is compute, expected data+log"]
commands:
  description: faunadb-admin command lines run. The root key is never part of them.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.faunadb_admin import AdminCommandError, FaunaAdmin
from ansible.module_utils.faunadb_common import (
    FAUNADB_REQUIRED_IF,
    faunadb_argument_spec,
)
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_parse_status import replica_types, summarize
from ansible.module_utils.faunadb_plan import cluster_problems, own_node

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        gather=dict(
            type="list",
            elements="str",
            choices=["status", "status_text", "movement", "identity", "replication", "version"],
            default=["status", "movement"],
        ),
        status_format=dict(type="str", choices=["auto", "json", "text"], default="auto"),
        expect_nodes=dict(type="dict"),
        replica_types=dict(type="dict"),
    )
)


def gather_info(module, admin):
    gather = set(module.params["gather"])
    expected = module.params["expect_nodes"]
    if expected is not None:
        gather |= {"status", "movement"}
    if gather == {"version"}:
        return dict(changed=False, version=admin.version())
    # Membership decides what else can be read, so status is always asked
    # for; it is only returned when gathered.
    fmt = module.params["status_format"]
    if fmt == "auto" and "status_text" in gather:
        fmt = "text"
    if "movement" in gather:
        status, movement = admin.membership_and_movement(fmt)
    else:
        status, movement = admin.membership(fmt), None
    result = dict(changed=False, member=status is not None)
    if "status" in gather:
        if status is None:
            status = dict(replicas=[], nodes=[])
        else:
            result["source"] = status["source"]
        result.update(
            replicas=status["replicas"],
            replica_types=replica_types(status),
            nodes=status["nodes"],
            summary=summarize(status),
        )
    if "identity" in gather:
        try:
            result["host_id"] = admin.identity()
        except AdminCommandError as exc:
            if exc.kind != "not_member":
                raise
        if result.get("host_id") and result["member"] and "status" in gather:
            result["node"] = own_node(status, result["host_id"])
    if result["member"] and "status_text" in gather:
        # The table exactly as an operator would see it, for logs and reports.
        result["status_text"] = (
            admin.status_text if admin.status_text is not None else admin.run("status").stdout
        )
    if result["member"] and "movement" in gather:
        result["movement"] = movement()
    if result["member"] and "replication" in gather:
        result["replication"] = admin.replication()
    if "version" in gather:
        result["version"] = admin.version()
    if expected is not None:
        result["problems"] = (
            cluster_problems(status, result["movement"], expected, module.params["replica_types"])
            if result["member"]
            else ["this node is not part of a cluster"]
        )
    return result


def main():
    run_module(
        "faunadb_info", gather_info, FaunaAdmin.from_module,
        argument_spec=ARGUMENT_SPEC, required_if=FAUNADB_REQUIRED_IF,
    )


if __name__ == "__main__":
    main()
