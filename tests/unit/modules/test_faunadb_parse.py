"""Parsers of faunadb-admin output, on recorded output of both eras."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.faunadb_parse import (
    ParseError,
    parse_identity,
    parse_movement_status,
    parse_show_replication,
    parse_status_json,
    parse_status_text,
    replica_types,
    summarize,
)
from faunadb_module_testkit import fixture_text


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
