"""Cluster topology: versioned records merged by version, plus the derived
views (token ownership, log segments, segment leaders) every node computes
the same way from the same records.

Records are keyed ``host:<uuid>`` and ``replica:<name>``. Each carries an
integer version ``v``; merging keeps the higher (v, canonical JSON) per key,
so any two nodes that have seen the same records agree, whatever the order
in which they saw them (a tiny CRDT; gossip makes it converge).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re

RING = 1 << 32
VNODES = 16
REPLICA_TYPES = ("compute", "data", "data+log")
DATA_TYPES = ("data", "data+log")
FIRST_WORKER_ID = 512

REPLICA_NAME_RE = re.compile(
    r"^[^\W_][\w-]*(/[^\W_][\w-]*)?$", re.UNICODE
)


def valid_replica_name(name: str) -> bool:
    return bool(REPLICA_NAME_RE.match(name or ""))


def token_of(key: str) -> int:
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "big")  # noqa: S324


def _rank(record: dict) -> tuple:
    return (record.get("v", 0), json.dumps(record, sort_keys=True))


def merge(mine: dict, theirs: dict) -> tuple[dict, bool]:
    """Merge ``theirs`` into a copy of ``mine``; return (merged, changed)."""
    out = dict(mine)
    changed = False
    for key, rec in theirs.items():
        cur = out.get(key)
        if cur is None or _rank(rec) > _rank(cur):
            out[key] = rec
            changed = True
    return out, changed


def digest(records: dict) -> str:
    return hashlib.sha1(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]  # noqa: S324


def bump(records: dict, key: str, **fields) -> dict:
    """Return a new version of record ``key`` with ``fields`` changed."""
    cur = records.get(key, {})
    rec = dict(cur)
    rec.update(fields)
    rec["v"] = cur.get("v", 0) + 1
    return rec


class View:
    """Derived, read-only view of one topology snapshot."""

    def __init__(self, records: dict):
        self.records = records
        self.hosts = {
            k.split(":", 1)[1]: v for k, v in records.items() if k.startswith("host:")
        }
        self.replicas = {
            k.split(":", 1)[1]: v["type"] for k, v in records.items() if k.startswith("replica:")
        }
        self._rings: dict[str, tuple[list[int], list[str]]] = {}
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        self.digest = digest(records)  # gossiped on every heartbeat; compute once

    # -- membership -------------------------------------------------------
    def live_hosts(self, replica: str | None = None) -> list[str]:
        """Hosts in state live (not removed), sorted by worker id."""
        ids = [
            h for h, r in self.hosts.items()
            if r.get("state") == "live" and (replica is None or r["replica"] == replica)
        ]
        return sorted(ids, key=lambda h: self.hosts[h]["worker_id"])

    def replica_type(self, name: str) -> str:
        return self.replicas.get(name, "unknown type")

    def data_replicas(self) -> list[str]:
        return sorted(r for r, t in self.replicas.items() if t in DATA_TYPES and self.live_hosts(r))

    def log_replicas(self) -> list[str]:
        return sorted(r for r, t in self.replicas.items() if t == "data+log" and self.live_hosts(r))

    def next_worker_id(self) -> int:
        ids = [r["worker_id"] for r in self.hosts.values()]
        return max(ids) + 1 if ids else FIRST_WORKER_ID

    # -- token ownership --------------------------------------------------
    def _ring(self, replica: str) -> tuple[list[int], list[str]]:
        if replica not in self._rings:
            points = []
            for h in self.live_hosts(replica):
                for i in range(VNODES):
                    points.append((token_of(f"{h}/{i}"), h))
            points.sort()
            self._rings[replica] = ([p for p, _ in points], [h for _, h in points])
        return self._rings[replica]

    def owner(self, replica: str, token: int) -> str | None:
        """The node of ``replica`` whose vnode range (prev, point] holds ``token``."""
        points, owners = self._ring(replica)
        if not points:
            return None
        i = bisect.bisect_left(points, token)
        return owners[i % len(owners)]

    def ranges(self, host_id: str) -> list[tuple[int, int]]:
        """Token ranges (lo exclusive, hi inclusive) owned by ``host_id``."""
        if host_id not in self._ranges:
            self._ranges[host_id] = self._compute_ranges(host_id)
        return self._ranges[host_id]

    def _compute_ranges(self, host_id: str) -> list[tuple[int, int]]:
        rec = self.hosts.get(host_id)
        if not rec or rec.get("state") != "live":
            return []
        if self.replica_type(rec["replica"]) not in DATA_TYPES:
            return []
        points, owners = self._ring(rec["replica"])
        out = []
        for i, (p, h) in enumerate(zip(points, owners, strict=True)):
            if h != host_id:
                continue
            prev = points[i - 1] if i > 0 else points[-1] - RING
            if prev < 0:
                out.append((prev + RING, RING - 1))
                out.append((-1, p))
            else:
                out.append((prev, p))
        return out

    def ownership(self, host_id: str) -> float:
        return sum(hi - lo for lo, hi in self.ranges(host_id)) / RING

    # -- log segments -----------------------------------------------------
    def segment_count(self) -> int:
        sizes = [len(self.live_hosts(r)) for r in self.log_replicas()]
        return max(1, min(sizes)) if sizes else 1

    def segment_of_token(self, token: int) -> int:
        return token * self.segment_count() >> 32

    def segment_of(self, host_id: str) -> int | None:
        rec = self.hosts.get(host_id)
        if not rec or rec.get("state") != "live" or self.replica_type(rec["replica"]) != "data+log":
            return None
        idx = self.live_hosts(rec["replica"]).index(host_id)
        return idx if idx < self.segment_count() else None

    def segment_holders(self, segment: int) -> dict[str, str]:
        """replica name -> host holding ``segment`` in that data+log replica."""
        out = {}
        for r in self.log_replicas():
            hosts = self.live_hosts(r)
            if segment < len(hosts):
                out[r] = hosts[segment]
        return out

    def segment_leader(self, segment: int, is_up) -> str | None:
        """First live holder, starting at replica (segment mod R), so that
        leadership spreads over replicas and moves when a leader dies."""
        reps = self.log_replicas()
        holders = self.segment_holders(segment)
        if not reps:
            return None
        for k in range(len(reps)):
            host = holders.get(reps[(segment + k) % len(reps)])
            if host and is_up(host):
                return host
        return holders.get(reps[segment % len(reps)])

    def in_ranges(self, host_id: str, token: int) -> bool:
        return any(lo < token <= hi for lo, hi in self.ranges(host_id))


def parse_records(text: str) -> dict:
    data = json.loads(text)
    return data if isinstance(data, dict) else {}
