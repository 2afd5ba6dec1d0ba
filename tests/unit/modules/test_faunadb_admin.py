"""The faunadb-admin runner and the executors: argv, key handling, error forms."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import docker.errors
import pytest
from ansible.module_utils import faunadb_executor
from ansible.module_utils.faunadb_admin import (
    AdminCommandError,
    FaunaAdmin,
    error_kind,
    error_message,
)
from ansible.module_utils.faunadb_executor import DockerExecutor, ExecutorError, LocalExecutor
from faunadb_module_testkit import ROOT_KEY, FakeCluster, FakeNode, Scripted, fixture_text, recorded


def test_argv_is_a_list_with_options_and_no_key():
    ex = Scripted((0, "ok\n", ""))
    admin = FaunaAdmin(
        ex,
        admin_path="/opt/faunadb/bin/faunadb-admin",
        config_path="/etc/f.yml",
        admin_host="127.0.0.2:8444",
        root_key=ROOT_KEY,
    )
    result = admin.run("join", "10.0.0.1", "-r", "replica 1")
    argv, env = ex.calls[0]
    assert argv == [
        "/opt/faunadb/bin/faunadb-admin",
        "-c",
        "/etc/f.yml",
        "-H",
        "127.0.0.2:8444",
        "join",
        "10.0.0.1",
        "-r",
        "replica 1",
    ]
    assert env == {"FAUNADB_ROOT_KEY": ROOT_KEY}
    assert ROOT_KEY not in " ".join(argv)
    assert ROOT_KEY not in result.cmd
    assert result.cmd.endswith("-r 'replica 1'")


def test_no_key_means_no_environment_override():
    ex = Scripted((0, "", ""))
    FaunaAdmin(ex).run("status")
    assert ex.calls == [(["faunadb-admin", "status"], {})]


@pytest.mark.parametrize(
    "command, variant, kind, message",
    [
        (
            "status",
            "error_connect",
            "unreachable",
            "ERROR: Could not connect to FaunaDB at 127.0.0.1:8444",
        ),
        (
            "status",
            "error_unauthorized",
            "unauthorized",
            "Failed: Unauthorized. Please check that the provided Root Key is correct.",
        ),
        ("status", "error_not_member", "not_member", "Failed: This node is not part of a cluster."),
        ("status", "error_not_member_stdout", "not_member", "This node is not part of a cluster."),
        ("update-replica", "error_unknown", "unknown_replica", "Failed: Unknown replica replica9"),
        (
            "update-replica",
            "error_none",
            "failed",
            "No replicas were given. Please specify at least one replica.",
        ),
        ("update-replication", "error_invalid", "invalid_command", "Invalid command."),
        (
            "join",
            "error_unreachable",
            "failed",
            "ERROR: Could not join the cluster through 10.0.0.9:7500. Please make sure it is "
            "reachable and a member of an existing cluster.",
        ),
        ("init", "error_no_replica", "failed", "Replica name is required."),
    ],
)
def test_error_forms(command, variant, kind, message):
    stdout, stderr = recorded(command, variant)
    assert error_message(stdout, stderr) == message
    assert error_kind(stdout + stderr) == kind
    admin = FaunaAdmin(Scripted((1, stdout, stderr)), root_key=ROOT_KEY)
    with pytest.raises(AdminCommandError) as exc:
        admin.run(command)
    err = exc.value
    assert err.kind == kind
    kwargs = err.fail_kwargs()
    assert message in kwargs["msg"]
    assert (kwargs["rc"], kwargs["stdout"], kwargs["stderr"]) == (1, stdout, stderr)
    assert kwargs["cmd"] == f"faunadb-admin {command}"
    assert kwargs["faunadb_message"] == message
    assert ROOT_KEY not in repr(kwargs)


def test_run_without_check_returns_failures():
    admin = FaunaAdmin(Scripted((1, "ERROR: boom\n", "")))
    assert admin.run("status", check=False).rc == 1


def test_status_prefers_json():
    ex = Scripted((0, fixture_text("faunadb_admin_status_current_3x1.json"), ""))
    status = FaunaAdmin(ex).status()
    assert status["source"] == "json"
    assert ex.calls[0][0] == ["faunadb-admin", "--json", "status"]


def test_status_falls_back_to_text_when_json_is_rejected():
    ex = Scripted(
        (1, *recorded("status", "error_json_rejected")),
        (0, fixture_text("faunadb_admin_status_2x_before.txt"), ""),
    )
    status = FaunaAdmin(ex).status()
    assert status["source"] == "text"
    assert [c[0][-1] for c in ex.calls] == ["status", "status"]
    assert len(status["nodes"]) == 9


def test_status_falls_back_when_json_flag_is_ignored():
    ex = Scripted(
        (0, fixture_text("faunadb_admin_status_2x_after.txt"), ""),
        (0, fixture_text("faunadb_admin_status_2x_after.txt"), ""),
    )
    assert FaunaAdmin(ex).status()["source"] == "text"


def test_status_json_only_does_not_fall_back():
    ex = Scripted((1, *recorded("status", "error_json_rejected")))
    with pytest.raises(AdminCommandError):
        FaunaAdmin(ex).status("json")
    assert len(ex.calls) == 1


def test_status_text_only_skips_json():
    ex = Scripted((0, fixture_text("faunadb_admin_status_current_mixed.txt"), ""))
    FaunaAdmin(ex).status("text")
    assert ex.calls[0][0] == ["faunadb-admin", "status"]


@pytest.mark.parametrize("variant", ["error_connect", "error_unauthorized"])
def test_status_does_not_retry_text_on_real_errors(variant):
    ex = Scripted((1, *recorded("status", variant)))
    with pytest.raises(AdminCommandError):
        FaunaAdmin(ex).status()
    assert len(ex.calls) == 1


def test_membership_none_before_init():
    node = FakeNode(FakeCluster(), "10.0.0.1")
    assert FaunaAdmin(node, root_key=ROOT_KEY).membership() is None


def test_replication_falls_back_to_status_without_show_replication():
    ex = Scripted(
        (1, *recorded("update-replication", "error_invalid")),
        (0, fixture_text("faunadb_admin_status_current_mixed.json"), ""),
    )
    assert FaunaAdmin(ex).replication()["replica2"] == "data"


# -- executors ---------------------------------------------------------------------


def test_local_executor_uses_run_command_with_environment():
    module = mock.Mock()
    module.run_command.return_value = (0, "out", "err")
    rc = LocalExecutor(module).run(["faunadb-admin", "status"], {"FAUNADB_ROOT_KEY": "k"})
    assert rc == (0, "out", "err")
    module.run_command.assert_called_once_with(
        ["faunadb-admin", "status"], environ_update={"FAUNADB_ROOT_KEY": "k"}, check_rc=False
    )


def _docker_client(container):
    client = mock.Mock()
    client.containers.get.return_value = container
    return client


def test_docker_executor_execs_with_environment_and_demux():
    container = mock.Mock(status="running")
    container.exec_run.return_value = SimpleNamespace(exit_code=1, output=(b"ERROR: x\n", None))
    ex = DockerExecutor("node1", client=_docker_client(container))
    assert ex.run(["faunadb-admin", "status"], {"FAUNADB_ROOT_KEY": "k"}) == (1, "ERROR: x\n", "")
    container.exec_run.assert_called_once_with(
        ["faunadb-admin", "status"], environment={"FAUNADB_ROOT_KEY": "k"}, demux=True
    )


def test_docker_executor_container_not_found():
    client = mock.Mock()
    client.containers.get.side_effect = docker.errors.NotFound("No such container: nope")
    ex = DockerExecutor("nope", docker_host="tcp://h:2375", client=client)
    with pytest.raises(ExecutorError) as exc:
        ex.run(["faunadb-admin", "status"])
    assert exc.value.kind == "not_found"
    assert exc.value.msg == "Container nope not found on the Docker engine at tcp://h:2375"


def test_docker_executor_container_not_running():
    ex = DockerExecutor("node1", client=_docker_client(mock.Mock(status="exited")))
    with pytest.raises(ExecutorError) as exc:
        ex.run(["faunadb-admin", "status"])
    assert exc.value.kind == "not_running"
    assert "exited" in exc.value.msg


def test_docker_executor_engine_unreachable():
    ex = DockerExecutor("node1", docker_host="unix:///nonexistent/docker.sock", timeout=2)
    with pytest.raises(ExecutorError) as exc:
        ex.run(["faunadb-admin", "status"])
    assert exc.value.kind == "unreachable"
    assert exc.value.msg.startswith(
        "Cannot reach the Docker engine at unix:///nonexistent/docker.sock"
    )


def test_make_executor_picks_by_option():
    module = mock.Mock()
    module.params = dict(executor="docker", container="c1", docker_host=None, docker_timeout=30)
    ex = faunadb_executor.make_executor(module)
    assert isinstance(ex, DockerExecutor)
    assert (ex.container_name, ex.docker_host, ex.timeout) == (
        "c1",
        "unix:///var/run/docker.sock",
        30,
    )
    module.params = dict(executor="local")
    assert isinstance(faunadb_executor.make_executor(module), LocalExecutor)
