"""The modules end to end: main() against the FaunaDB double's own faunadb-admin (nodes of
the double in this process, see faunadb_module_testkit), or against recorded answers of a
real one where the double cannot say it; results as Ansible sees them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import faunadb_info
import faunadb_member
import faunadb_replication
import faunadb_status
import pytest
from ansible.module_utils.faunadb_executor import LocalExecutor
from faunadb_double import HOST_VERSION, timings
from faunadb_module_testkit import (
    ROOT_KEY,
    DoubleAdmin,
    Scripted,
    fixture_text,
    recorded,
    unused_address,
    wait_for,
)

# What a current release (25.02) answers before init/join, on stderr.
NOT_MEMBER = (
    1,
    "",
    "Loaded configuration from /etc/faunadb.yml...\nFailed: Unknown error. Please contact "
    "support. Message was fauna.repo.UninitializedException: FaunaDB Service is uninitialized\n",
)
REPLICAS = ["replica1", "replica2", "replica3"]
ALL_DATA_LOG = {"replica1": "data+log", "replica2": "data+log", "replica3": "data+log"}
# The recorded real 3x1 (faunadb_admin_status_real_3x1.json): replica2's node.
REAL_REPLICA2_HOST_ID = "2fccf268-3abe-4546-96f4-f7ee511dfe9c"


def assert_key_never_on_argv(executor):
    assert executor.calls
    for argv, env in executor.calls:
        assert ROOT_KEY not in " ".join(argv)
        assert env.get("FAUNADB_ROOT_KEY") == ROOT_KEY


def status_doc(node):
    """The cluster as the double's faunadb-admin on ``node`` lists it."""
    rc, out, err = node.admin("--json", "status")
    assert rc == 0, err
    return json.loads(out)


def replication(node):
    rc, out, err = node.admin("show-replication")
    assert rc == 0, err
    return dict(line.split("\t")[1:] for line in out.splitlines()[1:])


def three_by_one(double, types=None):
    """A 3x1 cluster as init + two joins leave it (replica1 data+log, the others compute),
    then ``types``."""
    return double.form(REPLICAS, types)


# -- faunadb_member -----------------------------------------------------------------


def test_init_then_no_change(run_module, double):
    node = double.node()
    ex = node.executor()
    first = run_module(faunadb_member, dict(replica="replica1"), ex)
    assert first.rc == 0, first.result
    assert first.result["changed"] is True
    assert first.result["action"] == "init"
    assert first.result["host_id"] == node.host_id
    assert "faunadb-admin init -r replica1" in first.result["commands"]
    assert ex.mutations == [["init", "-r", "replica1"]]
    assert replication(node) == {"replica1": "data+log"}

    ex.calls.clear()
    second = run_module(faunadb_member, dict(replica="replica1"), ex)
    assert (second.rc, second.result["changed"], second.result["action"]) == (0, False, "none")
    assert ex.mutations == []
    assert_key_never_on_argv(ex)


def test_join_through_seed_and_check_mode_predicts(run_module, double):
    seed = double.node()
    seed.admin("init", "-r", "replica1")
    node = double.node()
    ex = node.executor()
    args = dict(replica="replica2", seed=seed.address)

    check = run_module(faunadb_member, args, ex, check_mode=True, diff=True)
    assert check.result["changed"] is True and check.result["action"] == "join"
    assert check.result["diff"] == dict(
        before=dict(member=False, replica=None), after=dict(member=True, replica="replica2")
    )
    assert ex.mutations == []
    assert node.address not in [n["address"] for n in status_doc(seed)["nodes"]]

    real = run_module(faunadb_member, args, ex)
    assert real.result["changed"] is True
    assert real.result["host_id"] == node.host_id
    assert ex.mutations == [["join", seed.address, "-r", "replica2"]]
    listed = {n["address"]: n["replica"] for n in status_doc(seed)["nodes"]}
    assert listed[node.address] == "replica2"

    again = run_module(faunadb_member, args, ex, check_mode=True)
    assert again.result["changed"] is False


