"""`faunadb-admin status` text layout of the current FaunaDB release.

Input is the JSON document the admin API returns (also what `--json`
prints): ``{"nodes": [...], "replica_info": [{"name", "type"}]}``.
"""

from __future__ import annotations

HEADERS = (
    "Status", "State", "WorkerID", "Log Segment", "Address",
    "Owns", "Goal", "HostID", "Persisted Timestamp",
)


def _pct(fraction) -> str:
    return "%4.1f%%" % (float(fraction or 0.0) * 100.0)  # noqa: UP031 - mirrors FaunaDB's %4.1f%%


def _segment(node: dict) -> str:
    seg = node.get("log_segment")
    if seg is None or seg == "none":
        return "none"
    if seg == "Uninitialized":
        return seg
    return f"{seg} (leader)" if node.get("log_segment_leader") else str(seg)


def row(node: dict) -> list[str]:
    worker = node.get("worker_id")
    return [
        node.get("status", "down"),
        node.get("state", "live"),
        "n/a" if worker is None else str(worker),
        _segment(node),
        node.get("address", ""),
        _pct(node.get("ownership")),
        _pct(node.get("ownership_goal")),
        node.get("host_id", ""),
        node.get("persisted_timestamp") or "none",
    ]


def format_status(doc: dict) -> str:
    types = {r["name"]: r["type"] for r in doc.get("replica_info", [])}
    by_replica: dict[str, list[list[str]]] = {name: [] for name in types}
    for node in doc.get("nodes", []):
        by_replica.setdefault(node.get("replica", ""), []).append(row(node))
    # Widths span every replica so that all blocks line up.
    widths = [len(h) for h in HEADERS]
    for rows in by_replica.values():
        for cells in rows:
            widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    out = []
    for name in sorted(by_replica):
        header = f"Replica: {name} ({types.get(name, 'unknown type')})"
        out.extend(["", header, "=" * len(header), line(HEADERS)])
        for cells in sorted(by_replica[name], key=lambda c: c[2]):
            out.append(line(cells))
    return "\n".join(out) + "\n"
