"""Node files as the faunadb_* modules take them: the ``files`` option and its checks.

files_to_write() compares the spec with what an executor (faunadb_executor)
reads on the node; faunadb_node_files writes the difference, faunadb_node's
probe only reports it.
"""

from __future__ import annotations

from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_executor import FileState


def files_option():
    """The ``files`` option: regular files a node should hold (content, mode, owner ids).

    faunadb_node_files writes them and faunadb_node's probe only compares them,
    so both take the same spec and compare through files_to_write().
    """
    return dict(
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
    )


def check_absolute(paths):
    relative = [p for p in paths if not p.startswith("/")]
    if relative:
        raise FaunaDBError(f"paths must be absolute: {', '.join(relative)}")


def check_file_specs(specs):
    """Refuse what no executor can write, before the node is read."""
    check_absolute(s["path"] for s in specs)
    for spec in specs:
        wanted_file(spec)


def wanted_file(spec):
    """The FileState one entry of ``files`` asks for."""
    try:
        mode = int(spec["mode"], 8)
    except ValueError:
        raise FaunaDBError(f"mode of {spec['path']} must be octal, is {spec['mode']!r}") from None
    return FileState(spec["content"].encode(), mode, spec["owner_id"], spec["group_id"])


def files_to_write(executor, specs):
    """The entries of ``files`` that differ on the node: ({path: wanted FileState}, diffs).

    A file that exists is kept when its entry has force false. The diffs
    carry the content: Ansible masks it in results because the option is no_log.
    """
    writes, diffs = {}, []
    for spec in specs:
        want = wanted_file(spec)
        have = executor.read_file(spec["path"])
        if have is None or (spec["force"] and have != want):
            writes[spec["path"]] = want
            diffs.append(
                dict(
                    before_header=spec["path"],
                    after_header=spec["path"],
                    before="" if have is None else have.content.decode(errors="replace"),
                    after=want.content.decode(errors="replace"),
                )
            )
    return writes, diffs