def test_member_of_other_replica_fails_naming_both(run_module, double):
    seed, node, _ = three_by_one(double)
    ex = node.executor()
    run = run_module(faunadb_member, dict(replica="replica3", seed=seed.address), ex)
    assert run.failed and run.rc == 1
    assert "'replica2'" in run.result["msg"] and "'replica3'" in run.result["msg"]
    assert ex.mutations == []


def test_join_race_already_member_reports_no_change(run_module):
    # Not a member when read, a member by the time the join ran: a race the double
    # cannot be made to lose on cue, so a real node's answers.
    ex = Scripted(
        NOT_MEMBER,
        (0, *recorded("join", "already")),
        (0, fixture_text("faunadb_admin_status_real_3x1.json"), ""),
        (0, REAL_REPLICA2_HOST_ID + "\n", ""),
    )
    run = run_module(faunadb_member, dict(replica="replica2", seed="172.29.60.11"), ex)
    assert run.rc == 0, run.result
    assert (run.result["changed"], run.result["action"], run.result["host_id"]) == (
        False,
        "none",
        REAL_REPLICA2_HOST_ID,
    )


def test_join_without_reading_first_runs_join_alone(run_module, double):
    seed = double.node()
    seed.admin("init", "-r", "replica1")
    node = double.node()
    ex = node.executor()
    args = dict(replica="replica2", seed=seed.address, read_first=False)
    run = run_module(faunadb_member, args, ex, diff=True)
    assert (run.result["changed"], run.result["action"]) == (True, "join")
    assert run.result["commands"] == [f"faunadb-admin join {seed.address} -r replica2"]
    assert run.result["diff"]["before"] == dict(member=False, replica=None)
    listed = {n["address"]: n["replica"] for n in status_doc(seed)["nodes"]}
    assert listed[node.address] == "replica2"

    # Check mode reads anyway: it cannot try the join.
    check = run_module(faunadb_member, args, ex, check_mode=True)
    assert (check.result["changed"], check.result["action"]) == (False, "none")


def test_join_without_reading_first_on_a_member_reads_and_reports_no_change(run_module, double):
    seed, node, _ = three_by_one(double)
    args = dict(replica="replica2", seed=seed.address, read_first=False)
    run = run_module(faunadb_member, args, node.executor())
    assert (run.rc, run.result["changed"], run.result["action"]) == (0, False, "none")
    assert run.result["host_id"] == node.host_id

    wrong = run_module(faunadb_member, dict(args, replica="replica3"), node.executor())
    assert wrong.failed and "'replica2'" in wrong.result["msg"]


def test_join_with_unreachable_seed_fails_with_faunadb_message(run_module, double):
    # The node's own status is read before the failure stands: still no member.
    seed = unused_address()
    ex = double.node().executor(FAUNADB_JOIN_TIMEOUT="0.3")
    run = run_module(faunadb_member, dict(replica="replica2", seed=seed), ex)
    assert run.failed
    assert "Please make sure it is reachable" in run.result["msg"]
    assert run.result["rc"] == 1
    assert run.result["cmd"] == f"faunadb-admin join {seed} -r replica2"
    assert "exception" not in run.result
    assert [argv[-1] for argv, _ in ex.calls] == ["status", "replica2", "status"]


class _SeedFormedAfterTheJoinGaveUp(DoubleAdmin):
    """The seed is initialised the moment the node's join gave up; the node, still trying
    in the background, joins before the module reads its status again."""

    def __init__(self, node, seed):
        super().__init__(node, dict(FAUNADB_JOIN_TIMEOUT="0.3"))
        self.seed = seed

    def run(self, argv, env=None, timeout=None):
        answer = super().run(argv, env, timeout)
        if "join" in argv:
            assert answer[0] == 1, answer
            assert self.seed.admin("init", "-r", "replica1")[0] == 0
            wait_for(lambda: self.node.server.node.member, "the node to join on its own")
        return answer


