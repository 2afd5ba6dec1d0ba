"""Idempotence decisions, as pure functions of what was read."""

from __future__ import annotations

import pytest
from ansible.module_utils.faunadb_common import FaunaDBError, validate_replica_name
from ansible.module_utils.faunadb_parse_status import parse_status_text
from ansible.module_utils.faunadb_plan import (
    cluster_operation_outcome,
    cluster_problems,
    confirm_update,
    plan_member,
    plan_remove,
    plan_replication,
)
from faunadb_module_testkit import fixture_text

MIXED = "faunadb_admin_status_current_mixed.txt"
R1_LEADER = "9b2f3a10-1c1e-4a57-9d7e-0c1e2f3a4b00"


def mixed():
    return parse_status_text(fixture_text(MIXED))


# -- membership ---------------------------------------------------------------------


def test_not_a_member_without_seed_initialises():
    assert plan_member(None, None, "replica1") == dict(action="init", changed=True, node=None)


def test_not_a_member_with_seed_joins():
    assert plan_member(None, None, "replica2", seed="10.0.0.1")["action"] == "join"


def test_already_member_of_that_replica_is_no_change():
    plan = plan_member(mixed(), R1_LEADER, "replica1", seed="10.0.0.1")
    assert (plan["action"], plan["changed"]) == (None, False)
    assert plan["node"]["address"] == "172.28.0.11"


def test_member_of_another_replica_fails_naming_both():
    with pytest.raises(FaunaDBError) as exc:
        plan_member(mixed(), R1_LEADER, "replica2")
    assert "'replica1'" in exc.value.msg and "'replica2'" in exc.value.msg
    assert exc.value.details["current_replica"] == "replica1"
    assert exc.value.details["wanted_replica"] == "replica2"


def test_member_missing_from_status_fails():
    with pytest.raises(FaunaDBError, match="lists no node"):
        plan_member(mixed(), "00000000-0000-0000-0000-000000000000", "replica1")


@pytest.mark.parametrize(
    "action, variant, expected",
    [
        ("init", "done", True),
        ("init", "already", False),
        ("join", "done", True),
        ("join", "already", False),
    ],
)
def test_cluster_operation_outcome_from_text(action, variant, expected):
    text = fixture_text(f"faunadb_admin_{action}_{variant}.txt")
    assert cluster_operation_outcome(action, text) is expected


def test_cluster_operation_outcome_unexpected_text_fails():
    with pytest.raises(FaunaDBError, match="exited 0 but printed neither"):
        cluster_operation_outcome("join", "Node has initialized the cluster.\n")


# -- removal --------------------------------------------------------------------------


def test_remove_by_address_and_by_host_id():
    node = plan_remove(mixed(), address="172.28.0.22")
    assert node["host_id"] == "9b2f3a14-1c1e-4a57-9d7e-0c1e2f3a4b04"
    assert plan_remove(mixed(), host_id=node["host_id"])["address"] == "172.28.0.22"


def test_remove_is_idempotent_when_gone_or_removed():
    assert plan_remove(mixed(), address="10.9.9.9") is None
    assert plan_remove(mixed(), address="172.28.0.33") is None  # state "removed"


# -- replica types --------------------------------------------------------------------

CURRENT = {"replica1": "data+log", "replica2": "compute", "replica3": "compute"}


def test_types_already_set_is_no_change():
    plan = plan_replication(CURRENT, {"replica1": "data+log", "replica2": "compute"})
    assert plan == dict(changes=[], actions=[], after=CURRENT)


def test_partial_change_touches_only_differing_replicas_grouped_by_type():
    plan = plan_replication(
        CURRENT, {"replica1": "data+log", "replica2": "data+log", "replica3": "data+log"}
    )
    assert plan["actions"] == [dict(type="data+log", replicas=["replica2", "replica3"])]
    assert [c["replica"] for c in plan["changes"]] == ["replica2", "replica3"]
    assert plan["after"] == dict.fromkeys(CURRENT, "data+log")


def test_promotions_run_before_demotions():
    plan = plan_replication(
        CURRENT, {"replica1": "compute", "replica3": "data+log", "replica2": "data"}
    )
    assert [a["type"] for a in plan["actions"]] == ["data+log", "data", "compute"]


def test_unknown_replica_fails_naming_known_ones():
    with pytest.raises(FaunaDBError) as exc:
        plan_replication(CURRENT, {"replica9": "data+log", "replica1": "data+log"})
    assert "replica9" in exc.value.msg and "replica1, replica2, replica3" in exc.value.msg
    assert exc.value.details["unknown_replicas"] == ["replica9"]


