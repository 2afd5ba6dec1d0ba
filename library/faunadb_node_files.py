#!/usr/bin/python
# Apache-2.0, like the rest of the project.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: faunadb_node_files
short_description: Check that files a FaunaDB node needs exist on it
description:
  - Reports which of O(paths) are missing on the node, through the same executor as
    C(faunadb-admin), and fails naming them unless O(fail_on_missing=false).
  - With O(executor=docker) it asks the Docker API, which also answers for a container that was
    created but never started, so an image can be checked (release launchers, the clock-skew hook)
    before its process runs. Nothing is needed inside the container.
version_added: "0.2.0"
author: FaunaDB lab project
options:
  paths:
    description: Absolute paths that must exist on the node.
    type: list
    elements: str
    required: true
  fail_on_missing:
    description: Fail when a path is missing; otherwise only report it in RV(missing).
    type: bool
    default: true
  hint:
    description: What to do about a missing path, appended to the failure message.
    type: str
    default: ""
extends_documentation_fragment:
  - faunadb
  - faunadb.attributes
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: N/A
    details: The module never changes anything.
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
"""

RETURN = r"""
missing:
  description: The paths that do not exist on the node.
  returned: always
  type: list
  elements: str
  sample: ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"]
commands:
  description: Always empty; no faunadb-admin command runs.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.faunadb_admin import run_module
from ansible.module_utils.faunadb_common import FaunaDBError, faunadb_argument_spec

ARGUMENT_SPEC = faunadb_argument_spec(
    dict(
        paths=dict(type="list", elements="str", required=True),
        fail_on_missing=dict(type="bool", default=True),
        hint=dict(type="str", default=""),
    )
)


def check_files(module, admin):
    params = module.params
    relative = [p for p in params["paths"] if not p.startswith("/")]
    if relative:
        raise FaunaDBError(f"paths must be absolute: {', '.join(relative)}")
    missing = admin.executor.missing(params["paths"])
    if missing and params["fail_on_missing"]:
        where = admin.executor.describe()
        msg = f"Missing on {where}: {', '.join(missing)}. {params['hint']}"
        raise FaunaDBError(msg.strip(), missing=missing)
    return dict(changed=False, missing=missing)


def main():
    run_module(ARGUMENT_SPEC, check_files)


if __name__ == "__main__":
    main()