def test_a_join_that_said_it_failed_but_went_through_counts_as_done(run_module, double):
    # A real join through a seed not yet a member fails after ~90 s and keeps trying in
    # the background; if the node is a member of its replica by now, it joined.
    seed, node = double.node(), double.node()
    ex = _SeedFormedAfterTheJoinGaveUp(node, seed)
    run = run_module(faunadb_member, dict(replica="replica2", seed=seed.address), ex)
    assert run.rc == 0, run.result
    assert run.result["changed"] is True and run.result["action"] == "join"
    assert run.result["host_id"] == node.host_id
    assert "yet the node is now a member" in json.dumps(run.result["warnings"])


def test_a_failed_join_into_another_replica_fails_naming_both(run_module):
    # The double's background join follows the latest request's replica, so a node
    # found in another one after a failed join is a real node's story.
    status = (0, fixture_text("faunadb_admin_status_real_3x1.json"), "")
    identity = (0, REAL_REPLICA2_HOST_ID + "\n", "")
    ex = Scripted(NOT_MEMBER, (1, *recorded("join", "error_unreachable")), status, identity)
    run = run_module(faunadb_member, dict(replica="replica3", seed="172.29.60.11"), ex)
    assert run.failed
    assert "already a member of replica 'replica2'" in run.result["msg"]


def test_init_exit_zero_with_unexpected_output_fails(run_module):
    ex = Scripted(NOT_MEMBER, (0, "something else\n", ""))
    run = run_module(faunadb_member, dict(replica="replica1"), ex)
    assert run.failed and "exited 0 but printed neither" in run.result["msg"]


def test_bad_replica_name_fails_before_any_call(run_module):
    ex = Scripted()
    run = run_module(faunadb_member, dict(replica="bad name"), ex)
    assert run.failed and "Invalid replica name" in run.result["msg"]
    assert ex.calls == []


def test_remove_then_no_change(run_module, double):
    node, _, gone = three_by_one(double)
    ex = node.executor()
    args = dict(state="absent", address=gone.address, force=True)

    check = run_module(faunadb_member, args, ex, check_mode=True)
    assert check.result["changed"] is True and ex.mutations == []

    real = run_module(faunadb_member, args, ex)
    assert real.result["changed"] is True
    assert ex.mutations == [["remove", gone.host_id, "--force"]]
    states = {n["host_id"]: n["state"] for n in status_doc(node)["nodes"]}
    assert states[gone.host_id] == "removed"

    again = run_module(faunadb_member, args, ex)
    assert again.result["changed"] is False


def test_remove_unknown_host_id_is_no_change(run_module, double):
    ex = three_by_one(double)[0].executor()
    run = run_module(faunadb_member, dict(state="absent", host_id="nope"), ex)
    assert (run.rc, run.result["changed"]) == (0, False)
    assert ex.mutations == []


def test_absent_needs_address_or_host_id(run_module):
    run = run_module(faunadb_member, dict(state="absent"), Scripted())
    assert run.failed and "address" in run.result["msg"]


# -- faunadb_replication -----------------------------------------------------------


def test_replication_change_then_no_change(run_module, double):
    node = three_by_one(double)[0]
    ex = node.executor()
    first = run_module(faunadb_replication, dict(replicas=ALL_DATA_LOG), ex, diff=True)
    assert first.rc == 0, first.result
    assert first.result["changed"] is True
    assert first.result["actions"] == [dict(type="data+log", replicas=["replica2", "replica3"])]
    assert ex.mutations == [["update-replica", "data+log", "replica2", "replica3"]]
    assert first.result["diff"]["before"]["replicas"]["replica2"] == "compute"
    assert first.result["diff"]["after"]["replicas"] == ALL_DATA_LOG
    assert first.result["replicas"] == ALL_DATA_LOG
    assert replication(node) == ALL_DATA_LOG

    ex.calls.clear()
    second = run_module(faunadb_replication, dict(replicas=ALL_DATA_LOG), ex)
    assert second.result["changed"] is False and ex.mutations == []
    assert_key_never_on_argv(ex)


