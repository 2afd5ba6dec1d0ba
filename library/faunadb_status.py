#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_status
short_description: Wait until a FaunaDB node or cluster reaches a condition
description:
  - Polls until O(condition) holds, up to O(poll) times, O(interval) seconds apart, and fails with
    the
    last reason when it never does.
  - V(admin) waits for the admin API to answer (C(faunadb-admin status) succeeds, or says the node
    is not part
    of a cluster yet). V(member) waits until the node is part of a cluster. V(movement) waits for
    C(movement-status) to report no data movement. V(ping) waits for C(GET
    /ping?scope=O(ping_scope)) to
    answer 200. V(healthy) waits for every node up and live, a write quorum, the O(replica_types)
    and
    O(min_nodes) asked for, and no data movement.
  - Errors that waiting cannot fix stop the wait at once instead of using up the whole budget - a
    wrong root
    key, an unknown command, a container that does not exist or is not running, a Docker engine
    address or TLS/SSH setting that cannot work.
version_added: "0.1.0"
author: FaunaDB lab project
options:
  condition:
    description: What to wait for.
    type: str
    required: true
    choices: [admin, member, movement, ping, healthy]
  poll:
    description: How many times to check before giving up.
    type: int
    default: 60
  interval:
    description: Seconds between two checks.
    type: int
    default: 2
  timeout:
    description:
      - Seconds the whole wait may take, whatever O(poll) allows. No check starts after it, and
        each C(faunadb-admin) call is cut to the time left (at most O(command_timeout)).
    type: int
    default: 600
  ping_url:
    description:
      - Full URL to ping instead of one built from O(ping_scheme), O(ping_host), O(ping_port) and
        O(ping_scope),
        for example a load balancer's V(http://lb:8443/ping?scope=write).
    type: str
  ping_scheme:
    description: Scheme of the API endpoint.
    type: str
    choices: [http, https]
    default: http
  ping_host:
    description:
      - Address of the node's API endpoint (C(network_coordinator_http_address)), as seen from
        where the module
        runs - the controller when O(executor=docker).
    type: str
    default: 127.0.0.1
  ping_port:
    description: Port of the API endpoint.
    type: int
    default: 8443
  ping_scope:
    description:
      - Scope to ping. V(node) - the process is up; V(read) - a read can be served; V(write) (alias
        V(global))
        - the cluster can commit writes; V(all) - full health.
    type: str
    choices: [node, read, write, global, all]
    default: write
  ping_server_timeout:
    description: Milliseconds FaunaDB may take to check the scope, sent as C(timeout=) in the query
      string.
    type: int
  ping_timeout:
    description: Seconds one HTTP request may take.
    type: int
    default: 5
  ping_from:
    description:
      - Where the ping runs. V(controller) - from where the module runs. V(node) - inside the node
        through the executor, so it reaches the node the way its peers do, also on a remote Docker
        engine whose container addresses the controller cannot reach (needs C(bash) in the image;
        plain V(http) only). With O(executor=local) the module already runs on the node, so both
        are the same.
    type: str
    choices: [controller, node]
    default: controller
  validate_certs:
    description: Verify the TLS certificate when O(ping_scheme=https).
    type: bool
    default: true
  min_nodes:
    description: With O(condition=healthy), the least number of (not removed) nodes the status must
      list.
    type: int
    default: 1
  replica_types:
    description:
      - With O(condition=healthy), the type each named replica must have in the status, as in
        M(faunadb_replication).
    type: dict
  status_text:
    description:
      - With O(condition=healthy), read the status as its text table, and return with the last
        check the table (RV(status_text)) and what M(faunadb_info) returns for it (RV(nodes),
        RV(replicas), RV(replica_types), RV(source)), so that the cluster just found healthy
        can be shown without asking it again.
    type: bool
    default: false
extends_documentation_fragment:
  - faunadb
  - faunadb.attributes
  - faunadb.attributes_info
