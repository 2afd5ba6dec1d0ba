"""Parser of `faunadb-admin status` (text table or --json), and the summary built on it.

The text table is refused line by line when a cell does not fit its column,
so cut or mangled output never turns into wrong facts. Pure functions on
text: tested on recorded output of the current release and 2.x
(tests/unit/modules/fixtures/).
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible.module_utils.faunadb_parse import (
    _NOTICE_RE,
    _UUID,
    ParseError,
    _refuse_exception,
    _without_notices,
)

# Columns are looked up by these names; every other header is kept under its
# own lowercased, underscored name so an unknown extra column is not lost.
_COLUMN_KEYS = {
    "status": "status",
    "state": "state",
    "workerid": "worker_id",
    "worker id": "worker_id",
    "log segment": "log_segment",
    "address": "address",
    "owns": "owns",
    "goal": "goal",
    "hostid": "host_id",
    "host id": "host_id",
    "persisted timestamp": "persisted_timestamp",
}

# Names of the columns every status table has (2.x tables lack Persisted
# Timestamp), as printed, for error messages.
_REQUIRED_COLUMNS = {
    "status": "Status",
    "state": "State",
    "worker_id": "WorkerID",
    "log_segment": "Log Segment",
    "address": "Address",
    "owns": "Owns",
    "goal": "Goal",
    "host_id": "HostID",
}

_REPLICA_HEADER_RE = re.compile(r"^Replica:\s+(?P<name>\S(?:.*\S)?)\s+\((?P<type>[^()]*)\)\s*$")
_DATACENTER_HEADER_RE = re.compile(
    r"^Datacenter:\s+(?P<name>\S(?:.*\S)?)\s+\(in Replication:\s*(?P<repl>\w+)\)\s*$", re.I
)
# Columns are separated by two or more spaces (FaunaDB pads every cell and
# adds two) or by a tab (a table that went through a tab-separating tool);
# words inside a cell ("0 (leader)", "not reported") by one space.
_CELL_SEP_RE = re.compile(r"\s*\t\s*|\s{2,}")
_SEGMENT_RE = re.compile(r"^(?:Segment-)?(?P<num>\d+)(?P<leader>\s*\(leader\))?$", re.I)
_PERCENT_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*%$")
_HOSTNAME_RE = re.compile(
    # At least one character that is neither digit nor dot: "17" or "172.18"
    # is a cut IPv4 address, not a hostname.
    r"(?=.*[^\d.])[a-z0-9_](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9])?)*",
    re.I,
)


def _is_address(value):
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_HOSTNAME_RE.fullmatch(value))


def _matches(pattern, flags=re.I):
    return re.compile(pattern, flags).fullmatch


# What each known column may hold, so that a cut or shifted row is refused
# rather than read as facts (surface doc, "status output, current release").
_CELL_FORMATS = {
    "status": (_matches(r"up|down"), "up or down"),
    "state": (_matches(r"live|removed"), "live or removed"),
    "worker_id": (_matches(r"\d+|n/a|error"), "a number, n/a or error"),
    "log_segment": (
        _matches(r"(?:Segment-)?\d+(?: \(leader\))?|none|Uninitialized"),
        "a number, NUMBER (leader), Segment-NUMBER, none or Uninitialized",
    ),
    # The server writes n/a for a node whose host name it does not know
    # (AdminApplication.scala, the /admin/status route).
    "address": (lambda v: v.lower() == "n/a" or _is_address(v), "an IP address, hostname or n/a"),
    "owns": (_PERCENT_RE.match, "a percentage"),
    "goal": (_PERCENT_RE.match, "a percentage"),
    # The surface doc's example elides UUIDs as "9b2f...-uuid".
    "host_id": (_matches(rf"{_UUID}|\w+\.\.\.[\w-]*"), "a host UUID"),
    # Java's Instant prints 0, 3, 6 or 9 fractional digits
    # ("2026-11-27T09:34:16.859999999Z", "1970-01-01T00:00:00Z").
    "persisted_timestamp": (
        _matches(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z|none|not reported"),
        "an ISO instant, none or not reported",
    ),
}


def _column_key(header):
    name = " ".join(header.split()).lower()
    return _COLUMN_KEYS.get(name, re.sub(r"\W+", "_", name).strip("_"))


def _split_cells(line):
    return _CELL_SEP_RE.split(line.strip())


def _header_columns(number, line, text):
    """[(key, header as printed)] of a status table header line."""
    columns = [(_column_key(name), name) for name in _split_cells(line)]
    missing = [name for key, name in _REQUIRED_COLUMNS.items() if key not in dict(columns)]
    if missing:
        raise ParseError(
            f"line {number}: status table header lacks column(s) {', '.join(missing)}: {line!r}",
            stdout=text,
        )
    return columns


def _split_row(number, line, columns, text):
    """Map a table row onto the header's columns, refusing cells that do not fit."""
    cells = _split_cells(line)
    if len(cells) != len(columns):
        raise ParseError(
            f"line {number}: {len(cells)} cells where the header has {len(columns)} "
            f"({', '.join(name for _, name in columns)}); cut or damaged row: {line!r}",
            stdout=text,
        )
    for (key, name), cell in zip(columns, cells, strict=True):
        valid, expected = _CELL_FORMATS.get(key, (None, None))
        if valid and not valid(cell):
            raise ParseError(
                f"line {number}: {name} cell {cell!r} is not {expected}: {line!r}", stdout=text
            )
    return {key: cell for (key, _), cell in zip(columns, cells, strict=True)}