def test_replication_check_mode_predicts_without_acting(run_module, double):
    node = three_by_one(double)[0]
    ex = node.executor()
    run = run_module(
        faunadb_replication,
        dict(replicas={"replica2": "data", "replica1": "data+log"}),
        ex,
        check_mode=True,
    )
    assert run.result["changed"] is True
    assert run.result["changes"] == [dict(replica="replica2", before="compute", after="data")]
    assert run.result["replicas"]["replica2"] == "data"
    assert ex.mutations == []
    assert replication(node)["replica2"] == "compute"


def test_replication_unknown_replica_fails_clearly(run_module, double):
    ex = three_by_one(double)[0].executor()
    run = run_module(faunadb_replication, dict(replicas={"replica9": "data+log"}), ex)
    assert run.failed
    assert "Unknown replica replica9" in run.result["msg"]
    assert "replica1, replica2, replica3" in run.result["msg"]
    assert ex.mutations == []


def test_replication_invalid_type_fails_before_any_call(run_module):
    ex = Scripted()
    run = run_module(faunadb_replication, dict(replicas={"replica1": "log"}), ex)
    assert run.failed and "Invalid replica type" in run.result["msg"] and ex.calls == []


def test_replication_update_error_from_faunadb(run_module):
    ex = Scripted(
        (0, fixture_text("faunadb_admin_show-replication_mixed.txt"), ""),
        (1, *recorded("update-replica", "error_unknown")),
    )
    run = run_module(faunadb_replication, dict(replicas={"replica3": "data"}), ex)
    assert run.failed
    assert run.result["faunadb_message"] == "Failed: Unknown replica replica9"
    assert run.result["cmd"] == "faunadb-admin update-replica data replica3"


def test_replication_trusts_the_answer_without_reading_back(run_module):
    ex = Scripted(
        (0, fixture_text("faunadb_admin_show-replication_mixed.txt"), ""),
        (0, "Updated replica replica3 to type data.\n", ""),
    )
    run = run_module(faunadb_replication, dict(replicas={"replica3": "data"}), ex)
    assert run.rc == 0 and run.result["changed"] and run.result["replicas"]["replica3"] == "data"
    assert [c[0][1:] for c in ex.calls] == [
        ["show-replication"], ["update-replica", "data", "replica3"]
    ]


def test_replication_fails_when_the_answer_names_other_replicas(run_module):
    ex = Scripted(
        (0, fixture_text("faunadb_admin_show-replication_mixed.txt"), ""),
        (0, "Updated replica replica2 to type data.\n", ""),
    )
    run = run_module(faunadb_replication, dict(replicas={"replica3": "data"}), ex)
    assert run.failed and "did not confirm the update" in run.result["msg"]


# -- faunadb_info -----------------------------------------------------------------------


def test_info_before_init_is_not_an_error(run_module, double):
    ex = double.node().executor()
    run = run_module(faunadb_info, dict(gather=["status", "movement", "identity"]), ex)
    assert run.rc == 0, run.result
    assert run.result["member"] is False
    assert run.result["nodes"] == [] and "movement" not in run.result
    assert run.result["summary"]["all_up_and_live"] is False


def test_info_facts(run_module, double):
    nodes = three_by_one(double, ALL_DATA_LOG)
    run = run_module(
        faunadb_info,
        dict(gather=["status", "movement", "identity", "replication"]),
        nodes[1].executor(),
    )
    r = run.result
    assert (r["member"], r["source"], r["changed"]) == (True, "json", False)
    assert r["replica_types"] == ALL_DATA_LOG
    assert r["summary"]["write_quorum"] is True and r["summary"]["all_up_and_live"] is True
    assert r["movement"]["settled"] is True
    assert (r["node"]["address"], r["host_id"]) == (nodes[1].address, nodes[1].host_id)
    assert r["replication"] == ALL_DATA_LOG
    assert [(n["address"], n["host_id"], n["replica"]) for n in r["nodes"]] == [
        (n.address, n.host_id, replica) for n, replica in zip(nodes, REPLICAS, strict=True)
    ]