attributes:
  check_mode:
    details:
      - The module only reads, so it waits in check mode too. On a cluster that check mode did not
        create, skip the task with C(when=not ansible_check_mode).
seealso:
  - module: faunadb_info
"""

EXAMPLES = r"""
- name: Wait for the admin API of every node after start
  faunadb_status:
    condition: admin
    config_path: /etc/faunadb/faunadb.yml

- name: Wait for data movement to settle after update-replica
  faunadb_status:
    condition: movement
    poll: 150
    interval: 2
  run_once: true

- name: Wait until the load balancer says writes commit
  faunadb_status:
    condition: ping
    ping_url: http://lb.example.com:8443/ping?scope=write
  delegate_to: localhost
  run_once: true

- name: Wait for the demo cluster to be healthy
  faunadb_status:
    condition: healthy
    executor: docker
    container: replica1_node1
    min_nodes: 9
    replica_types:
      replica1: data+log
      replica2: data+log
      replica3: data+log
"""

RETURN = r"""
condition:
  description: The condition waited for.
  returned: always
  type: str
  sample: movement
attempts:
  description: Number of checks made.
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 4.02
reason:
  description: Why the last check did not pass (on failure), or V(ok).
  returned: always
  type: str
  sample: ok
member:
  description: Whether the node is part of a cluster.
  returned: for V(admin), V(member) and V(healthy)
  type: bool
  sample: true
movement:
  description: Last parsed C(movement-status) (see M(faunadb_info)).
  returned: for V(movement) and V(healthy)
  type: dict
  sample: {"settled": true, "message": "No data movement is currently in progress."}
summary:
  description: Last status summary (see M(faunadb_info)).
  returned: for V(healthy)
  type: dict
status_text:
  description: The text table of the last C(faunadb-admin status), as printed.
  returned: for V(healthy) with O(status_text=true), when the cluster was found healthy
  type: str
nodes:
  description: The nodes of the last status (see M(faunadb_info)).
  returned: for V(healthy) with O(status_text=true), when the cluster was found healthy
  type: list
  elements: dict
replicas:
  description: The replicas of the last status (see M(faunadb_info)).
  returned: for V(healthy) with O(status_text=true), when the cluster was found healthy
  type: list
  elements: dict
replica_types:
  description: Replica name to type, from the last status.
  returned: for V(healthy) with O(status_text=true), when the cluster was found healthy
  type: dict
source:
  description: How the last status was read, V(text) here.
  returned: for V(healthy) with O(status_text=true), when the cluster was found healthy
  type: str
ping:
  description: Last ping answer.
  returned: for V(ping)
  type: dict
  sample: {"url": "http://127.0.0.1:8443/ping?scope=write", "status": 200, "body":
    "{ \"resource\": \"Scope write is OK\" }"}
commands:
  description: The distinct faunadb-admin command lines run. The root key is never part of them.
  returned: always
  type: list
  elements: str