def _int_or_none(value):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    value = str(value).strip()
    return int(value) if value.isdigit() else None


def _percent(value):
    """Text tables print '33.4%'; JSON gives a fraction (0.334). Both -> 33.4."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value) * 100, 1)
    match = _PERCENT_RE.match(str(value).strip())
    return float(match.group("num")) if match else None


def _timestamp(value):
    if value is None:
        return None
    value = str(value).strip()
    if not value or value.lower() in ("none", "not reported", "n/a", "null"):
        return None
    return value


def _log_segment(value, leader=None):
    """Return (segment number or None, leader flag).

    Text: '0 (leader)', '1', 'Segment-2' (2.x), 'none', 'Uninitialized'.
    JSON: log_segment as a string plus a separate log_segment_leader flag.
    """
    if value is None:
        return None, bool(leader)
    if isinstance(value, int) and not isinstance(value, bool):
        return value, bool(leader)
    match = _SEGMENT_RE.match(str(value).strip())
    if not match:
        return None, bool(leader)
    return int(match.group("num")), bool(leader) or bool(match.group("leader"))


_UNKNOWN = ("n/a", "error")


def _node(replica, replica_type, cells, leader=None):
    segment, is_leader = _log_segment(cells.get("log_segment"), leader)
    worker_raw = cells.get("worker_id")
    address = cells.get("address")
    # A worker id n/a (unassigned) or error (unavailable), or no known host
    # name (n/a): the node takes no part yet, whatever its Status and State say.
    known = str(worker_raw).lower() not in _UNKNOWN and str(address).lower() not in _UNKNOWN
    if str(address).lower() in _UNKNOWN:
        address = None
    node = dict(
        replica=replica,
        replica_type=replica_type,
        status=(cells.get("status") or "").lower() or None,
        state=(cells.get("state") or "").lower() or None,
        worker_id=_int_or_none(worker_raw),
        log_segment=segment,
        log_segment_leader=is_leader and known,
        address=address,
        owns=_percent(cells.get("owns")),
        goal=_percent(cells.get("goal")),
        host_id=cells.get("host_id"),
        persisted_timestamp=_timestamp(cells.get("persisted_timestamp")),
    )
    node["up_and_live"] = known and node["status"] == "up" and node["state"] == "live"
    return node


def parse_status_text(text):
    """Parse the text table of `faunadb-admin status` (current release or 2.x).

    Refuses (ParseError naming the line) anything that is not such a table, so
    that cut or mangled output never turns into wrong facts.
    """
    _refuse_exception(text, "status")
    replicas = []
    nodes = []
    current = None
    columns = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip():
            continue
        match = _REPLICA_HEADER_RE.match(line)
        if match:
            rtype = match.group("type").strip()
            current = dict(name=match.group("name"), type=rtype)
            replicas.append(current)
            columns = None
            continue
        match = _DATACENTER_HEADER_RE.match(line)
        if match:
            # 2.x had no replica types: replicas named in update-replication
            # ("in Replication: yes") carried data and log, the rest computed.
            in_replication = match.group("repl").lower() in ("yes", "true")
            current = dict(
                name=match.group("name"),
                type="data+log" if in_replication else "compute",
                in_replication=in_replication,
            )
            replicas.append(current)
            columns = None
            continue
        if current is None:
            if _NOTICE_RE.match(line):
                continue
            raise ParseError(
                f'line {number}: expected a "Replica: NAME (TYPE)" header, got {line.strip()!r}',
                stdout=text,
            )
        if set(line.strip()) == {"="}:
            continue
        if columns is None:
            columns = _header_columns(number, line, text)
            continue
        cells = _split_row(number, line, columns, text)
        nodes.append(_node(current["name"], current["type"], cells))
    if not replicas:
        raise ParseError('No "Replica:" block found in status output', stdout=text)
    return dict(replicas=replicas, nodes=nodes, source="text")


def parse_status_json(text):
    """Parse `faunadb-admin status --json`: {"nodes": [...], "replica_info": [...]}."""
    try:
        data = json.loads(_without_notices(text))
    except ValueError as exc:
        _refuse_exception(text, "status --json")
        raise ParseError(f"status --json did not print JSON: {exc}", stdout=text) from None
    if isinstance(data, dict) and isinstance(data.get("resource"), dict):
        data = data["resource"]
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise ParseError('status --json printed JSON without a "nodes" list', stdout=text)
    types = {}
    replicas = []
    for info in data.get("replica_info") or []:
        replicas.append(dict(name=info.get("name"), type=info.get("type") or "unknown type"))
        types[info.get("name")] = info.get("type") or "unknown type"
    nodes = []
    for item in data["nodes"]:
        if not isinstance(item, dict):
            raise ParseError(
                f"status --json listed a node that is not an object: {item!r}", stdout=text
            )
        replica = item.get("replica")
        if replica not in types:
            types[replica] = "unknown type"
            replicas.append(dict(name=replica, type="unknown type"))
        # The JSON names two of the text table's columns otherwise; _node reads only its cells.
        cells = dict(item, owns=item.get("ownership"), goal=item.get("ownership_goal"))
        nodes.append(_node(replica, types[replica], cells, item.get("log_segment_leader")))
    replicas.sort(key=lambda r: r["name"] or "")
    return dict(replicas=replicas, nodes=nodes, source="json")


def replica_types(status):
    return {r["name"]: r["type"] for r in status["replicas"]}


def summarize(status):
    """Facts a playbook gates on, computed from a parsed status."""
    nodes = status["nodes"]
    current = [n for n in nodes if n["state"] != "removed"]
    types = replica_types(status)
    by_type = {}
    for name in sorted(types):
        by_type.setdefault(types[name], []).append(name)
    live_by_replica = {}
    for node in current:
        live_by_replica.setdefault(node["replica"], 0)
        if node["up_and_live"]:
            live_by_replica[node["replica"]] += 1
    data_log = by_type.get("data+log", [])
    data_log_live = [r for r in data_log if live_by_replica.get(r, 0) > 0]
    data = [r for r in sorted(types) if types[r] in ("data", "data+log")]
    readable = [r for r in data if live_by_replica.get(r, 0)]
    return dict(
        nodes_total=len(current),
        nodes_up_and_live=sum(1 for n in current if n["up_and_live"]),
        all_up_and_live=bool(current) and all(n["up_and_live"] for n in current),
        nodes_down=[n["address"] for n in current if n["status"] != "up"],
        nodes_not_live=[n["address"] for n in current if n["state"] != "live"],
        nodes_removed=[n["address"] for n in nodes if n["state"] == "removed"],
        replicas_by_type=by_type,
        replicas_down=[r for r in sorted(types) if not live_by_replica.get(r, 0)],
        data_log_replicas=data_log,
        data_log_replicas_live=data_log_live,
        data_replicas_live=readable,
        # A data replica with no node up and live (none listed, all down or
        # removed) cannot serve its copy; all_up_and_live does not see it.
        data_replicas_down=[r for r in data if r not in readable],
        # Each log segment needs a majority of the data+log replicas to commit.
        write_quorum=bool(data_log) and len(data_log_live) * 2 > len(data_log),
        log_segment_leaders=sorted(
            (n["address"] for n in current if n["log_segment_leader"]), key=str
        ),
    )