class _WithoutJson(DoubleAdmin):
    """A 2.x faunadb-admin: --json is refused as it refused it, the rest goes to the double."""

    def run(self, argv, env=None, timeout=None):
        if "--json" in argv:
            self.calls.append((list(argv), dict(env or {})))
            return (1, *recorded("status", "error_json_rejected"))
        return super().run(argv, env, timeout)


def test_info_falls_back_to_text_without_json(run_module, double):
    nodes = three_by_one(double)
    run = run_module(faunadb_info, dict(gather=["status"]), _WithoutJson(nodes[0]))
    assert run.result["source"] == "text"
    assert [n["address"] for n in run.result["nodes"]] == [n.address for n in nodes]
    assert run.result["replica_types"] == {
        "replica1": "data+log", "replica2": "compute", "replica3": "compute"
    }


def test_info_wrong_key_fails_with_faunadb_message(run_module, double):
    node = three_by_one(double)[0]
    run = run_module(faunadb_info, dict(root_key="wrong-key"), node.executor())
    assert run.failed
    assert run.result["msg"].endswith(
        "Failed: Unauthorized. Please check that the provided Root Key is correct."
    )


def test_without_root_key_the_hashed_config_gives_faunadb_admin_none(run_module, double):
    # The double's configs hold the key as a hash only: the key must come from the module.
    node = three_by_one(double)[0]
    run = run_module(faunadb_info, dict(root_key=None), node.executor())
    assert run.failed and "A root key is required" in run.result["msg"]


def test_root_key_is_masked_in_results(run_module):
    ex = Scripted((1, f"ERROR: key {ROOT_KEY} rejected\n", ""))
    run = run_module(faunadb_info, {}, ex)
    assert ROOT_KEY not in json.dumps(run.result)


def test_docker_engine_unreachable_is_a_clean_failure(run_module):
    run = run_module(
        faunadb_info,
        dict(executor="docker", container="fdbmod-none", docker_host="unix:///nonexistent.sock"),
        None,
    )
    assert run.failed
    assert run.result["msg"].startswith(
        "Cannot reach the Docker engine at unix:///nonexistent.sock"
    )
    assert "exception" not in run.result


def test_docker_executor_requires_container(run_module):
    run = run_module(faunadb_info, dict(executor="docker"), None)
    assert run.failed and "container" in run.result["msg"]


# -- faunadb_status -------------------------------------------------------------------


def test_status_admin_accepts_not_member(run_module):
    ex = Scripted((1, *recorded("status", "error_connect")), NOT_MEMBER)
    run = run_module(faunadb_status, dict(condition="admin", interval=0), ex)
    assert run.rc == 0, run.result
    assert (run.result["attempts"], run.result["member"]) == (2, False)


def test_status_unauthorized_stops_at_once(run_module):
    ex = Scripted((1, *recorded("status", "error_unauthorized")))
    run = run_module(faunadb_status, dict(condition="admin", interval=0, poll=5), ex)
    assert run.failed and "Unauthorized" in run.result["msg"]
    assert len(ex.calls) == 1


def test_status_gives_up_with_last_reason(run_module):
    ex = Scripted(*[(1, *recorded("status", "error_connect"))] * 3)
    run = run_module(faunadb_status, dict(condition="member", interval=0, poll=3), ex)
    assert run.failed
    assert run.result["attempts"] == 3
    assert "Could not connect" in run.result["msg"]


