"""`faunadb-admin status` text layout of the current release."""

from faunadb_double.status_format import format_status

UUID1 = "9b2f0a64-0b6c-4a86-9a0c-7d1f6c1e0001"
UUID2 = "0c1e0a64-0b6c-4a86-9a0c-7d1f6c1e0002"
UUID3 = "1d2e0a64-0b6c-4a86-9a0c-7d1f6c1e0003"

DOC = {
    "nodes": [
        {"status": "down", "state": "live", "worker_id": 513, "log_segment": 1,
         "log_segment_leader": False, "address": "172.28.0.12", "ownership": 0.333,
         "ownership_goal": 0.333, "host_id": UUID2, "replica": "replica1",
         "persisted_timestamp": "not reported"},
        {"status": "up", "state": "live", "worker_id": 512, "log_segment": 0,
         "log_segment_leader": True, "address": "172.28.0.11", "ownership": 0.334,
         "ownership_goal": 0.334, "host_id": UUID1, "replica": "replica1",
         "persisted_timestamp": "2026-01-01T12:00:00.123Z"},
        {"status": "up", "state": "live", "worker_id": 1000, "log_segment": "none",
         "log_segment_leader": False, "address": "172.28.0.9", "ownership": 0.0,
         "ownership_goal": 0.0, "host_id": UUID3, "replica": "compute-a",
         "persisted_timestamp": "none"},
    ],
    "replica_info": [{"name": "replica1", "type": "data+log"},
                     {"name": "compute-a", "type": "compute"}],
}

H = ("Status  State  WorkerID  Log Segment  Address      Owns   Goal   "
     "HostID                                Persisted Timestamp     ")


def test_exact_layout():
    expected = "\n".join([
        "",
        "Replica: compute-a (compute)",
        "============================",
        H,
        "up      live   1000      none         172.28.0.9    0.0%   0.0%  "
        f"{UUID3}  none                    ",
        "",
        "Replica: replica1 (data+log)",
        "============================",
        H,
        "up      live   512       0 (leader)   172.28.0.11  33.4%  33.4%  "
        f"{UUID1}  2026-01-01T12:00:00.123Z",
        "down    live   513       1            172.28.0.12  33.3%  33.3%  "
        f"{UUID2}  not reported            ",
    ]) + "\n"
    assert format_status(DOC) == expected


def test_rows_sorted_by_worker_id_as_string():
    doc = {"nodes": [dict(DOC["nodes"][1], worker_id=512), dict(DOC["nodes"][0], worker_id=1024)],
           "replica_info": [{"name": "replica1", "type": "data+log"}]}
    lines = format_status(doc).splitlines()
    assert lines[4].split()[2] == "1024" and lines[5].split()[2] == "512"


def test_full_ownership_widens_columns_everywhere():
    doc = {
        "nodes": [dict(DOC["nodes"][1], ownership=1.0, ownership_goal=1.0),
                  dict(DOC["nodes"][2])],
        "replica_info": DOC["replica_info"],
    }
    lines = [ln for ln in format_status(doc).splitlines() if ln.startswith(("up", "Status"))]
    assert "100.0%  100.0%" in format_status(doc)
    assert "  0.0%    0.0%" in format_status(doc)
    assert len({len(ln) for ln in lines}) == 1  # every line padded to the same width


def test_unknown_type_and_underline_length():
    doc = {"nodes": [dict(DOC["nodes"][1], replica="r9")], "replica_info": []}
    lines = format_status(doc).splitlines()
    assert lines[1] == "Replica: r9 (unknown type)"
    assert lines[2] == "=" * len(lines[1])