def test_invalid_type_fails():
    with pytest.raises(FaunaDBError, match="Invalid replica type"):
        plan_replication(CURRENT, {"replica1": "log"})


@pytest.mark.parametrize(
    "variant, action",
    [
        ("one", dict(type="data+log", replicas=["replica2"])),
        ("many", dict(type="data+log", replicas=["replica2", "replica3"])),
    ],
)
def test_confirm_update(variant, action):
    confirm_update(fixture_text(f"faunadb_admin_update-replica_{variant}.txt"), action)


def test_confirm_update_rejects_other_text():
    with pytest.raises(FaunaDBError):
        confirm_update(
            "Updated replica replica2 to type compute.\n",
            dict(type="data+log", replicas=["replica2"]),
        )
    with pytest.raises(FaunaDBError):
        confirm_update("", dict(type="data", replicas=["replica2"]))
    # The module trusts this answer (no read-back), so it must name every replica asked for.
    with pytest.raises(FaunaDBError):
        confirm_update(
            "Updated replica replica2 to type data+log.\n",
            dict(type="data+log", replicas=["replica2", "replica3"]),
        )


@pytest.mark.parametrize("name", ["replica1", "dc-1_a", "région", "eu/west-1", "A"])
def test_valid_replica_names(name):
    assert validate_replica_name(name) == name


@pytest.mark.parametrize("name", ["", "-r", "_r", "a b", "a/b/c", "a/", "r;rm", None])
def test_invalid_replica_names(name):
    with pytest.raises(FaunaDBError):
        validate_replica_name(name)


# -- cluster_problems: is a converged cluster's reading the cluster wanted? ------------

NODES_3X1 = {"10.0.0.1": "replica1", "10.0.0.2": "replica2", "10.0.0.3": "replica3"}
TYPES_3X1 = dict.fromkeys(["replica1", "replica2", "replica3"], "data+log")
SETTLED = dict(settled=True, message="No data movement is currently in progress.")


def _status_3x1(**nodes):
    status = parse_status_text(fixture_text("faunadb_admin_status_current_3x1.txt"))
    for node in status["nodes"]:
        node.update(nodes.get(node["address"], {}))
        node["up_and_live"] = node["status"] == "up" and node["state"] == "live"
    return status


def test_a_converged_cluster_has_no_problems():
    assert cluster_problems(_status_3x1(), SETTLED, NODES_3X1, TYPES_3X1) == []


def test_every_expected_node_must_be_listed_in_its_replica_up_and_live():
    status = _status_3x1(**{"10.0.0.2": dict(status="down")})
    status["nodes"][2]["replica"] = "replica1"
    del status["nodes"][0]
    problems = cluster_problems(status, SETTLED, NODES_3X1, TYPES_3X1)
    assert problems[:2] == ["10.0.0.1 is not listed", "10.0.0.3 is in replica1, not replica3"]
    assert "nodes not up and live: 10.0.0.2" in problems
    removed = _status_3x1(**{"10.0.0.1": dict(state="removed")})
    assert cluster_problems(removed, SETTLED, NODES_3X1, TYPES_3X1)[0] == "10.0.0.1 is not listed"


def test_a_node_outside_the_inventory_that_is_down_is_a_problem_too():
    # As for a healthy wait, which the cold path ends with: one judgement for both.
    assert cluster_problems(_status_3x1(), SETTLED, {"10.0.0.1": "replica1"}, {}) == []
    down = _status_3x1(**{"10.0.0.3": dict(status="down")})
    assert cluster_problems(down, SETTLED, {"10.0.0.1": "replica1"}, {}) == [
        "nodes not up and live: 10.0.0.3",
        "data replicas with no node up and live: replica3",
    ]


def test_types_and_movement_must_be_as_wanted():
    moving = dict(settled=False, message="50.00% of tokens in 3 segments moving")
    assert cluster_problems(_status_3x1(), moving, NODES_3X1, TYPES_3X1) == [moving["message"]]
    assert cluster_problems(_status_3x1(), None, NODES_3X1, TYPES_3X1) == ["movement unknown"]
    assert cluster_problems(
        _status_3x1(), SETTLED, NODES_3X1, dict(TYPES_3X1, replica3="compute")
    ) == ["replica replica3 is data+log, expected compute"]
