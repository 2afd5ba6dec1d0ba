#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_node_files
short_description: Check that files a FaunaDB node needs exist on it, and write its own files
description:
  - Reports which of O(paths) are missing on the node, through the same executor as
    C(faunadb-admin), and fails naming them unless O(fail_on_missing=false).
  - Then makes each of O(files) hold its content, mode and owner, writing only those that differ.
    The check comes first, so nothing is written into a node that cannot run.
  - With O(executor=docker) it asks the Docker API, which also answers for a container that was
    created but never started, so an image can be checked (release launchers, the clock-skew hook)
    and the node's files written before its process runs. Nothing is needed inside the container.
    One module call does it all, where a copy module takes one per file.
  - With O(start=true) it then starts the container, unless it runs already (paused or being
    restarted by its restart policy counts as running), so that a new node's process never runs
    before its files are in, and in the same call.
version_added: "0.2.0"
author: FaunaDB lab project
options:
  paths:
    description: Absolute paths that must exist on the node.
    type: list
    elements: str
    default: []
  fail_on_missing:
    description: Fail when a path is missing; otherwise only report it in RV(missing).
    type: bool
    default: true
  hint:
    description: What to do about a missing path, appended to the failure message.
    type: str
    default: ""
  start:
    description:
      - Start the container after the check and the writes, unless it runs, is paused or is being
        restarted. A container that exists stopped (killed, exited) is started too.
      - Only with O(executor=docker); refused before anything is read or written otherwise.
      - The start is confirmed by reading the container back (it must run, or be restarting);
        one that exits at once fails the task with its exit code.
    type: bool
    default: false
extends_documentation_fragment:
  - faunadb
  - faunadb.files
  - faunadb.attributes
attributes:
  check_mode:
    details: Reads, and reports what it would write and whether it would start the container.
  diff_mode:
    support: full
  idempotent:
    support: full
seealso:
  - module: faunadb_status
"""

EXAMPLES = r"""
- name: Check the image before the node starts
  faunadb_node_files:
    executor: docker
    container: replica1_node1
    paths:
      - /opt/faunadb/bin/faunadb
      - /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
    hint: Build the image with make image, or set faunadb_clock_faults=false.

- name: Write the feature flags and create the clock-skew file
  faunadb_node_files:
    executor: docker
    container: replica1_node1
    files:
      - path: /etc/faunadb/feature-flags.json
        content: "{}\n"
        mode: "0640"
        group_id: 999
      - path: /etc/faunadb/faketime.rc
        content: "+0\n"
        force: false

- name: Write a new node's configuration into its created container, then start it
  faunadb_node_files:
    executor: docker
    container: replica1_node1
    paths: [/opt/faunadb/bin/faunadb]
    files:
      - path: /etc/faunadb/feature-flags.json
        content: "{}\n"
    start: true
  register: node_files
"""

RETURN = r"""
missing:
  description: The paths that do not exist on the node.
  returned: always
  type: list
  elements: str
  sample: ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"]
written:
  description: The files of O(files) that were written (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["/etc/faunadb/feature-flags.json"]
started:
  description:
    - Whether the container was started (would be, in check mode); false without O(start=true).
  returned: always
  type: bool
  sample: true
commands:
  description:
    - No faunadb-admin command runs. With O(start=true), the Docker API call that started the
      container, written as the C(docker) command that does the same; empty otherwise and in
      check mode.
  returned: always
  type: list
  elements: str
  sample: ["docker start replica1_node1"]
"""

from ansible.module_utils.faunadb_admin import FaunaAdmin
from ansible.module_utils.faunadb_common import (
    FAUNADB_REQUIRED_IF,
    FaunaDBError,
    faunadb_argument_spec,
)
from ansible.module_utils.faunadb_files import (
    check_absolute,
    check_file_specs,
    files_option,
    files_to_write,
)
from ansible.module_utils.faunadb_module import run_module
from ansible.module_utils.faunadb_node_docker import DockerNodeOps
from ansible.module_utils.faunadb_node_plan import run_operation

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        paths=dict(type="list", elements="str", default=[]),
        fail_on_missing=dict(type="bool", default=True),
        hint=dict(type="str", default=""),
        files=files_option(),
        start=dict(type="bool", default=False),
    )
)


def check_files(module, admin):
    params = module.params
    if params["start"] and params["executor"] != "docker":
        raise FaunaDBError("start=true needs executor=docker (a container to start)")
    check_absolute(params["paths"])
    check_file_specs(params["files"])
    missing = admin.executor.missing(params["paths"]) if params["paths"] else []
    if missing and params["fail_on_missing"]:
        where = admin.executor.describe()
        msg = f"Missing on {where}: {', '.join(missing)}. {params['hint']}"
        raise FaunaDBError(msg.strip(), missing=missing)
    writes, diffs = files_to_write(admin.executor, params["files"])
    if writes and not module.check_mode:
        admin.executor.write_files(writes)
    result = dict(changed=bool(writes), missing=missing, written=list(writes), started=False)
    if params["start"]:
        try:
            run = run_operation(DockerNodeOps(admin.executor), "started",
                                check_mode=module.check_mode)  # fmt: skip
        except FaunaDBError as exc:
            # The files went in before the start failed.
            exc.details["written"] = list(writes)
            exc.details["changed"] = bool(writes) or exc.details.get("changed", False)
            raise
        result.update(started=run["changed"], commands=run["commands"])
        result["changed"] = result["changed"] or run["changed"]
        if run["changed"]:
            name = admin.executor.describe()
            diffs.append(dict(before_header=name, after_header=name, **run["diff"]))
    if module._diff and diffs:
        result["diff"] = diffs
    return result


def main():
    run_module(
        "faunadb_node_files", check_files, FaunaAdmin.from_module,
        argument_spec=ARGUMENT_SPEC, required_if=FAUNADB_REQUIRED_IF,
    )


if __name__ == "__main__":
    main()
