"""Parsers of faunadb-admin output, on recorded output of both eras."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.faunadb_parse import (
    ParseError,
    exception_line,
    parse_host_version,
    parse_identity,
    parse_movement_status,
    parse_show_replication,
)
from ansible.module_utils.faunadb_parse_status import (
    parse_status_json,
    parse_status_text,
    replica_types,
    summarize,
)
from ansible.module_utils.faunadb_plan import healthy_problems
from faunadb_module_testkit import FIXTURES, fixture_text


def by_address(status):
    return {n["address"]: n for n in status["nodes"]}


# -- 2.x, the seed's tables verbatim -----------------------------------------


def test_2x_before_update_replication():
    status = parse_status_text(fixture_text("faunadb_admin_status_2x_before.txt"))
    assert replica_types(status) == {
        "replica1": "data+log",
        "replica2": "compute",
        "replica3": "compute",
    }
    assert len(status["nodes"]) == 9
    node = by_address(status)["172.18.0.9"]
    assert node == dict(
        replica="replica1",
        replica_type="data+log",
        status="up",
        state="live",
        up_and_live=True,
        worker_id=512,
        log_segment=0,
        log_segment_leader=False,
        address="172.18.0.9",
        owns=34.3,
        goal=34.3,
        host_id="c1ec8f33-cfad-4dab-8745-4b56c0939f6c",
        persisted_timestamp=None,
    )
    compute = by_address(status)["172.18.0.10"]
    assert (compute["log_segment"], compute["owns"], compute["worker_id"]) == (None, 0.0, 518)
    summary = summarize(status)
    assert summary["all_up_and_live"] is True
    assert summary["data_log_replicas"] == ["replica1"]
    assert summary["write_quorum"] is True


def test_2x_after_update_replication():
    status = parse_status_text(fixture_text("faunadb_admin_status_2x_after.txt"))
    assert set(replica_types(status).values()) == {"data+log"}
    segments = sorted(n["log_segment"] for n in status["nodes"] if n["replica"] == "replica2")
    assert segments == [0, 1, 2]
    assert by_address(status)["172.18.0.10"]["owns"] == 37.3
    summary = summarize(status)
    assert summary["data_log_replicas_live"] == ["replica1", "replica2", "replica3"]
    assert summary["nodes_total"] == 9


def test_2x_datacenter_headers():
    status = parse_status_text(fixture_text("faunadb_admin_status_2x_datacenter.txt"))
    assert [r["name"] for r in status["replicas"]] == ["replica1", "replica2", "replica3"]
    assert [r["in_replication"] for r in status["replicas"]] == [True, False, False]
    assert replica_types(status)["replica1"] == "data+log"
    assert replica_types(status)["replica2"] == "compute"
    assert by_address(status)["172.18.0.7"]["host_id"] == "05a6ccf1-411f-4935-aef7-bea7513a71ac"


# -- current release -----------------------------------------------------------


def test_current_text_mixed():
    status = parse_status_text(fixture_text("faunadb_admin_status_current_mixed.txt"))
    assert replica_types(status) == {
        "replica1": "data+log",
        "replica2": "data",
        "replica3": "compute",
        "replica4": "unknown type",
    }
    nodes = by_address(status)
    leader = nodes["172.28.0.11"]
    assert (leader["log_segment"], leader["log_segment_leader"]) == (0, True)
    assert leader["persisted_timestamp"] == "2026-01-01T12:00:00.123Z"
    assert (nodes["172.28.0.12"]["log_segment"], nodes["172.28.0.12"]["log_segment_leader"]) == (
        1,
        False,
    )
    assert nodes["172.28.0.13"]["persisted_timestamp"] is None  # "not reported"
    assert nodes["172.28.0.31"]["persisted_timestamp"] is None  # "none"
    assert nodes["172.28.0.22"]["status"] == "down"
    removed = nodes["172.28.0.33"]
    assert (removed["state"], removed["worker_id"], removed["up_and_live"]) == (
        "removed",
        None,
        False,
    )
    uninit = nodes["172.28.0.41"]
    assert (uninit["log_segment"], uninit["worker_id"], uninit["replica_type"]) == (
        None,
        None,
        "unknown type",
    )
    assert nodes["172.28.0.21"]["owns"] == 50.0


def test_current_text_and_json_agree():
    text = parse_status_text(fixture_text("faunadb_admin_status_current_mixed.txt"))
    data = parse_status_json(fixture_text("faunadb_admin_status_current_mixed.json"))
    assert (text["source"], data["source"]) == ("text", "json")
    # replica_info has no entry for replica4; both must call it "unknown type".
    assert text["replicas"] == data["replicas"]
    key = lambda n: n["host_id"]  # noqa: E731
    assert sorted(text["nodes"], key=key) == sorted(data["nodes"], key=key)


def test_current_3x1_full_ownership_and_agreement():
    text = parse_status_text(fixture_text("faunadb_admin_status_current_3x1.txt"))
    data = parse_status_json(fixture_text("faunadb_admin_status_current_3x1.json"))
    assert [n["owns"] for n in text["nodes"]] == [100.0, 100.0, 100.0]
    assert text["nodes"] == data["nodes"]


def test_surface_doc_example_with_misaligned_columns():
    status = parse_status_text(fixture_text("faunadb_admin_status_current_docexample.txt"))
    first, second = status["nodes"]
    assert first["log_segment_leader"] is True
    assert first["address"] == "172.28.0.11"
    assert (first["owns"], first["goal"]) == (33.4, 33.4)
    assert first["host_id"] == "9b2f...-uuid"
    assert first["persisted_timestamp"] == "2026-01-01T12:00:00.123Z"
    assert (second["status"], second["persisted_timestamp"]) == ("down", None)


def test_json_wrapped_in_resource():
    inner = json.loads(fixture_text("faunadb_admin_status_current_3x1.json"))
    status = parse_status_json(json.dumps({"resource": inner}))
    assert len(status["nodes"]) == 3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "This node is not part of a cluster.\n",
        "Replica: r1 (data+log)\n=====\nFoo  Bar\nx    y\n",
    ],
)
def test_status_text_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_status_text(text)


@pytest.mark.parametrize("text", ["not json", "[]", '{"replica_info": []}'])
def test_status_json_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_status_json(text)


def test_leading_noise_is_ignored():
    text = "Loaded configuration from /etc/faunadb/faunadb.yml...\n" + fixture_text(
        "faunadb_admin_status_current_3x1.txt"
    )
    assert len(parse_status_text(text)["nodes"]) == 3


def test_replica_names_with_slash_and_unicode():
    text = fixture_text("faunadb_admin_status_current_3x1.txt").replace(
        "Replica: replica1 (data+log)\n============================",
        "Replica: région/eu-1 (data+log)\n===============================",
    )
    status = parse_status_text(text)
    assert status["replicas"][0]["name"] == "région/eu-1"
    assert status["nodes"][0]["replica"] == "région/eu-1"


# -- damaged output: refused, never read as facts ---------------------------------


def test_cut_mid_row_is_refused():
    # Today's cut: the last row read as up/live at address "17", replicas
    # after it gone, and a healthy-looking summary.
    with pytest.raises(ParseError) as exc:
        parse_status_text(fixture_text("faunadb_admin_status_current_cut.txt"))
    assert exc.value.msg.startswith("line 7: 5 cells where the header has 9 (Status, State,")
    assert "'up      live     518       2 (leader)     17'" in exc.value.msg


def _first_row_with(fixture, old, new):
    lines = fixture_text(fixture).split("\n")
    row = next(i for i, line in enumerate(lines) if line.startswith(("up ", "down ")))
    assert old in lines[row]
    lines[row] = lines[row].replace(old, new, 1)
    return "\n".join(lines)


# The release's table, and the 2.x one; each row: fixture, cell text, what it becomes, message.
NOW, OLD = "current_3x1", "2x_after"


@pytest.mark.parametrize(
    "fixture, old, new, expected",
    [
        (NOW, "up      ", "upp     ", "Status cell 'upp' is not up or down"),
        (NOW, "live   ", "alive  ", "State cell 'alive' is not live or removed"),
        (NOW, "512 ", "51x ", "WorkerID cell '51x' is not a number, n/a or error"),
        (NOW, "0 (leader)", "0 (leadr) ", "Log Segment cell '0 (leadr)' is not a number"),
        (NOW, "10.0.0.1", "10.0    ", "Address cell '10.0' is not an IP address, hostname or n/a"),
        (NOW, "100.0%  100.0%", "100.0   100.0%", "Owns cell '100.0' is not a percentage"),
        (NOW, "0c1e2f3a4b14", "0c1e        ", "HostID cell '9b2f3a24-1c1e-4a57-9d7e-0c1e'"),
        # Cut inside the last cell: the cell count alone cannot tell.
        (NOW, "12:00:00.000Z", "12:0", "Persisted Timestamp cell '2026-01-01T12:0' is not an"),
        (OLD, "8745-4b56c0939f6c", "8745", "HostID cell 'c1ec8f33-cfad-4dab-8745'"),
    ],
)
def test_cell_that_does_not_fit_its_column_is_refused(fixture, old, new, expected):
    text = _first_row_with(f"faunadb_admin_status_{fixture}.txt", old, new)
    with pytest.raises(ParseError) as exc:
        parse_status_text(text)
    assert exc.value.msg.startswith("line ")
    assert expected in exc.value.msg


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Some banner\n\nReplica: r1 (data+log)\n", 'line 1: expected a "Replica: NAME (TYPE)"'),
        (
            "\nReplica: r1 (data+log)\n=====\nStatus  State  Wor",
            "line 4: status table header lacks",
        ),
        ("Replica: r1 (data+log)\n=====\nFoo  Bar\nx    y\n", "lacks column(s) Status, State,"),
    ],
)
def test_what_is_not_a_status_table_is_named(text, expected):
    with pytest.raises(ParseError) as exc:
        parse_status_text(text)
    assert expected in exc.value.msg


def test_tab_separated_table_parses_like_the_spaced_one():
    tabs = parse_status_text(fixture_text("faunadb_admin_status_current_tabs.txt"))
    spaced = parse_status_text(fixture_text("faunadb_admin_status_current_3x1.txt"))
    assert tabs == spaced


def test_one_tab_separated_row_in_a_spaced_table():
    text = _first_row_with(
        "faunadb_admin_status_current_3x1.txt", "512       0 (leader)   ", "512\t0 (leader)\t"
    )
    node = parse_status_text(text)["nodes"][0]
    assert (node["worker_id"], node["log_segment"], node["address"]) == (512, 0, "10.0.0.1")


@pytest.mark.parametrize("source", ["txt", "json"])
def test_data_replica_with_no_nodes_is_not_healthy(source):
    parse = parse_status_text if source == "txt" else parse_status_json
    status = parse(fixture_text(f"faunadb_admin_status_current_empty_data.{source}"))
    assert replica_types(status)["replica2"] == "data"
    s = summarize(status)
    # Every listed node is up and live and the one data+log replica has quorum...
    assert (s["all_up_and_live"], s["write_quorum"]) == (True, True)
    # ...but the data replica has nothing to serve its copy with.
    assert s["data_replicas_down"] == ["replica2"]
    problems = healthy_problems(status, s, 1, None)
    assert problems == ["data replicas with no node up and live: replica2"]


def test_data_replicas_down_counts_down_and_removed_nodes_not_compute():
    status = _with(
        parse_status_text(fixture_text("faunadb_admin_status_2x_before.txt")),
        **{a: {"status": "down"} for a in ("172.18.0.9", "172.18.0.3", "172.18.0.6")},
        **{"172.18.0.5": {"state": "removed"}},
    )
    s = summarize(status)
    assert s["data_replicas_down"] == ["replica1"]
    assert s["replicas_down"] == ["replica1"]  # replica2 (compute) still has live nodes
    assert (
        summarize(parse_status_text(fixture_text("faunadb_admin_status_2x_before.txt")))[
            "data_replicas_down"
        ]
        == []
    )


# -- stack traces, launcher notices, real timestamps -----------------------------

TRACE = fixture_text("faunadb_admin_status_error_stacktrace.txt")
TRACE_EXCEPTION = 'java.lang.IllegalStateException: Admin response had no "nodes" field'


@pytest.mark.parametrize(
    "text, expected",
    [
        (TRACE, TRACE_EXCEPTION),
        # Surface doc, "Verified on a real build" item 6 (stderr of status before init).
        (
            "Failed: Unknown error. Please contact support. Message was "
            "fauna.repo.UninitializedException: FaunaDB Service is uninitialized",
            "fauna.repo.UninitializedException: FaunaDB Service is uninitialized",
        ),
        # Item 5: the server's own last words.
        (
            "Uncaught Exception on Main Thread. Terminating: "
            "java.nio.file.NoSuchFileException: /etc/feature-flag-periodic.d",
            "java.nio.file.NoSuchFileException: /etc/feature-flag-periodic.d",
        ),
        (
            "java.lang.NullPointerException\n\tat foo.Bar(Bar.scala:12)\n",
            "java.lang.NullPointerException",
        ),
        ("\tat foo.Bar.baz(Bar.scala:12)\n\t... 3 more\n", None),
        ("ERROR: Could not connect to FaunaDB at 127.0.0.1:8444\n", None),
        ("Error: auth_root_key or auth_root_key_hash must be set.\n", None),
    ],
)
def test_exception_line(text, expected):
    assert exception_line(text) == expected


def test_no_exception_line_in_any_status_fixture():
    for path in sorted(FIXTURES.glob("faunadb_admin_status_*")):
        if "stacktrace" not in path.name:
            assert exception_line(path.read_text()) is None, path.name


@pytest.mark.parametrize(
    "parse, text",
    [
        (parse_status_text, TRACE),
        (parse_status_json, TRACE),
        (parse_movement_status, TRACE),
        # A UUID inside a trace is not this node's host ID.
        (parse_identity, TRACE.replace("nodes", "9b2f3a10-1c1e-4a57-9d7e-0c1e2f3a4b00")),
    ],
)
def test_stack_trace_is_reported_by_its_exception_line(parse, text):
    with pytest.raises(ParseError) as exc:
        parse(text)
    assert "Exception: Admin response had no" in exc.value.msg
    assert "at fauna." not in exc.value.msg


NOTICE = "Using plain-text auth_root_key found in /etc/faunadb.yml\n"


def test_key_notice_before_json_and_table():
    data = parse_status_json(fixture_text("faunadb_admin_status_current_keynotice.json"))
    text = parse_status_text(fixture_text("faunadb_admin_status_current_keynotice.txt"))
    assert data["nodes"] == text["nodes"]
    assert [r["name"] for r in text["replicas"]] == ["replica1", "replica2", "replica3"]
    # Surface doc item 13: the forms a real build prints.
    assert [n["persisted_timestamp"] for n in text["nodes"]] == [
        "2026-11-27T09:34:16.859999999Z",
        "1970-01-01T00:00:00Z",
        None,  # "not reported"
    ]


def test_key_notice_before_other_commands():
    idle = parse_movement_status(NOTICE + fixture_text("faunadb_admin_movement-status_idle.txt"))
    assert idle["message"] == "No data movement is currently in progress."
    moving = parse_movement_status(
        NOTICE + "12.5% of tokens in 3 segments moving to 2 nodes in 1 replicas.\n"
    )
    assert moving["message"].startswith("12.5% of tokens")
    assert parse_identity(NOTICE + "some-host-label\n") == "some-host-label"
    replication = NOTICE + fixture_text("faunadb_admin_show-replication_mixed.txt")
    assert parse_show_replication(replication)["replica2"] == "data"


@pytest.mark.parametrize(
    "stamp, ok",
    [
        ("2026-11-27T09:34:16.859999999Z", True),
        ("2026-11-27T09:34:16.859999Z", True),
        ("2026-11-27T09:34:16Z", True),
        ("1970-01-01T00:00:00Z", True),
        ("not reported", True),
        ("none", True),
        ("2026-11-27T09:34:16.8599999991Z", False),
        ("2026-11-27T09:34:16.85999", False),
        ("2026-11-27T09:34", False),
        ("yesterday", False),
    ],
)
def test_persisted_timestamp_forms(stamp, ok):
    text = _first_row_with(
        "faunadb_admin_status_current_3x1.txt", "2026-01-01T12:00:00.000Z", stamp
    )
    if ok:
        parse_status_text(text)
    else:
        with pytest.raises(ParseError, match="Persisted Timestamp cell"):
            parse_status_text(text)


# -- summaries -------------------------------------------------------------------


def test_summary_mixed_cluster():
    status = parse_status_text(fixture_text("faunadb_admin_status_current_mixed.txt"))
    s = summarize(status)
    assert s["nodes_total"] == 8  # the removed node is not counted
    assert s["nodes_removed"] == ["172.28.0.33"]
    assert s["nodes_down"] == ["172.28.0.22"]
    assert s["all_up_and_live"] is False
    assert s["replicas_by_type"] == {
        "compute": ["replica3"],
        "data": ["replica2"],
        "data+log": ["replica1"],
        "unknown type": ["replica4"],
    }
    assert s["data_log_replicas_live"] == ["replica1"]
    assert s["data_replicas_live"] == ["replica1", "replica2"]
    assert s["write_quorum"] is True
    assert s["log_segment_leaders"] == ["172.28.0.11", "172.28.0.13"]


def _with(status, **changes):
    for node in status["nodes"]:
        for address, fields in changes.items():
            if node["address"] == address:
                node.update(fields)
                node["up_and_live"] = node["status"] == "up" and node["state"] == "live"
    return status


@pytest.mark.parametrize(
    "down, quorum, live",
    [
        ([], True, ["replica1", "replica2", "replica3"]),
        (["172.18.0.9", "172.18.0.3", "172.18.0.5"], True, ["replica2", "replica3"]),
        (
            ["172.18.0.9", "172.18.0.3", "172.18.0.5", "172.18.0.2", "172.18.0.6", "172.18.0.10"],
            False,
            ["replica3"],
        ),
        (["172.18.0.9", "172.18.0.2"], True, ["replica1", "replica2", "replica3"]),
    ],
)
def test_write_quorum_needs_a_majority_of_data_log_replicas(down, quorum, live):
    status = parse_status_text(fixture_text("faunadb_admin_status_2x_after.txt"))
    status = _with(status, **{a: {"status": "down"} for a in down})
    s = summarize(status)
    assert s["write_quorum"] is quorum
    assert s["data_log_replicas_live"] == live
    assert s["nodes_down"] == [n["address"] for n in status["nodes"] if n["address"] in down]
    assert s["all_up_and_live"] is (not down)


def test_summary_of_empty_status():
    s = summarize(dict(replicas=[], nodes=[]))
    assert (s["all_up_and_live"], s["write_quorum"], s["nodes_total"]) == (False, False, 0)


# -- other commands ----------------------------------------------------------------


def test_movement_idle():
    m = parse_movement_status(fixture_text("faunadb_admin_movement-status_idle.txt"))
    assert m["settled"] is True


def test_movement_moving():
    m = parse_movement_status(fixture_text("faunadb_admin_movement-status_moving.txt"))
    assert m == dict(
        settled=False,
        message="12.5% of tokens in 3 segments moving to 2 nodes in 1 replicas.",
        progress="12.5%",
        segments=3,
        nodes=2,
        replicas=1,
    )


def test_movement_garbage_raises():
    with pytest.raises(ParseError):
        parse_movement_status("something else\n")


def test_show_replication():
    assert parse_show_replication(fixture_text("faunadb_admin_show-replication_mixed.txt")) == {
        "replica1": "data+log",
        "replica2": "data",
        "replica3": "compute",
    }


def test_show_replication_space_separated():
    assert parse_show_replication("  replica  type\n0  r1  data+log\n") == {"r1": "data+log"}


def test_identity():
    out = fixture_text("faunadb_admin_show-identity_ok.txt")
    assert parse_identity(out) == "9b2f3a10-1c1e-4a57-9d7e-0c1e2f3a4b00"
    assert parse_identity("Host ID: " + out) == "9b2f3a10-1c1e-4a57-9d7e-0c1e2f3a4b00"
    with pytest.raises(ParseError):
        parse_identity("This node is not part of a cluster.\n")


# -- recorded from a real release (FaunaDB 25.02.07, 3 x 1, 2026-12-07) ---------------------


def test_real_3x1_text_and_json_agree():
    text = parse_status_text(fixture_text("faunadb_admin_status_real_3x1.txt"))
    data = parse_status_json(fixture_text("faunadb_admin_status_real_3x1.json"))
    keys = ("replica", "status", "state", "worker_id", "log_segment", "log_segment_leader",
            "address", "owns", "goal", "host_id", "up_and_live")
    assert [{k: n[k] for k in keys} for n in text["nodes"]] == [
        {k: n[k] for k in keys} for n in data["nodes"]]
    assert [n["worker_id"] for n in text["nodes"]] == [512, 513, 514]
    assert all(n["up_and_live"] for n in text["nodes"])
    assert summarize(text)["write_quorum"] is True
    assert parse_show_replication(fixture_text("faunadb_admin_show-replication_real_3x1.txt")) == {
        "replica1": "data+log", "replica2": "data+log", "replica3": "data+log"}


def test_a_row_without_host_name_or_worker_id_parses_and_takes_no_part():
    # The server writes n/a as the address of a node it knows no host name of, and n/a
    # (unassigned) or error (unavailable) as a worker id (AdminApplication.scala).
    status = parse_status_text(fixture_text("faunadb_admin_status_real_unknown_host.txt"))
    nodes = {n["host_id"][:8]: n for n in status["nodes"]}
    assert nodes["63d77b1c"]["address"] is None and nodes["63d77b1c"]["worker_id"] is None
    assert nodes["2fccf268"]["worker_id"] is None
    assert not nodes["63d77b1c"]["up_and_live"] and not nodes["2fccf268"]["up_and_live"]
    assert nodes["d6ac6ade"]["up_and_live"] and nodes["d6ac6ade"]["log_segment_leader"]
    assert healthy_problems(status, summarize(status), 3, None)


def test_json_with_unknown_host_and_worker_id_takes_no_part():
    data = json.loads(fixture_text("faunadb_admin_status_real_3x1.json"))
    data["nodes"][2].update(address="n/a", worker_id="n/a", log_segment_leader=True)
    data["nodes"][1]["worker_id"] = "error"
    status = parse_status_json(json.dumps(data))
    assert [n["up_and_live"] for n in status["nodes"]] == [True, False, False]
    assert status["nodes"][2]["address"] is None
    assert status["nodes"][2]["log_segment_leader"] is False


def test_host_version_of_a_real_node_and_of_the_double():
    assert parse_host_version(fixture_text("faunadb_admin_host-version_real.txt")) == (
        "25.02.07.dev-4f8f8be")
    assert parse_host_version(NOTICE + "Fauna 1.0.0-double\n") == "1.0.0-double"
    with pytest.raises(ParseError):
        parse_host_version("something else\n")