def test_status_movement_waits_until_settled(run_module):
    ex = Scripted(
        (0, *recorded("movement-status", "moving")),
        (0, *recorded("movement-status", "idle")),
    )
    run = run_module(faunadb_status, dict(condition="movement", interval=0), ex)
    assert run.rc == 0 and run.result["attempts"] == 2
    assert run.result["movement"]["settled"] is True


def test_status_movement_on_the_double_waits_until_settled(run_module, double, monkeypatch):
    node = three_by_one(double)[0]
    monkeypatch.setattr(timings, "MOVEMENT", 1.5)
    assert node.admin("update-replica", "data+log", "replica2")[0] == 0
    run = run_module(faunadb_status, dict(condition="movement", interval=1, poll=10),
                     node.executor())  # fmt: skip
    assert run.rc == 0, run.result
    assert run.result["attempts"] > 1 and run.result["movement"]["settled"] is True


def test_status_healthy(run_module, double):
    nodes = three_by_one(double, ALL_DATA_LOG)
    ex = nodes[0].executor()
    args = dict(condition="healthy", interval=0, poll=2, min_nodes=3, replica_types=ALL_DATA_LOG)
    assert run_module(faunadb_status, args, ex).rc == 0

    run = run_module(faunadb_status, dict(args, min_nodes=9), ex)
    assert run.failed and "3 nodes listed, expected at least 9" in run.result["msg"]

    nodes[2].stop()
    double.settle(nodes, up=nodes[:2])
    run = run_module(faunadb_status, args, ex)
    assert run.failed and f"nodes not up and live: {nodes[2].address}" in run.result["msg"]


def test_status_healthy_returns_the_table_it_judged(run_module, double):
    ex = three_by_one(double, ALL_DATA_LOG)[0].executor()
    args = dict(condition="healthy", interval=0, poll=1, min_nodes=3, replica_types=ALL_DATA_LOG)
    healthy = run_module(faunadb_status, dict(args, status_text=True), ex).result
    info = run_module(faunadb_info, dict(gather=["status", "status_text", "movement"]), ex).result
    for key in ("status_text", "source", "nodes", "replicas", "replica_types", "summary"):
        assert healthy[key] == info[key], key
    assert healthy["source"] == "text"
    assert "status_text" not in run_module(faunadb_status, args, ex).result


def test_info_judges_the_cluster_against_the_wanted_one(run_module, double):
    nodes = three_by_one(double)
    ex = nodes[0].executor()
    wanted = dict(expect_nodes={nodes[0].address: "replica1", nodes[1].address: "replica2"},
                  replica_types=ALL_DATA_LOG, gather=["status_text"])  # fmt: skip
    run = run_module(faunadb_info, wanted, ex)
    assert run.result["problems"] == [
        "replica replica2 is compute, expected data+log",
        "replica replica3 is compute, expected data+log",
    ]
    assert run.result["movement"]["settled"] is True and "status_text" in run.result
    assert nodes[0].admin("update-replica", "data+log", "replica2", "replica3")[0] == 0
    double.settle(nodes)
    assert run_module(faunadb_info, wanted, ex).result["problems"] == []
    lone = run_module(faunadb_info, wanted, double.node().executor()).result
    assert lone["problems"] == ["this node is not part of a cluster"]
    assert "problems" not in run_module(faunadb_info, {}, ex).result


class _Together(DoubleAdmin):
    """A node whose status and movement-status each wait for the other to be in flight."""

    def __init__(self, node, movement_fails=False):
        super().__init__(node)
        self.both = threading.Barrier(2, timeout=5)
        self.movement_fails = movement_fails

    def run(self, argv, env=None, timeout=None):
        self.both.wait()  # BrokenBarrierError unless the other command runs at the same time
        if self.movement_fails and "movement-status" in argv:
            # No state of the double fails movement-status alone: a real node's answer.
            return 1, "", "Failed: Unknown error. Please contact support.\n"
        return super().run(argv, env, timeout)


