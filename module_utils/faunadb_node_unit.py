"""Service mode's part of a node's lifecycle: the systemd unit itself.

faunadb_node state=started reloads systemd when the unit file changed and
enables the unit before it starts it (what ansible.builtin.systemd_service
with daemon_reload, enabled and state=started does); state=absent stops and
disables the unit, then removes its unit file and reloads systemd.
SystemdNodeOps in faunadb_node_ops reads the properties and runs systemctl.
"""

from __future__ import annotations

import os

from ansible.module_utils.faunadb_common import FaunaDBError

# The properties read besides the ones the faults need.
SHOW_PROPS = ("UnitFileState", "NeedDaemonReload")
# Where the role writes the unit file, which state=absent removes.
UNIT_DIR = "/etc/systemd/system"
# UnitFileState values for which `systemctl is-enabled` succeeds: nothing to enable.
_ENABLED = ("enabled", "enabled-runtime", "static", "indirect", "generated", "alias")


def unit_path(service, unit_dir=UNIT_DIR):
    name = service if "." in service else f"{service}.service"
    return os.path.join(unit_dir, name)


def unit_facts(props, path, exists):
    """What the lifecycle needs from `systemctl show` and the unit file: enabled (None when
    the unit is unknown), whether systemd must reload, the unit file when it is there."""
    state = props.get("UnitFileState") or ""
    return dict(
        enabled=(state in _ENABLED) if exists and state else None,
        _needs_reload=props.get("NeedDaemonReload") == "yes",
        _unit_file=path if os.path.exists(path) else None,
    )


def daemon_reload(ops):
    # Not a change of the node by itself (as systemd_service): the unit file's task reports it.
    ops._run(["systemctl", "daemon-reload"])


def reload_if_needed(ops, forced):
    """daemon-reload when asked (the unit file changed) or when systemd says so; True if done."""
    if forced or ops._show().get("NeedDaemonReload") == "yes":
        daemon_reload(ops)
        return True
    return False


def remove(ops):
    """Remove the unit file and reload systemd, which then forgets the unit."""
    path = ops.unit_file
    ops.commands.append(f"rm {path}")
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FaunaDBError(f"Cannot remove {path}: {exc}") from None
    ops.commands.append("systemctl daemon-reload")
    daemon_reload(ops)
