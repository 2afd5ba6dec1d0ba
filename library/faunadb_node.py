#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_node
short_description: Create, start, stop, kill, pause, skew, cut off, heal or remove a FaunaDB node
description:
  - One interface to a node's lifecycle and faults, the same in both deploy modes. It reads the
    node first, does only what O(state) still needs, reads it back and reports the node as it
    ends up (in check mode, as it is now). A second run with the same O(state) changes nothing,
    except with O(state=restarted), which restarts the node each time.
  - The planner decides the steps from the node as read; one driver per deploy mode takes them
    (the Docker API in container mode, C(systemctl) and files in service mode).
  - O(files) is for O(state=probe) only, refused with any other O(state); the probe then also
    reports in RV(files_differ) which of them C(faunadb_node_files) would write, reading them only
    when the node exists and writing none.
  - With O(executor=docker) (container mode) the node is O(container), driven through the Docker
    API from where the module runs (usually the controller), with the same engine options as the
    other faunadb_* modules. Nothing is needed inside the container.
  - With O(executor=local) (service mode) the node is the systemd service O(service) on the host
    running the module; run it there with C(become), since it signals processes, reads C(/proc)
    and changes iptables.
  - The C(faunadb-admin) options of the shared connection block (O(root_key), O(admin_path),
    O(config_path), O(admin_host)) are accepted so that one C(module_defaults) block serves every
    faunadb_* module, and are not used. O(command_timeout) bounds each C(systemctl) or
    C(iptables) call in service mode.
version_added: "0.3.0"
author: FaunaDB lab project
requirements:
  - Service mode - systemd, and C(iptables) (C(ip6tables) for IPv6 peers) for V(cut_off).