def test_status_and_movement_are_read_side_by_side(run_module, double):
    node = three_by_one(double, ALL_DATA_LOG)[0]
    run = run_module(faunadb_info, dict(gather=["status", "movement"]), _Together(node))
    assert run.rc == 0, run.result
    assert run.result["member"] and run.result["movement"]["settled"] is True

    args = dict(condition="healthy", interval=0, poll=1, min_nodes=3, replica_types=ALL_DATA_LOG)
    assert run_module(faunadb_status, args, _Together(node)).rc == 0


def test_healthy_reports_the_status_before_a_failed_movement_read(run_module, double):
    nodes = three_by_one(double, ALL_DATA_LOG)
    nodes[2].stop()
    double.settle(nodes, up=nodes[:2])
    ex = _Together(nodes[0], movement_fails=True)
    args = dict(condition="healthy", interval=0, poll=1, min_nodes=3, replica_types=ALL_DATA_LOG)
    run = run_module(faunadb_status, args, ex)
    assert run.failed
    assert run.result["reason"].startswith(f"nodes not up and live: {nodes[2].address}")
    assert "Unknown error" not in run.result["msg"]


class _PingHandler(BaseHTTPRequestHandler):
    answers = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        code, body = self.answers.pop(0) if self.answers else (200, b"")
        self.server.paths.append(self.path)
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def ping_server():
    server = HTTPServer(("127.0.0.1", 0), _PingHandler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_status_ping_retries_until_200(run_module, ping_server):
    _PingHandler.answers = [
        (503, b'{"errors":[{"code":"time out","description":"Scope write timed out"}]}'),
        (200, b'{"resource":"Scope write is OK"}'),
    ]
    port = ping_server.server_address[1]
    run = run_module(
        faunadb_status,
        dict(condition="ping", ping_port=port, ping_server_timeout=500, interval=0),
        Scripted(),
    )
    assert run.rc == 0, run.result
    assert run.result["ping"]["body"] == '{"resource":"Scope write is OK"}'
    assert ping_server.paths == ["/ping?scope=write&timeout=500"] * 2


def test_status_ping_gives_up(run_module, ping_server):
    _PingHandler.answers = [(503, b"Scope write is unavailable")] * 2
    port = ping_server.server_address[1]
    run = run_module(
        faunadb_status,
        dict(
            condition="ping",
            ping_url=f"http://127.0.0.1:{port}/ping?scope=node",
            interval=0,
            poll=2,
        ),
        Scripted(),
    )
    assert run.failed and "HTTP 503" in run.result["msg"]
    assert run.result["ping"]["status"] == 503


def test_status_ping_from_the_node_runs_a_get_with_bash(run_module, ping_server):
    # ping_from=node runs the GET through the executor; a local one here, so
    # the bash script really talks HTTP to the server.
    _PingHandler.answers = [
        (503, b'{"errors":[{"code":"unavailable","description":"Scope write is unavailable"}]}'),
        (200, b'{"resource":"Scope write is OK"}'),
    ]
    port = ping_server.server_address[1]
    params = dict(condition="ping", ping_port=port, ping_from="node", interval=0,
                  executor="docker", container="node1")  # fmt: skip
    run = run_module(faunadb_status, params, LocalExecutor())
    assert run.rc == 0, run.result
    assert run.result["ping"] == dict(
        url=f"http://127.0.0.1:{port}/ping?scope=write",
        status=200,
        body='{"resource":"Scope write is OK"}',
    )
    assert ping_server.paths == ["/ping?scope=write"] * 2


def test_status_ping_from_the_node_reports_a_refused_connection(run_module):
    params = dict(condition="ping", ping_port=1, ping_from="node", interval=0, poll=2,
                  executor="docker", container="node1")  # fmt: skip
    run = run_module(faunadb_status, params, LocalExecutor())
    assert run.failed
    assert "Gave up waiting for ping after 2 checks" in run.result["msg"]
    assert "http://127.0.0.1:1/ping?scope=write" in run.result["msg"]


def test_status_ping_from_a_node_without_bash_says_so(run_module):
    params = dict(condition="ping", ping_from="node", executor="docker", container="node1")
    run = run_module(faunadb_status, params, Scripted((127, "", "exec: bash: not found")))
    assert run.failed
    assert run.result["msg"] == "bash is not in abstract: set ping_from=controller"


def test_replication_check_mode_on_a_cluster_not_formed_yet(run_module, double):
    ex = double.node().executor()
    run = run_module(faunadb_replication, dict(replicas=ALL_DATA_LOG), ex, check_mode=True)
    assert run.rc == 0, run.result
    assert run.result["changed"] is True
    assert run.result["actions"] == [dict(type="data+log", replicas=sorted(ALL_DATA_LOG))]
    assert "not part of a cluster yet" in json.dumps(run.result["warnings"])

    real = run_module(faunadb_replication, dict(replicas=ALL_DATA_LOG), ex)
    assert real.failed and "FaunaDB Service is uninitialized" in real.result["msg"]
    assert ex.mutations == []


def test_info_status_text_is_the_table_as_printed(run_module, double):
    nodes = three_by_one(double, ALL_DATA_LOG)
    run = run_module(faunadb_info, dict(gather=["status_text"]), nodes[0].executor())
    rc, printed, _ = nodes[0].admin("status")
    assert rc == 0 and run.result["status_text"] == printed
    for node in nodes:
        assert node.host_id in printed and node.address in printed
    assert "nodes" not in run.result


def test_info_status_and_its_table_take_one_status_call(run_module, double):
    node = three_by_one(double, ALL_DATA_LOG)[0]
    both = run_module(faunadb_info, dict(gather=["status", "status_text", "movement"]),
                      node.executor())  # fmt: skip
    # Side by side, so in either order.
    assert sorted(both.result["commands"]) == [
        "faunadb-admin movement-status", "faunadb-admin status"
    ]
    assert both.result["status_text"] == node.admin("status")[1]
    parsed = run_module(faunadb_info, dict(gather=["status"]), node.executor()).result
    assert parsed["source"] == "json"
    for key in ("nodes", "replica_types", "summary"):
        assert both.result[key] == parsed[key]


class _Clock:
    """A monotonic clock that moves only when the wait sleeps or a check runs."""

    def __init__(self, check_seconds):
        self.now = 0.0
        self.check_seconds = check_seconds

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_status_wait_stops_at_its_timeout_whatever_poll_allows():
    clock = _Clock(check_seconds=4)
    calls = []

    def check(params, admin):
        calls.append(clock.now)
        clock.now += clock.check_seconds  # each check is a slow faunadb-admin call
        raise faunadb_status.NotYet("movement in progress")

    params = dict(poll=100, interval=10, timeout=40)
    ok, result = faunadb_status.wait(params, None, check, sleep=clock.sleep, clock=clock)
    assert not ok
    # Checks at 0, 14, 28 (4 s each + 10 s apart); the next would start at 42.
    assert calls == [0.0, 14.0, 28.0]
    assert result["attempts"] == 3  # none starts once the timeout is reached
    assert result["elapsed"] == 40
    assert result["reason"] == "movement in progress (timeout of 40 s reached)"


def test_info_version_alone_asks_host_version_only(run_module):
    ex = Scripted((0, fixture_text("faunadb_admin_host-version_real.txt"), ""))
    run = run_module(faunadb_info, dict(gather=["version"]), ex)
    assert run.rc == 0, run.result
    assert run.result["version"] == "25.02.07.dev-4f8f8be"
    assert [argv[-1] for argv, _ in ex.calls] == ["host-version"]
    assert "member" not in run.result


def test_info_version_from_the_double(run_module, double):
    run = run_module(faunadb_info, dict(gather=["version"]), double.node().executor())
    assert run.rc == 0, run.result
    assert run.result["version"] == HOST_VERSION
