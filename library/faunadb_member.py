#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_member
short_description: Make a node a member of a FaunaDB cluster, or remove a node from it
description:
  - With O(state=present), initialises the cluster on this node (no O(seed)) or joins this node to
    the
    cluster through O(seed), in replica O(replica).
  - The decision is taken from C(faunadb-admin status) and C(show-identity) before acting, because
    C(init) and C(join) exit 0 even when they did nothing. A node that is already a member of
    O(replica)
    is left alone; a node that is a member of another replica fails the task, naming both.
  - With O(state=absent), removes the node given by O(address) or O(host_id) with C(faunadb-admin
    remove).
    Run it on any member node. A node that is not listed, or is already being removed, is left
    alone.
version_added: "0.1.0"
author: FaunaDB lab project
options:
  state:
    description:
      - V(present) makes this node a member of O(replica); V(absent) removes the node named by
        O(address) or
        O(host_id).
    type: str
    choices: [present, absent]
    default: present
  replica:
    description:
      - Replica this node belongs to. Required with O(state=present).
      - A node keeps its replica name for life; a new replica starts as V(compute) (V(data+log) for
        the
        node that initialises the cluster). Set types with M(faunadb_replication).
    type: str
  seed:
    description:
      - Member node to join through (V(host) or V(host:port), peer port by default). Without it,
        this node
        initialises a new cluster.
    type: str
  address:
    description:
      - Address of the node to remove, as shown in the C(Address) column of C(status). With
        O(state=absent).
    type: str
  host_id:
    description:
      - Host ID (UUID) of the node to remove. With O(state=absent).
    type: str
  force:
    description:
      - Pass C(--force) to C(remove), to remove a node that is down.
    type: bool
    default: false
  allow_unclean:
    description:
      - Pass C(--allow-unclean) to C(remove). FaunaDB refuses removals that could lose data without
        it.
    type: bool
    default: false
  read_first:
    description:
      - With O(state=present), read C(status) and C(show-identity) before acting, and the host ID
        after C(init) or C(join).
      - V(false) runs C(init) or C(join) straight away and reads only when FaunaDB answers that it
        did nothing, for a node that a read just found outside the cluster (each read is a
        C(faunadb-admin) call, a JVM start). RV(host_id) is then not returned after a change.
        Check mode always reads first.
    type: bool
    default: true
  admin_wait:
    description:
      - Seconds to keep trying while the node's admin API does not answer yet, for a node that was
        just started. C(faunadb-admin) then says C(Could not connect to FaunaDB), or (a real
        release) exits 1 printing no message at all; either way the command did nothing. V(0)
        fails at once.
      - When O(state=present) and the command still fails, the node's status is read before the
        module fails, and a node that became a member of O(replica) meanwhile counts as done (with a
        warning). A failure without a message of its own carries the last lines of the node's
        C(core.log).
    type: int
    default: 0
extends_documentation_fragment:
  - faunadb
  - faunadb.attributes