options:
  state:
    description:
      - What the node should be. Each value changes one thing and leaves the rest as it is, except
        V(healed).
      - V(probe) only reports the node.
      - V(present) (container mode) creates the container O(container) from O(spec), not started
        (its files go in first, then V(started) or C(faunadb_node_files) starts it). An existing
        container whose C(org.faunalab.spec) label equals the spec's is left as it is, running
        or not; one with another label, or none, is recreated - resumed if paused, stopped
        gracefully (O(stop_timeout)), removed (its named volumes stay) and created again.
      - V(absent) removes the node. Container mode removes the container, killing it if it runs,
        and, unless O(keep_data), its volumes C(<container>-data) and C(<container>-log) (they
        are removed even when the container is already gone). Service mode stops (resuming a
        paused unit first) and disables O(service), removes its unit file
        C(/etc/systemd/system/<service>.service) and reloads systemd; the release, the
        configuration and the data stay, for the caller to remove.
      - V(started) starts a stopped or killed node (a node its supervisor is restarting counts as
        started). It does not resume a paused one. In service mode it first reloads systemd when
        O(daemon_reload) asks or systemd reports the unit file changed (C(NeedDaemonReload)), and
        enables the unit when it is not, as C(ansible.builtin.systemd_service) with
        C(daemon_reload), C(enabled) and C(state=started) does.
      - V(stopped) stops the node gracefully (SIGTERM, then the engine's or unit's stop timeout);
        a paused node is resumed first so that it can shut down.
      - V(restarted) restarts the node gracefully, every time - C(docker restart) with the
        container's stop timeout or O(stop_timeout) in container mode, C(systemctl restart) of
        O(service) in service mode. A paused node is resumed first so that it can shut down; a
        stopped or killed node is started. Fails on a node that does not exist.
      - V(killed) sends SIGKILL, and the node stays down until something starts it. In container
        mode this is C(docker kill), which the engine counts as a manual stop, so the restart
        policy does not bring it back. In service mode the unit's C(Restart=on-failure) would
        restart it two seconds later, so the module stops the unit right after the SIGKILL
        (no graceful shutdown happens, the processes are already gone).
      - V(paused) freezes the running node (C(docker pause), or SIGSTOP to every process of the
        unit). Fails on a node that does not run.
      - V(resumed) unfreezes it (C(docker unpause), or SIGCONT).
      - V(skewed) writes O(offset) into the libfaketime timestamp file O(faketime_file), which the
        node's process re-reads within a second. Fails when the node does not preload libfaketime
        or reads another file, because the skew would do nothing.
      - V(unskewed) puts the clock back to V(+0). A missing file already means no skew.
      - V(cut_off) isolates the node from the other nodes and the load balancer. Container mode
        disconnects it from O(network). Service mode adds iptables DROP rules (tagged with the
        comment C(faunadb_node cut_off)) for traffic to and from each of O(peers) on
        O(cut_off_ports), TCP and UDP; the tagged rules become exactly those.
      - V(restored) undoes V(cut_off). Container mode reconnects O(container) to O(network) with
        its fixed O(address); service mode deletes exactly the tagged rules.
      - V(healed) undoes every fault, in order - resume, restore the network (container mode only
        when O(network) is set), clock back to V(+0), start.
    type: str
    choices: [probe, started, stopped, restarted, killed, paused, resumed, skewed, unskewed,
              cut_off, restored, healed, present, absent]
    default: probe
  offset:
    description:
      - With O(state=skewed), how far the node's wall clock is moved - a whole number with an
        optional sign and unit V(s), V(m), V(h) or V(d), for example V(+300s), V(-30s), V(+5m).
        Without a sign the clock moves ahead. Checked before anything changes.
    type: str
  faketime_file:
    description:
      - The libfaketime timestamp file the node reads (C(FAKETIME_TIMESTAMP_FILE) in its
        environment; the role's C(faunadb_faketime_file)), inside the container in container
        mode.
    type: str
    default: /etc/faunadb/faketime.rc
  network:
    description:
      - Container mode - the project network (C(faunadb_network)) that V(cut_off) disconnects the
        container from and V(restored) reconnects it to. Needed for those two states; V(healed)
        restores the network only when it is set.
    type: str
  address:
    description:
      - Container mode - the node's fixed IPv4 address on O(network) (C(faunadb_address)), kept
        when it is reconnected, because the other nodes know it by this address. Needed to
        restore the network.
    type: str
  stop_timeout:
    description:
      - Container mode - seconds V(stopped), V(restarted) and the recreation of V(present) wait
        after SIGTERM before the engine kills the container. Unset, the container's own stop
        timeout applies (10 s unless it was created with another); give a real FaunaDB its
        shutdown grace period plus a margin. In service mode the unit's C(TimeoutStopSec) applies.
    type: int
  spec:
    description:
      - Container mode, O(state=present) only - what the container is made from, as
        C(community.docker.docker_container) takes it (the role's C(_faunadb_node_container)).
        Refused with any other O(state).
      - Its C(org.faunalab.spec) label in O(spec.labels) says which spec the container is made
        from; without one the module labels the container with a hash of O(spec). The label, not
        a comparison with the container's settings, decides whether it is recreated.
    type: dict
    suboptions:
      image:
        description: The image (name or Id). It must be on the engine; the module does not pull.
        type: str
        required: true
      command:
        description: The command (the image's own when unset).
        type: list
        elements: str
      hostname:
        description: The container's hostname.
        type: str
      networks:
        description:
          - Networks to attach, each with an optional fixed IPv4 address and aliases. The
            first, when it is O(spec.network_mode), is attached at creation; the others are
            connected right after.
        type: list
        elements: dict
        suboptions:
          name:
            description: The network.
            type: str
            required: true
          ipv4_address:
            description: The fixed IPv4 address on it.
            type: str
          aliases:
            description: DNS aliases on it.
            type: list
            elements: str
      network_mode:
        description: The network mode (a network's name); the first network's when unset.
        type: str
      restart_policy:
        description: The engine's restart policy.
        type: str
        choices: ["no", always, on-failure, unless-stopped]
      memory:
        description:
          - Memory limit, a number with an optional unit V(b), V(k), V(m), V(g) or V(t)
            (1024-based).
        type: str
      cpus:
        description: CPUs the container may use (C(--cpus)).
        type: float
      volumes:
        description:
          - Mounts as C(source:path[:mode]); a named volume that does not exist is created by
            the engine.
        type: list
        elements: str
      env:
        description: Environment variables.
        type: dict
      labels:
        description: Labels, C(org.faunalab.spec) among them.
        type: dict
  keep_data:
    description:
      - Container mode, O(state=absent) - keep the volumes C(<container>-data) and
        C(<container>-log). Service mode removes no data either way.
    type: bool
    default: false
  daemon_reload:
    description:
      - Service mode, O(state=started) - run C(systemctl daemon-reload) first (the unit file
        was just written). It does not count as a change, as with
        C(ansible.builtin.systemd_service); not done in check mode.
    type: bool
    default: false
  service:
    description: Service mode - the systemd unit of the node.
    type: str
    default: faunadb
  peers:
    description:
      - Service mode - addresses of the hosts V(cut_off) separates this node from - the other
        nodes of the cluster, and the load balancer too for the same cut as in container mode.
    type: list
    elements: str
    default: []
  cut_off_ports:
    description:
      - Service mode - ports on which V(cut_off) drops traffic to and from O(peers), whichever side
        uses them - peer (7500), peer TLS (7501) and API (8443). At most 15.
    type: list
    elements: int
    default: [7500, 7501, 8443]
extends_documentation_fragment:
  - faunadb
  - faunadb.files
  - faunadb.attributes
attributes:
  check_mode:
    details:
      - Reads the node and predicts RV(changed), RV(actions) and the diff without acting.
        Refusals (an offset that is not a duration, pausing a stopped node, skewing a node without
        libfaketime, restarting a node that does not exist) fail in check mode too.
      - With O(state=restarted) it predicts RV(changed=true) for any node that exists.
      - With O(state=present) it predicts the creation (or recreation) from the labels alone.
  diff_mode:
    support: full
    details:
      - Before and after of running, paused, skew (seconds) and cut_off (and enabled in service
        mode).
      - With O(state=present) or O(state=absent), before and after of exists, running, the spec
        label (container mode), the volumes to remove (container mode, O(state=absent)) and
        enabled (service mode).
  idempotent:
    support: partial
    details:
      - Every O(state) but V(restarted) changes only what still differs, so a second run reports
        no change. V(restarted) always restarts (or starts) the node and reports RV(changed=true).
seealso:
  - module: faunadb_status
  - module: faunadb_node_files
notes:
  - This module never runs C(faunadb-admin); the shared documentation fragment lists it among the
    requirements of every faunadb_* module.
  - Container mode never needs C(--privileged) - every operation is a Docker API call.
  - A node cut off in container mode and then restarted comes back still cut off; V(healed)
    reconnects it before it starts it.
"""

EXAMPLES = r"""
- name: Create a node's container (recreated when its spec label differs; not started)
  faunadb_node:
    executor: docker
    container: replica2_node1
    state: present
    stop_timeout: 40
    spec:
      image: faunalab/faunadb:25.02.07
      command: [/opt/faunadb/bin/faunadb, -c, /etc/faunadb/faunadb.yml]
      hostname: replica2_node1
      networks:
        - name: faunadb
          ipv4_address: 172.28.0.21
      network_mode: faunadb
      restart_policy: unless-stopped
      memory: 4g
      cpus: 1.0
      volumes:
        - replica2_node1-data:/var/lib/faunadb
        - replica2_node1-log:/var/log/faunadb
      env:
        MAX_HEAP_SIZE: 2G
      labels:
        org.faunalab.role: faunadb-node
        org.faunalab.spec: 9f2c41e1

- name: Remove a node's container, keeping its data and log volumes
  faunadb_node:
    executor: docker
    container: replica2_node1
    state: absent
    keep_data: true

- name: Start and enable a VM node after writing its unit file (on the node, as root)
  faunadb_node:
    state: started
    daemon_reload: true
  become: true

- name: Stop, disable and remove a VM node's unit (on the node, as root)
  faunadb_node:
    state: absent
  become: true

- name: Kill a node and keep it down (a chaos fault)
  faunadb_node:
    executor: docker
    container: replica2_node1
    state: killed

- name: Move a node's clock five minutes ahead
  faunadb_node:
    executor: docker
    container: replica2_node1
    state: skewed
    offset: +300s

- name: Cut a container node off the cluster
  faunadb_node:
    executor: docker
    container: replica2_node1
    network: faunadb
    state: cut_off

- name: Cut a VM node off the other nodes and the load balancer (on the node, as root)
  faunadb_node:
    state: cut_off
    peers: [10.0.0.11, 10.0.0.31, 10.0.0.2]
  become: true

- name: Undo every fault on the node
  faunadb_node:
    executor: docker
    container: replica2_node1
    network: faunadb
    address: 172.28.0.21
    state: healed

- name: Restart a node gracefully, giving FaunaDB its 30 s shutdown grace period
  faunadb_node:
    executor: docker
    container: replica2_node1
    stop_timeout: 40
    state: restarted

- name: Restart a VM node (on the node, as root)
  faunadb_node:
    state: restarted
  become: true

- name: Report the node
  faunadb_node:
    executor: docker
    container: replica2_node1
  register: node

- name: Report the node and which of its files differ from what is wanted
  faunadb_node:
    executor: docker
    container: replica2_node1
    files:
      - path: /etc/faunadb/feature-flags.json
        content: "{}\n"
        mode: "0640"
        group_id: 999
  register: node
"""

RETURN = r"""
exists:
  description: Whether the container or the unit exists.
  returned: always
  type: bool
  sample: true
running:
  description: Whether the node's process exists (paused or not).
  returned: always
  type: bool
  sample: false
paused:
  description:
    - Whether the node is frozen (C(docker pause); in service mode any process of the unit in
      state T, stopped by a signal).
  returned: always
  type: bool
  sample: false
pause_partial:
  description: Service mode - some, not all, processes of the unit are stopped by a signal.
  returned: in service mode
  type: bool
  sample: false
restarting:
  description: Whether the supervisor (restart policy, C(Restart=)) is about to start it again.
  returned: always
  type: bool
  sample: false
enabled:
  description:
    - Service mode - whether the unit is enabled (C(systemctl is-enabled) would succeed); null
      when the unit does not exist.
  returned: in service mode
  type: bool
  sample: true
volumes:
  description:
    - Container mode with O(state=absent) and not O(keep_data) - those of C(<container>-data)
      and C(<container>-log) that exist.
  returned: in container mode with O(state=absent)
  type: list
  elements: str
  sample: [replica2_node1-data, replica2_node1-log]
exit_code:
  description:
    - Exit code of the last process when the node does not run; 128 + the signal when it was
      killed (137 after SIGKILL), as Docker reports it. Null while it runs, and in service mode
      when systemd kept no exit status (after V(killed), whose stop job takes the exit).
  returned: always
  type: int
  sample: 137
pid:
  description: Process id of the node's main process on the host, when it runs.
  returned: always
  type: int
  sample: 48213
status:
  description: Docker's status (C(running), C(exited), C(paused)...) or systemd's
    ActiveState/SubState.
  returned: always
  type: str
  sample: exited
restart_count:
  description: Restarts the engine's restart policy (or systemd's C(NRestarts)) has made.
  returned: always
  type: int
  sample: 0
skew:
  description:
    - Seconds of clock skew in O(faketime_file), or null when the file is missing or holds
      anything but a relative offset.
  returned: always
  type: int
  sample: 300
skew_text:
  description: The content of O(faketime_file), null when it is missing.
  returned: always
  type: str
  sample: "+300\n"
faketime_file:
  description: The timestamp file read and written.
  returned: always
  type: str
  sample: /etc/faunadb/faketime.rc
clock_hook:
  description:
    - Whether the node's environment preloads libfaketime (C(LD_PRELOAD)) and the timestamp file
      it names (C(FAKETIME_TIMESTAMP_FILE)).
  returned: always
  type: dict
  sample: {"preloaded": true, "file": "/etc/faunadb/faketime.rc"}
cut_off:
  description:
    - Container mode - the container is not attached to O(network) (null without O(network)).
      Service mode - tagged cut-off rules are present (null when iptables is not installed).
  returned: always
  type: bool
  sample: false
cut_off_rules:
  description: Service mode - the tagged cut-off rules present.
  returned: in service mode
  type: list
  elements: str
  sample: ["iptables INPUT -s 10.0.0.11/32 -p tcp --ports 7500,7501,8443"]
networks:
  description: Container mode - the networks the container is attached to.
  returned: in container mode
  type: list
  elements: str
  sample: [faunadb]
address:
  description: Container mode - the container's address on O(network), null when not attached.
  returned: in container mode
  type: str
  sample: 172.28.0.21
labels:
  description:
    - Container mode - the container's labels (C(Config.Labels)); empty when it does not exist.
      The role compares its C(org.faunalab.spec) label, a hash of the settings the container was
      created with, to tell whether it would be recreated.
  returned: in container mode
  type: dict
  sample: {"org.faunalab.cluster": "faunadb", "org.faunalab.spec": "9f2c...e1"}
files_differ:
  description:
    - With O(state=probe) and O(files) - the paths among O(files) that differ on the node in
      content, mode or owner (or are missing), as C(faunadb_node_files) would write them. Empty
      when the node does not exist.
  returned: when O(files) is given
  type: list
  elements: str
  sample: [/etc/faunadb/faunadb.yml]
actions:
  description: What the module did, or would do in check mode, in order.
  returned: always
  type: list
  elements: str
  sample: [resume, restore, skew +0, start]
commands:
  description:
    - The commands run that changed the node (service mode), or the Docker API calls made, written
      as the C(docker) commands that do the same (container mode). Empty in check mode.
  returned: always
  type: list
  elements: str
  sample: ["docker kill --signal SIGKILL replica2_node1"]
"""

from ansible.module_utils import faunadb_node_container, faunadb_node_ops
from ansible.module_utils.faunadb_common import (
    FAUNADB_REQUIRED_IF,
    FaunaDBError,
    faunadb_argument_spec,
)
from ansible.module_utils.faunadb_files import check_file_specs, files_option, files_to_write
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_node_parse import DEFAULT_FAKETIME_FILE, parse_offset
from ansible.module_utils.faunadb_node_plan import STATES, run_operation
from ansible.module_utils.faunadb_node_rules import (
    DEFAULT_CUT_OFF_PORTS,
    validate_peers,
    validate_ports,
)

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        state=dict(type="str", default="probe", choices=list(STATES)),
        offset=dict(type="str"),
        faketime_file=dict(type="str", default=DEFAULT_FAKETIME_FILE),
        network=dict(type="str"),
        address=dict(type="str"),
        stop_timeout=dict(type="int"),
        service=dict(type="str", default="faunadb"),
        peers=dict(type="list", elements="str", default=[]),
        cut_off_ports=dict(type="list", elements="int", default=list(DEFAULT_CUT_OFF_PORTS)),
        files=files_option(),
        spec=dict(type="dict", options=faunadb_node_container.SPEC_OPTIONS),
        keep_data=dict(type="bool", default=False),
        daemon_reload=dict(type="bool", default=False),
    )
)

REQUIRED_IF = [("state", "skewed", ["offset"])]


def validate(params):
    """Everything the options alone can tell, before the node is even read."""
    state, docker = params["state"], params["executor"] == "docker"
    offset = parse_offset(params["offset"]) if state == "skewed" else None
    if not params["faketime_file"].startswith("/"):
        raise FaunaDBError(f"faketime_file must be an absolute path, got {params['faketime_file']}")
    if params["spec"] is not None:
        if state != "present":
            raise FaunaDBError(f"spec is only used with state=present, not state={state}")
        faunadb_node_container.check_spec(params["spec"])
    if state == "present" and not (docker and params["spec"]):
        raise FaunaDBError(
            "state=present needs executor=docker and spec (a container to create); in service "
            "mode the role writes the unit file, and state=started starts it"
        )
    if params["files"]:
        if state != "probe":
            raise FaunaDBError(f"files is only read with state=probe, not state={state}")
        check_file_specs(params["files"])
    if docker:
        if state in ("cut_off", "restored") and not params["network"]:
            raise FaunaDBError(f"state={state} in container mode needs network")
        if params["address"]:
            address = validate_peers([params["address"]])[0]
            if address.version != 4:
                raise FaunaDBError(f"address must be an IPv4 address, got {params['address']}")
        elif state == "restored" or (state == "healed" and params["network"]):
            raise FaunaDBError(
                f"state={state} in container mode needs address, the node's fixed address on "
                f"{params['network']}: without it the node would come back with another one"
            )
        if params["stop_timeout"] is not None and params["stop_timeout"] < 0:
            raise FaunaDBError("stop_timeout must be 0 or more seconds")
    else:
        validate_peers(params["peers"])
        validate_ports(params["cut_off_ports"])
        if state == "cut_off" and not params["peers"]:
            raise FaunaDBError("state=cut_off in service mode needs peers (the other nodes)")
    return offset


def operate(module, ops):
    params = module.params
    offset = validate(params)
    if params["state"] == "started" and not module.check_mode:
        # Before the read: systemd must know the unit file the run just wrote.
        ops.reload_if_needed(params["daemon_reload"])
    result = run_operation(ops, params["state"], offset=offset, check_mode=module.check_mode)
    if not module._diff:
        result.pop("diff")
    if params["files"]:
        differ = {}
        if result["exists"]:
            differ, _ = files_to_write(ops.file_executor(), params["files"])
        result["files_differ"] = list(differ)
    return result


def connect(module):
    validate(module.params)  # bad input is refused before any connection
    return faunadb_node_ops.make_node_ops(module)


def main():
    run_module(
        "faunadb_node", operate, connect, commands_change=True,
        argument_spec=ARGUMENT_SPEC, required_if=FAUNADB_REQUIRED_IF + REQUIRED_IF,
    )


if __name__ == "__main__":
    main()
