"""Parsers for the output of faunadb-admin's commands other than status, and its errors.

Java exceptions and the launcher's notices, movement-status, show-replication,
host-version and show-identity; faunadb_parse_status reads the status table
with the same helpers. Pure functions on text: tested on recorded output of
both the current release and 2.x (tests/unit/modules/fixtures/).
"""

from __future__ import annotations

import re

from ansible.module_utils.faunadb_common import FaunaDBError

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# Lines the launcher or the JVM print on stdout before the output proper: the
# launcher's key notice (surface doc, "Verified on a real build" item 4) and
# start-up lines that may land on stdout. They are not data.
_NOTICE_RE = re.compile(
    r"^\s*(?:Using plain-text auth_root_key found in |Loaded configuration from |"
    r"Picked up (?:JAVA_TOOL_OPTIONS|_JAVA_OPTIONS))"
)
# A JVM exception: dotted package, then a class name ending in Exception or
# Error, then optionally ": message". Stack frames ("at ...", "... 3 more")
# name classes too and are skipped.
_EXCEPTION_RE = re.compile(
    r"(?<![\w.$])(?:[a-z_$][\w$]*\.)+(?=[A-Z])[\w$]*(?:Exception|Error)\b(?::.*)?"
)
_FRAME_RE = re.compile(r"^\s*(?:at\s|\.\.\.\s*\d+\s+more)")

_MOVEMENT_IDLE_RE = re.compile(r"No data movement is currently in progress", re.I)
_MOVEMENT_ACTIVE_RE = re.compile(
    r"(?P<progress>\S+) of tokens in (?P<segments>\d+) segments? moving to "
    r"(?P<nodes>\d+) nodes? in (?P<replicas>\d+) replicas?",
    re.I,
)
_UUID_RE = re.compile(rf"\b{_UUID}\b", re.I)


class ParseError(FaunaDBError):
    pass


def exception_line(text):
    """The exception line of a Java stack trace in text, or None.

    The first `pkg.SomeException: message` outside the frames: the last line
    of a trace is a frame (`at foo.Bar(Bar.scala:12)`), which says nothing.
    """
    for line in (text or "").splitlines():
        if _FRAME_RE.match(line):
            continue
        match = _EXCEPTION_RE.search(line)
        if match:
            return match.group(0).strip()
    return None


def has_stack_trace(text):
    """Whether text holds the frames of a Java stack trace."""
    return any(_FRAME_RE.match(line) for line in (text or "").splitlines())


def _refuse_exception(text, what):
    line = exception_line(text)
    if line:
        raise ParseError(f"{what} printed a Java exception: {line}", stdout=text)


def _without_notices(text):
    lines = (text or "").splitlines(keepends=True)
    while lines and (not lines[0].strip() or _NOTICE_RE.match(lines[0])):
        lines.pop(0)
    return "".join(lines)


def parse_show_replication(text):
    """Parse `show-replication`: a '\\treplica\\ttype' header, then 'N\\tNAME\\tTYPE' lines."""
    result = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        parts = raw.strip("\r\n").split("\t") if "\t" in raw else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) < 3:
            # The header ("replica", "type") has no index column.
            continue
        if not parts[0].isdigit():
            continue
        name, rtype = parts[1], " ".join(parts[2:])
        result[name] = rtype
    return result


def parse_movement_status(text):
    """Parse `movement-status` into {settled, message, progress, segments, nodes, replicas}."""
    _refuse_exception(text, "movement-status")
    text = _without_notices(text)
    message = " ".join(text.split())
    if _MOVEMENT_IDLE_RE.search(text):
        return dict(settled=True, message=message, progress=None, segments=0, nodes=0, replicas=0)
    match = _MOVEMENT_ACTIVE_RE.search(text)
    if match:
        return dict(
            settled=False,
            message=message,
            progress=match.group("progress"),
            segments=int(match.group("segments")),
            nodes=int(match.group("nodes")),
            replicas=int(match.group("replicas")),
        )
    raise ParseError(f"Unexpected movement-status output: {message!r}", stdout=text)


def parse_host_version(text):
    """The version `host-version` prints: `Fauna 25.02.07.dev-4f8f8be` -> 25.02.07.dev-4f8f8be."""
    _refuse_exception(text, "host-version")
    for line in _without_notices(text).splitlines():
        match = re.match(r"^\s*Fauna\s+(\S+)\s*$", line)
        if match:
            return match.group(1)
    raise ParseError(f"host-version printed no version: {text.strip()!r}", stdout=text)


def parse_identity(text):
    """Return the host UUID printed by `show-identity` / `host-id ADDRESS`."""
    # A trace may well name a UUID; it is not the answer.
    _refuse_exception(text, "show-identity")
    text = _without_notices(text)
    match = _UUID_RE.search(text)
    if match:
        return match.group(0)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and " " not in lines[0]:
        return lines[0]
    raise ParseError(f"No host ID found in output: {text.strip()!r}", stdout=text)