"""

import time
from urllib.parse import urlsplit

from ansible.module_utils import faunadb_ping
from ansible.module_utils.faunadb_admin import AdminCommandError, FaunaAdmin
from ansible.module_utils.faunadb_common import (
    FAUNADB_REQUIRED_IF,
    ExecutorError,
    FaunaDBError,
    faunadb_argument_spec,
)
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_parse import ParseError
from ansible.module_utils.faunadb_parse_status import replica_types, summarize
from ansible.module_utils.faunadb_plan import healthy_problems

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        condition=dict(
            type="str", required=True, choices=["admin", "member", "movement", "ping", "healthy"]
        ),
        poll=dict(type="int", default=60),
        interval=dict(type="int", default=2),
        timeout=dict(type="int", default=600),
        ping_url=dict(type="str"),
        ping_scheme=dict(type="str", default="http", choices=["http", "https"]),
        ping_host=dict(type="str", default="127.0.0.1"),
        ping_port=dict(type="int", default=8443),
        ping_scope=dict(
            type="str", default="write", choices=["node", "read", "write", "global", "all"]
        ),
        ping_server_timeout=dict(type="int"),
        ping_timeout=dict(type="int", default=5),
        ping_from=dict(type="str", default="controller", choices=["controller", "node"]),
        validate_certs=dict(type="bool", default=True),
        min_nodes=dict(type="int", default=1),
        replica_types=dict(type="dict"),
        status_text=dict(type="bool", default=False),
    )
)

# Waiting cannot fix these: a wrong key, a binary without the command, a
# container that is gone or stopped. Everything else may be a node starting.
_FATAL_ADMIN_KINDS = ("unauthorized", "invalid_command")
_FATAL_EXECUTOR_KINDS = ("not_found", "not_running", "config")


class NotYet(Exception):
    def __init__(self, reason, **info):
        super().__init__(reason)
        self.reason = reason
        self.info = info


def _read(call):
    """Run one admin read, turning transient failures into NotYet."""
    try:
        return call()
    except ExecutorError as exc:
        if exc.kind in _FATAL_EXECUTOR_KINDS:
            raise
        raise NotYet(exc.msg) from None
    except AdminCommandError as exc:
        if exc.kind in _FATAL_ADMIN_KINDS:
            raise
        raise NotYet(exc.details.get("faunadb_message") or exc.msg) from None
    except ParseError as exc:
        raise NotYet(exc.msg) from None


def check_admin(params, admin):
    status = _read(admin.membership)
    return dict(member=status is not None)


def check_member(params, admin):
    status = _read(admin.membership)
    if status is None:
        raise NotYet("This node is not part of a cluster.", member=False)
    return dict(member=True)


def check_movement(params, admin):
    movement = _read(admin.movement)
    if not movement["settled"]:
        raise NotYet(movement["message"], movement=movement)
    return dict(movement=movement)


def check_healthy(params, admin):
    fmt = "text" if params["status_text"] else "auto"
    status, movement = _read(lambda: admin.membership_and_movement(fmt))
    if status is None:
        raise NotYet("This node is not part of a cluster.", member=False)
    summary = summarize(status)
    problems = healthy_problems(status, summary, params["min_nodes"], params["replica_types"])
    if problems:
        raise NotYet("; ".join(problems), member=True, summary=summary)
    movement = _read(movement)
    if not movement["settled"]:
        raise NotYet(movement["message"], member=True, summary=summary, movement=movement)
    found = dict(member=True, summary=summary, movement=movement)
    if params["status_text"]:
        found.update(
            status_text=admin.status_text,
            source=status["source"],
            nodes=status["nodes"],
            replicas=status["replicas"],
            replica_types=replica_types(status),
        )
    return found


def ping_url(params):
    if params["ping_url"]:
        return params["ping_url"]
    base = f"{params['ping_scheme']}://{params['ping_host']}:{params['ping_port']}"
    return faunadb_ping.ping_url(base, params["ping_scope"], params["ping_server_timeout"])


# An HTTP/1.0 GET with bash's /dev/tcp: no curl or Python needed in the
# image. Arguments: host, port, path, seconds to wait for each line.
_NODE_PING = r"""
exec 3<>"/dev/tcp/$1/$2" || exit 7
printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
while IFS= read -r -t "$4" line <&3 || [ -n "$line" ]; do printf '%s\n' "${line%$'\r'}"; done
"""


def _get_on_node(admin, url, timeout):
    """GET url from inside the node (through the executor): (status, body)."""
    parsed = urlsplit(url)
    if parsed.scheme != "http":
        raise FaunaDBError("ping_from=node can only ping http:// URLs")
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    argv = ["bash", "-c", _NODE_PING, "ping", parsed.hostname, str(parsed.port or 80), path,
            str(timeout)]  # fmt: skip
    rc, out, err = admin.executor.run(argv, timeout=timeout + 5)
    if rc == 127:
        raise FaunaDBError(
            f"bash is not in {admin.executor.describe()}: set ping_from=controller", rc=rc
        )
    head, _, body = out.partition("\n\n")
    body = body.removesuffix("\n")  # the script ends every line it relays with one
    status = head.split(" ")[1] if head.startswith("HTTP/") else ""
    if rc != 0 or not status.isdigit():
        raise ConnectionError((err or out).strip() or f"no answer (rc={rc})")
    return int(status), body


def _get_here(params, url):
    """GET url from where the module runs: (status, body), error statuses included."""
    status, error, body, _, _ = faunadb_ping.get(url, params["ping_timeout"],
                                                 params["validate_certs"])
    if status is None:
        raise ConnectionError(str(error))
    return status, body


def check_ping(params, admin):
    url = ping_url(params)
    try:
        if params["ping_from"] == "node" and params["executor"] == "docker":
            code, body = _get_on_node(admin, url, params["ping_timeout"])
        else:
            code, body = _get_here(params, url)
    except ExecutorError as exc:
        if exc.kind in _FATAL_EXECUTOR_KINDS:
            raise
        raise NotYet(f"{url}: {exc.msg}", ping=dict(url=url, status=None, body=None)) from None
    except FaunaDBError:
        raise
    except Exception as exc:  # connection refused, timeouts, DNS: the node is not up yet
        raise NotYet(f"{url}: {exc}", ping=dict(url=url, status=None, body=None)) from None
    ping = dict(url=url, status=code, body=body)
    if code >= 400:
        raise NotYet(f"{url} answered HTTP {code}: {body.strip()}", ping=ping)
    if code != 200:
        raise NotYet(f"{url} answered HTTP {code}", ping=ping)
    return dict(ping=ping)


CHECKS = dict(
    admin=check_admin,
    member=check_member,
    movement=check_movement,
    ping=check_ping,
    healthy=check_healthy,
)


def wait(params, admin, check, sleep=time.sleep, clock=time.monotonic):
    """Run check until it passes, poll is used up or the timeout passes. Returns (ok, result)."""
    start = clock()
    deadline = start + params["timeout"]
    command_timeout = admin.timeout if admin else None
    attempts = 0
    last = dict(reason="not checked")
    for attempt in range(max(1, params["poll"])):
        left = deadline - clock()
        if attempt and left <= 0:
            last["reason"] += f" (timeout of {params['timeout']} s reached)"
            break
        attempts = attempt + 1
        if admin is not None:
            admin.timeout = max(1, int(min(command_timeout or left, left)))
        try:
            info = check(params, admin)
        except NotYet as exc:
            last = dict(exc.info, reason=exc.reason)
        else:
            info.update(reason="ok", attempts=attempts, elapsed=round(clock() - start, 2))
            return True, info
        if attempts < params["poll"]:
            sleep(max(0, min(params["interval"], deadline - clock())))
    last.update(attempts=attempts, elapsed=round(clock() - start, 2))
    return False, last


def wait_for_condition(module, admin):
    params = module.params
    if params["poll"] < 1 or params["interval"] < 0 or params["timeout"] < 1:
        raise FaunaDBError("poll and timeout must be at least 1 and interval at least 0")
    ok, result = wait(params, admin, CHECKS[params["condition"]])
    result.update(changed=False, condition=params["condition"], commands=_distinct(admin))
    if not ok:
        raise FaunaDBError(
            f"Gave up waiting for {params['condition']} after {result['attempts']} checks "
            f"({result['elapsed']:.1f}s): {result['reason']}",
            **result,
        )
    return result


def main():
    run_module(
        "faunadb_status", wait_for_condition, FaunaAdmin.from_module,
        argument_spec=ARGUMENT_SPEC, required_if=FAUNADB_REQUIRED_IF,
    )


def _distinct(admin):
    seen = []
    for cmd in admin.commands if admin else []:
        if cmd not in seen:
            seen.append(cmd)
    return seen


if __name__ == "__main__":
    main()
