#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_replication
short_description: Ensure the types of FaunaDB replicas (compute, data, data+log)
description:
  - Reads the current replica types (C(faunadb-admin show-replication), or C(status) on a binary
    without it),
    compares them with O(replicas), and runs C(faunadb-admin update-replica TYPE R...) only for the
    replicas
    that differ, one call per target type.
  - Replicas not named in O(replicas) are left as they are.
  - Promotions run before demotions, so a cluster never passes through fewer data+log replicas than
    the
    start or the end state has.
  - Run it on one member node (for example with C(run_once)); the replication configuration is
    cluster-wide.
version_added: "0.1.0"
author: FaunaDB lab project
options:
  replicas:
    description:
      - Desired type per replica name (see EXAMPLES).
      - Types are V(compute) (coordinates queries, holds no data), V(data) (holds a full copy) and
        V(data+log)
        (holds a copy and takes part in the transaction log; writes need a majority of these).
      - Every replica must already exist, that is, a node must have joined with that name;
        otherwise the task
        fails naming the unknown replicas and the known ones.
    type: dict
    required: true
extends_documentation_fragment:
  - faunadb
  - faunadb.attributes
attributes:
  check_mode:
    details:
      - On a node that is not part of a cluster yet (a first C(--check) run), every listed replica
        is predicted to change, with a warning. Outside check mode that situation fails.
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - Changing a type starts data movement. Wait for it with M(faunadb_status) and
    O(faunadb_status#module:condition=movement) before the next topology change.
seealso:
  - module: faunadb_member
  - module: faunadb_status
"""

EXAMPLES = r"""
- name: Make the three replicas of the demo data+log replicas
  faunadb_replication:
    replicas:
      replica1: data+log
      replica2: data+log
      replica3: data+log
    config_path: /etc/faunadb/faunadb.yml
    root_key: "{{ faunadb_root_key }}"
  run_once: true

- name: Same, through the seed node's container
  faunadb_replication:
    executor: docker
    container: replica1_node1
    replicas: "{{ faunadb_replica_types }}"
  run_once: true
"""

RETURN = r"""
replicas:
  description: Type of every replica of the cluster after the task (predicted in check mode).
  returned: always
  type: dict
  sample: {"replica1": "data+log", "replica2": "data+log", "replica3": "compute"}
changes:
  description: The replicas whose type differed, with their type before and after.
  returned: always
  type: list
  elements: dict
  sample: [{"replica": "replica2", "before": "compute", "after": "data+log"}]
actions:
  description: The update-replica calls made (planned, in check mode), one per target type, in
    order.
  returned: always
  type: list
  elements: dict
  sample: [{"type": "data+log", "replicas": ["replica2", "replica3"]}]
commands:
  description: faunadb-admin command lines run, reads included. The root key is never part of them.
  returned: always
  type: list
  elements: str
  sample: ["faunadb-admin show-replication", "faunadb-admin update-replica data+log replica2
    replica3"]
"""

from ansible.module_utils.faunadb_admin import AdminCommandError, FaunaAdmin
from ansible.module_utils.faunadb_common import (
    FAUNADB_REQUIRED_IF,
    faunadb_argument_spec,
    validate_replica_name,
)
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_plan import (
    check_replica_types,
    confirm_update,
    plan_replication,
)

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        replicas=dict(type="dict", required=True),
    )
)


def ensure_replication(module, admin):
    desired = {}
    for name, rtype in module.params["replicas"].items():
        desired[validate_replica_name(name)] = rtype if isinstance(rtype, str) else str(rtype)
    check_replica_types(desired)
    try:
        current = admin.replication()
    except AdminCommandError as exc:
        if not (exc.kind == "not_member" and module.check_mode):
            raise
        # A --check run over a cluster that does not exist yet: the init and
        # joins before this task were only predicted, so predict from nothing.
        module.warn(
            "This node is not part of a cluster yet; check mode assumes every listed "
            "replica will need its type set"
        )
        current = dict.fromkeys(desired)
    plan = plan_replication(current, desired)
    result = dict(
        changed=bool(plan["actions"]),
        replicas=plan["after"],
        changes=plan["changes"],
        actions=plan["actions"],
    )
    if module._diff:
        result["diff"] = dict(
            before=dict(replicas=dict(current)), after=dict(replicas=plan["after"])
        )
    if module.check_mode or not plan["actions"]:
        return result

    # Its answer names the replicas and the type it set; reading the configuration
    # back would cost another JVM start, and whoever waits for the cluster to be
    # healthy (faunadb_status condition=healthy, replica_types) checks the types.
    for action in plan["actions"]:
        run = admin.run("update-replica", action["type"], *action["replicas"])
        confirm_update(run.stdout, action)
    return result


def main():
    run_module(
        "faunadb_replication", ensure_replication, FaunaAdmin.from_module,
        argument_spec=ARGUMENT_SPEC, required_if=FAUNADB_REQUIRED_IF,
    )


if __name__ == "__main__":
    main()
