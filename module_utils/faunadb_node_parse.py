"""Reading a node's clock skew and processes: pure parsers for faunadb_node.

Offsets as the module takes them and the skew file libfaketime reads, the
clock hook in a node's environment, /proc stat lines, `systemctl show` output
and where a unit's cgroup lists its processes. No I/O: the drivers
(faunadb_node_docker, faunadb_node_systemd) read, these functions interpret.
"""

from __future__ import annotations

import re
import shlex

from ansible.module_utils.faunadb_common import FaunaDBError

# The skew file libfaketime reads, where roles/faunadb puts it (faunadb_faketime_file).
DEFAULT_FAKETIME_FILE = "/etc/faunadb/faketime.rc"


# -- Clock skew -----------------------------------------------------------------------

_OFFSET_RE = re.compile(r"^([+-]?)(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# libfaketime's relative form: a signed (fractional) number, then an optional
# multiplier (m, h, d, y); it ignores a trailing "s".
_SKEW_FILE_RE = re.compile(r"^([+-])(\d+(?:\.\d+)?)\s*([smhdy]?)$")
_SKEW_FILE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
# A skew of more than this is a typo, not a fault worth injecting.
MAX_OFFSET_SECONDS = 366 * 86400


def parse_offset(text):
    """Seconds of a requested skew: ``+300s``, ``-30s``, ``+5m``, ``+1h``, ``+2d``, ``300``, ``+0``.

    Raises FaunaDBError on anything else, before the module changes anything.
    """
    if isinstance(text, bool) or text is None:
        raise FaunaDBError(f"offset must be a signed duration such as +300s or -30s, got {text!r}")
    value = str(text).strip()
    match = _OFFSET_RE.match(value)
    if not match:
        raise FaunaDBError(
            f"offset {value!r} is not a duration: expected an optional sign, whole number and "
            "unit s, m, h or d (for example +300s, -30s, +5m)"
        )
    sign, number, unit = match.groups()
    seconds = int(number) * _UNIT_SECONDS[unit]
    if seconds > MAX_OFFSET_SECONDS:
        raise FaunaDBError(f"offset {value!r} is more than a year; refusing")
    return -seconds if sign == "-" else seconds


def format_offset(seconds):
    """The skew file's text for an offset in seconds (libfaketime's relative form)."""
    return f"{'-' if seconds < 0 else '+'}{abs(int(seconds))}\n"


def parse_skew_file(text):
    """Seconds of skew the timestamp file asks libfaketime for, or None when it is not a
    relative offset (empty, an absolute date, a speed factor...)."""
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SKEW_FILE_RE.match(line)
        if not match:
            return None
        sign, number, unit = match.groups()
        seconds = round(float(number) * _SKEW_FILE_UNITS[unit])
        return -seconds if sign == "-" else seconds
    return None


def clock_hook(env):
    """Whether libfaketime is preloaded and which timestamp file it reads, from an env dict."""
    preload = env.get("LD_PRELOAD", "")
    return dict(
        preloaded="faketime" in preload,
        file=env.get("FAKETIME_TIMESTAMP_FILE") or None,
    )


# -- Processes ------------------------------------------------------------------------


def proc_stat_state(stat_text):
    """The state letter of a /proc/PID/stat line (R, S, D, T, Z...), or None.

    The command name (field 2) is in parentheses and may itself contain spaces
    and parentheses, so the state is the first field after the *last* ')'.
    """
    text = (stat_text or "").strip()
    end = text.rfind(")")
    if end < 0:
        return None
    rest = text[end + 1 :].split()
    return rest[0] if rest else None


def frozen(states):
    """(any, all) of the processes stopped by a signal (state T): a SIGSTOPped node."""
    states = [s for s in states if s]
    stopped = [s == "T" for s in states]
    return any(stopped), bool(stopped) and all(stopped)


def parse_systemctl_show(text):
    """`systemctl show -p A,B` output as a dict (values may contain '=')."""
    props = {}
    for line in (text or "").splitlines():
        name, sep, value = line.partition("=")
        if sep:
            props[name.strip()] = value
    return props


def parse_environment(value):
    """systemd's Environment property (space separated, shell-quoted) as a dict."""
    env = {}
    try:
        words = shlex.split(value or "")
    except ValueError:
        words = (value or "").split()
    for word in words:
        name, sep, val = word.partition("=")
        if sep:
            env[name] = val
    return env


def cgroup_procs_paths(control_group, root="/sys/fs/cgroup"):
    """Where the unit's cgroup lists its processes: cgroup v2, hybrid, then v1's systemd tree."""
    if not control_group:
        return []
    return [
        f"{root}{control_group}/cgroup.procs",
        f"{root}/unified{control_group}/cgroup.procs",
        f"{root}/systemd{control_group}/cgroup.procs",
    ]
