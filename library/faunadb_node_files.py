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
  files:
    description: Regular files to write on the node, in directories that exist.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: str
        required: true
      content:
        description:
          - What the file holds. Never shown in the task's result, diffs included (a node's
            configuration holds the root key's hash).
        type: str
        required: true
      mode:
        description: Permission bits, in octal.
        type: str
        default: "0644"
      owner_id:
        description: Numeric user ID of the owner.
        type: int
        default: 0
      group_id:
        description: Numeric group ID.
        type: int
        default: 0
      force:
        description: Replace a file that differs; V(false) only creates a missing one.
        type: bool
        default: true
extends_documentation_fragment:
  - faunadb
  - faunadb.attributes
attributes:
  check_mode:
    support: full
    details: Reads, and reports what it would write.
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
commands:
  description: Always empty; no faunadb-admin command runs.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.faunadb_admin import run_module
from ansible.module_utils.faunadb_common import FaunaDBError, faunadb_argument_spec
from ansible.module_utils.faunadb_executor import FileState

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        paths=dict(type="list", elements="str", default=[]),
        fail_on_missing=dict(type="bool", default=True),
        hint=dict(type="str", default=""),
        files=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                path=dict(type="str", required=True),
                content=dict(type="str", required=True, no_log=True),
                mode=dict(type="str", default="0644"),
                owner_id=dict(type="int", default=0),
                group_id=dict(type="int", default=0),
                force=dict(type="bool", default=True),
            ),
        ),
    )
)


def _wanted(spec):
    try:
        mode = int(spec["mode"], 8)
    except ValueError:
        raise FaunaDBError(f"mode of {spec['path']} must be octal, is {spec['mode']!r}") from None
    return FileState(spec["content"].encode(), mode, spec["owner_id"], spec["group_id"])


def _diff(path, have, want):
    return dict(
        before_header=path,
        after_header=path,
        before="" if have is None else have.content.decode(errors="replace"),
        after=want.content.decode(errors="replace"),
    )


def check_files(module, admin):
    params = module.params
    paths = params["paths"] + [f["path"] for f in params["files"]]
    relative = [p for p in paths if not p.startswith("/")]
    if relative:
        raise FaunaDBError(f"paths must be absolute: {', '.join(relative)}")
    missing = admin.executor.missing(params["paths"]) if params["paths"] else []
    if missing and params["fail_on_missing"]:
        where = admin.executor.describe()
        msg = f"Missing on {where}: {', '.join(missing)}. {params['hint']}"
        raise FaunaDBError(msg.strip(), missing=missing)
    writes, diffs = {}, []
    for spec in params["files"]:
        want = _wanted(spec)
        have = admin.executor.read_file(spec["path"])
        if have is None or (spec["force"] and have != want):
            writes[spec["path"]] = want
            diffs.append(_diff(spec["path"], have, want))
    if writes and not module.check_mode:
        admin.executor.write_files(writes)
    result = dict(changed=bool(writes), missing=missing, written=list(writes))
    if module._diff and diffs:
        result["diff"] = diffs
    return result


def main():
    run_module(ARGUMENT_SPEC, check_files)


if __name__ == "__main__":
    main()