attributes:
  check_mode:
    details:
      - Reads C(status) and C(show-identity) (as with O(read_first=true)) and predicts
        RV(changed), RV(action) and the diff; runs no C(init), C(join) or C(remove).
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - Joining waits for FaunaDB (about 90 seconds) when the seed is unreachable, then fails with its
    message.
  - Removal only starts the process (C(Node ... is now being removed.)); wait for it with
    M(faunadb_status)
    and O(faunadb_status#module:condition=movement).
seealso:
  - module: faunadb_replication
  - module: faunadb_info
  - module: faunadb_status
"""

EXAMPLES = r"""
- name: Initialise the cluster on the seed node of replica1
  faunadb_member:
    replica: replica1
    config_path: /etc/faunadb/faunadb.yml
    root_key: "{{ faunadb_root_key }}"
  when: inventory_hostname == groups['faunadb'][0]

- name: Join every other node through the seed
  faunadb_member:
    replica: "{{ faunadb_replica }}"
    seed: "{{ hostvars[groups['faunadb'][0]].faunadb_broadcast_address }}"
    config_path: /etc/faunadb/faunadb.yml
    root_key: "{{ faunadb_root_key }}"
  when: inventory_hostname != groups['faunadb'][0]

- name: Join a node that runs in a container on a remote Docker engine
  faunadb_member:
    executor: docker
    container: replica2_node1
    docker_host: ssh://ops@dockerhost1
    replica: replica2
    seed: 172.30.0.11

- name: Remove a dead node, from a member node
  faunadb_member:
    state: absent
    address: 172.30.0.13
    force: true
"""

RETURN = r"""
action:
  description: What the module did or, in check mode, would do.
  returned: always
  type: str
  sample: join
  choices: [init, join, remove, none]
replica:
  description: Replica of this node (O(state=present)), or of the removed node (O(state=absent)).
  returned: when known
  type: str
  sample: replica1
host_id:
  description: Host ID of this node (O(state=present)), or of the removed node (O(state=absent)).
  returned: when known
  type: str
  sample: 9b2f3a10-1c1e-4a57-9d7e-0c1e2f3a4b5c
address:
  description: Address of the removed node.
  returned: when O(state=absent) and the node was listed
  type: str
  sample: 172.30.0.13
commands:
  description: faunadb-admin command lines run, reads included. The root key is never part of them.
  returned: always
  type: list
  elements: str
  sample: ["faunadb-admin -c /etc/faunadb/faunadb.yml --json status", "faunadb-admin -c
    /etc/faunadb/faunadb.yml init -r replica1"]
stdout:
  description: Output of the init, join or remove command.
  returned: when a command changed something
  type: str
  sample: Node has initialized the cluster.
"""

from ansible.module_utils.faunadb_admin import AdminCommandError, FaunaAdmin
from ansible.module_utils.faunadb_common import (
    FAUNADB_REQUIRED_IF,
    FaunaDBError,
    faunadb_argument_spec,
    validate_replica_name,
)
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_plan import (
    cluster_operation_outcome,
    plan_member,
    plan_remove,
)

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        replica=dict(type="str"),
        seed=dict(type="str"),
        address=dict(type="str"),
        host_id=dict(type="str"),
        force=dict(type="bool", default=False),
        allow_unclean=dict(type="bool", default=False),
        read_first=dict(type="bool", default=True),
        admin_wait=dict(type="int", default=0),
    )
)


def _decide_present(admin, replica, seed):
    status = admin.membership()
    host_id = admin.identity() if status is not None else None
    return plan_member(status, host_id, replica, seed), host_id


def ensure_present(module, admin):
    replica = validate_replica_name(module.params["replica"])
    seed = module.params["seed"]
    read_first = module.params["read_first"] or module.check_mode
    if read_first:
        plan, host_id = _decide_present(admin, replica, seed)
    else:
        # The caller has just read that this node is outside the cluster; if it
        # was wrong, init and join say they did nothing and the read follows.
        plan, host_id = dict(action="join" if seed else "init", changed=True), None
    result = dict(changed=plan["changed"], action=plan["action"] or "none", replica=replica)
    if host_id:
        result["host_id"] = host_id
    if module._diff:
        result["diff"] = dict(
            before=dict(
                member=not plan["changed"], replica=replica if not plan["changed"] else None
            ),
            after=dict(member=True, replica=replica),
        )
    if not plan["action"] or module.check_mode:
        return result

    try:
        if plan["action"] == "init":
            run = admin.run("init", "-r", replica)
        else:
            run = admin.run("join", seed, "-r", replica)
    except AdminCommandError as exc:
        # The answer can be lost while the operation goes on (a real join keeps
        # trying in the background after it said it failed): the node's own
        # status decides, and only a node still outside the cluster has failed.
        admin.admin_wait = 0
        try:
            status = admin.membership()
        except FaunaDBError:
            raise exc from None
        if status is None:
            raise
        node = plan_member(status, admin.identity(), replica, seed)["node"]
        result.update(stdout=exc.details.get("stdout", ""), host_id=node["host_id"])
        module.warn(
            f"faunadb-admin {plan['action']} reported a failure ({exc.msg.splitlines()[0]}), "
            "yet the node is now a member of the wanted replica"
        )
        return result
    result["stdout"] = run.stdout
    if cluster_operation_outcome(plan["action"], run.stdout):
        if not read_first:
            return result
        try:
            result["host_id"] = admin.identity()
        except FaunaDBError:
            # The node did join; its identity is a nicety, not worth a failure.
            pass
        return result

    # "Node has NOT ...": it became a member between our read and the call
    # (another run, or a container entrypoint). Judge it like a second run.
    plan, host_id = _decide_present(admin, replica, seed)
    result.update(changed=False, action="none", host_id=host_id)
    if module._diff:
        result["diff"] = dict(
            before=dict(member=True, replica=replica), after=dict(member=True, replica=replica)
        )
    return result


def ensure_absent(module, admin):
    address, host_id = module.params["address"], module.params["host_id"]
    status = admin.status()
    node = plan_remove(status, address=address, host_id=host_id)
    result = dict(changed=node is not None, action="remove" if node else "none")
    if node is None:
        return result
    result.update(host_id=node["host_id"], address=node["address"], replica=node["replica"])
    if module._diff:
        result["diff"] = dict(
            before=dict(node=node["address"], host_id=node["host_id"], state=node["state"]),
            after=dict(node=node["address"], host_id=node["host_id"], state="removed"),
        )
    if module.check_mode:
        return result
    args = ["remove", node["host_id"]]
    if module.params["force"]:
        args.append("--force")
    if module.params["allow_unclean"]:
        args.append("--allow-unclean")
    run = admin.run(*args)
    result["stdout"] = run.stdout
    if "is now being removed" not in run.stdout:
        raise admin.error(
            run,
            msg=(
                f"faunadb-admin remove exited 0 but did not confirm the removal of "
                f"{node['host_id']}; output: {run.stdout.strip()!r}"
            ),
        )
    return result


def ensure(module, admin):
    if module.params["state"] == "present":
        return ensure_present(module, admin)
    return ensure_absent(module, admin)


def main():
    run_module(
        "faunadb_member", ensure, FaunaAdmin.from_module,
        argument_spec=ARGUMENT_SPEC,
        required_if=FAUNADB_REQUIRED_IF + [
            ("state", "present", ["replica"]),
            ("state", "absent", ["address", "host_id"], True),
        ],
        mutually_exclusive=[("address", "host_id")],
    )


if __name__ == "__main__":
    main()
