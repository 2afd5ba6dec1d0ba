"""The faunadb-admin runner and the executors: argv, key handling, error forms."""

from __future__ import annotations

import time
from unittest import mock

import docker.errors
import pytest
from ansible.module_utils import faunadb_admin, faunadb_docker, faunadb_executor
from ansible.module_utils.faunadb_admin import (
    AdminCommandError,
    FaunaAdmin,
    error_kind,
    error_message,
)
from ansible.module_utils.faunadb_common import ExecutorError
from ansible.module_utils.faunadb_executor import DockerExecutor, LocalExecutor
from ansible.module_utils.faunadb_parse import ParseError
from faunadb_module_testkit import ROOT_KEY, Scripted, fixture_text, recorded


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
        "-H",
        "127.0.0.2:8444",
        "join",
        "10.0.0.1",
        "-r",
        "replica 1",
    ]
    # The real launcher ignores -c: the config travels in FAUNADB_CONFIG.
    assert env == {"FAUNADB_ROOT_KEY": ROOT_KEY, "FAUNADB_CONFIG": "/etc/f.yml"}
    assert ROOT_KEY not in " ".join(argv)
    assert ROOT_KEY not in result.cmd
    assert result.cmd.endswith("-r 'replica 1'")


def test_no_key_means_no_environment_override():
    ex = Scripted((0, "", ""))
    FaunaAdmin(ex).run("status")
    assert ex.calls == [(["faunadb-admin", "status"], {})]


@pytest.mark.parametrize(
    ("read", "command"),
    [("movement", "movement-status"), ("version", "host-version"),
     ("identity", "show-identity")],
)
def test_a_read_it_cannot_parse_carries_what_the_command_printed(read, command):
    printed = "what is this?\n"
    with pytest.raises(ParseError) as exc:
        getattr(FaunaAdmin(Scripted((0, printed, "warn\n"))), read)()
    assert exc.value.details == dict(rc=0, stdout=printed, stderr="warn\n",
                                     cmd=f"faunadb-admin {command}")


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


def test_membership_none_before_init(double):
    # The double answers as a current release does: UninitializedException.
    ex = double.node().executor()
    assert FaunaAdmin(ex, root_key=ROOT_KEY).membership() is None
    assert [argv for argv, _ in ex.calls] == [["faunadb-admin", "--json", "status"]]


def test_replication_falls_back_to_status_without_show_replication():
    ex = Scripted(
        (1, *recorded("update-replication", "error_invalid")),
        (0, fixture_text("faunadb_admin_status_current_mixed.json"), ""),
    )
    assert FaunaAdmin(ex).replication()["replica2"] == "data"


# -- executors ---------------------------------------------------------------------


def test_local_executor_passes_environment_and_returns_text():
    rc = LocalExecutor().run(["sh", "-c", 'echo "$FAUNADB_ROOT_KEY"; echo err >&2; exit 3'],
                             {"FAUNADB_ROOT_KEY": "k"})
    assert rc == (3, "k\n", "err\n")


def test_local_executor_bounds_each_call():
    started = time.monotonic()
    with pytest.raises(ExecutorError) as exc:
        LocalExecutor().run(["sleep", "5"], timeout=1)
    assert time.monotonic() - started < 4
    assert exc.value.kind == "timeout"
    assert exc.value.msg == "sleep did not finish within 1 s"


def test_local_executor_missing_binary():
    with pytest.raises(ExecutorError) as exc:
        LocalExecutor().run(["/nonexistent/bin/faunadb-admin", "status"])
    assert exc.value.kind == "not_found"
    assert "/nonexistent/bin/faunadb-admin" in exc.value.msg


def _docker_client(container):
    client = mock.Mock()
    client.containers.get.return_value = container
    return client


def test_docker_executor_execs_with_environment_and_demux():
    container = mock.Mock(status="running", id="c0ffee")
    client = _docker_client(container)
    client.api.timeout = 180
    client.api.exec_create.return_value = {"Id": "e1"}
    client.api.exec_start.return_value = (b"ERROR: x\n", None)
    client.api.exec_inspect.return_value = {"ExitCode": 1}
    ex = DockerExecutor("node1", client=client)
    assert ex.run(["faunadb-admin", "status"], {"FAUNADB_ROOT_KEY": "k"}, timeout=7) == (
        1,
        "ERROR: x\n",
        "",
    )
    client.api.exec_create.assert_called_once_with(
        "c0ffee", ["faunadb-admin", "status"], environment={"FAUNADB_ROOT_KEY": "k"}
    )
    client.api.exec_start.assert_called_once_with("e1", demux=True)
    assert client.api.timeout == 180


def test_docker_executor_reports_a_call_that_takes_too_long():
    container = mock.Mock(status="running", id="c0ffee")
    client = _docker_client(container)
    client.api.timeout = 180
    client.api.exec_create.return_value = {"Id": "e1"}
    client.api.exec_start.side_effect = TimeoutError("timed out")
    ex = DockerExecutor("node1", client=client)
    with pytest.raises(ExecutorError) as exc:
        ex.run(["/opt/faunadb/bin/faunadb-admin", "status"], timeout=3)
    assert exc.value.kind == "timeout"
    assert exc.value.msg == (
        "/opt/faunadb/bin/faunadb-admin in container node1 did not finish within 3 s"
    )
    assert client.api.timeout == 180


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


# What a real node answers before init/join (surface doc, "Verified on a
# real build" item 6): "up, not a member", not a failure.
REAL_UNINITIALIZED = (
    1,
    "Using plain-text auth_root_key found in /etc/faunadb.yml\n",
    "Loaded configuration from /etc/faunadb.yml...\n"
    "Failed: Unknown error. Please contact support. Message was "
    "fauna.repo.UninitializedException: FaunaDB Service is uninitialized\n",
)


def test_real_uninitialized_answer_means_not_a_member():
    ex = Scripted(REAL_UNINITIALIZED)
    assert FaunaAdmin(ex).membership() is None


def test_key_notice_and_jvm_banner_never_become_the_error_message():
    stdout = "Using plain-text auth_root_key found in /etc/faunadb.yml\n"
    stderr = "WARNING: jamm agent not loaded\nOpenJDK 64-Bit Server VM warning: x\n"
    assert error_message(stdout, stderr) == "no output"


def test_ssh_engine_without_its_library_is_a_setting_error_not_unreachable(monkeypatch):
    def no_paramiko(*args, **kwargs):
        raise docker.errors.DockerException(
            "Install paramiko package to enable ssh:// support"
        )

    monkeypatch.setattr(faunadb_docker.docker, "DockerClient", no_paramiko)
    ex = DockerExecutor("node1", docker_host="ssh://admin@docker-a")
    with pytest.raises(ExecutorError) as exc:
        ex.run(["faunadb-admin", "status"])
    assert exc.value.kind == "config"
    assert exc.value.msg == (
        "Cannot use the Docker engine at ssh://admin@docker-a: "
        "Install paramiko package to enable ssh:// support"
    )


def test_tls_options_reach_the_docker_client(monkeypatch, tmp_path):
    seen = {}

    def client(**kwargs):
        seen.update(kwargs)
        raise docker.errors.DockerException("stop here")

    monkeypatch.setattr(faunadb_docker.docker, "DockerClient", client)
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    module = mock.Mock()
    module.params = dict(
        executor="docker", container="c1", docker_host="tcp://h:2376", docker_timeout=30,
        docker_tls=True, docker_validate_certs=True, docker_ca_path=str(ca),
        docker_client_cert=None, docker_client_key=None, docker_use_ssh_client=False,
    )  # fmt: skip
    ex = faunadb_executor.make_executor(module)
    with pytest.raises(ExecutorError):
        ex.run(["faunadb-admin", "status"])
    assert seen["base_url"] == "tcp://h:2376"
    assert (seen["tls"].verify, seen["tls"].ca_cert) == (True, str(ca))


def test_broken_tls_settings_fail_clearly():
    module = mock.Mock()
    module.params = dict(
        executor="docker", container="c1", docker_host="tcp://h:2376", docker_timeout=30,
        docker_tls=True, docker_validate_certs=False, docker_ca_path=None,
        docker_client_cert="/nonexistent/cert.pem", docker_client_key="/nonexistent/key.pem",
        docker_use_ssh_client=False,
    )  # fmt: skip
    with pytest.raises(ExecutorError) as exc:
        faunadb_executor.make_executor(module)
    assert exc.value.kind == "config"
    assert "Docker TLS settings" in exc.value.msg


# -- admin_wait: a node just started ------------------------------------------------------

REFUSED = (1, "ERROR: Could not connect to FaunaDB at 127.0.0.1:8444\n", "")


def test_a_command_waits_for_its_admin_api_when_asked(monkeypatch):
    monkeypatch.setattr(faunadb_admin.time, "sleep", lambda seconds: None)
    ex = Scripted(REFUSED, REFUSED, (0, "Node has joined the cluster.\n", ""))
    admin = FaunaAdmin(ex, admin_wait=30)
    result = admin.run("join", "10.0.0.1", "-r", "replica2")
    assert result.rc == 0 and len(ex.calls) == 3
    # One command, however many tries.
    assert admin.commands == ["faunadb-admin join 10.0.0.1 -r replica2"]


def test_no_wait_unless_asked_and_never_for_other_failures(monkeypatch):
    monkeypatch.setattr(faunadb_admin.time, "sleep", lambda seconds: None)
    with pytest.raises(AdminCommandError) as refused:
        FaunaAdmin(Scripted(REFUSED)).run("init", "-r", "replica1")
    assert refused.value.kind == "unreachable"
    seedless = (1, "", "Failed: Please make sure it is reachable and a member of an existing "
                "cluster.\n")  # fmt: skip
    ex = Scripted(seedless)
    with pytest.raises(AdminCommandError):
        FaunaAdmin(ex, admin_wait=30).run("join", "10.0.0.1", "-r", "replica2")
    assert len(ex.calls) == 1


def test_the_wait_is_bounded(monkeypatch):
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(faunadb_admin.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(faunadb_admin.time, "sleep", lambda seconds: None)
    ex = Scripted(*[REFUSED] * 10)
    with pytest.raises(AdminCommandError):
        FaunaAdmin(ex, admin_wait=25).run("status")
    assert len(ex.calls) == 3


# -- a real faunadb-admin's silent failure (surface doc, item 14) ---------------------------

# What the real 25.02.07 tool printed for `status` with nothing listening on the admin port
# (2026-12-07): exit 1, nothing on stdout, the jamm banner and the config line on stderr.
JAMM = "".join(f"** {line}\n" for line in (
    "jamm will use sun.misc.Unsafe to compute the size of objects on heap.",
    "This is not safe and results in wrong assumptions of the free/occupied Java", "**",
    "Solutions:", "- Use a JDK/JVM with JEP-8249196", "- Load jamm as an agent into the JVM"))
SILENT = (1, "", "*" * 83 + "\n" + JAMM + "*" * 83
          + "\nLoaded configuration from /etc/faunadb/faunadb.yml...\n")


class WithLog(Scripted):
    """Scripted answers, plus the node's files: its config and core.log."""

    def __init__(self, *answers, files=None):
        super().__init__(*answers)
        self.files = files or {}

    def read_file(self, path):
        content = self.files.get(path)
        return None if content is None else faunadb_executor.FileState(
            content.encode(), 0o640, 999, 999)


CORE_LOG = "\n".join(
    [f"2026-12-07T01:39:{i:02d},000 [] INFO line {i}" for i in range(20)]
    + ["2026-12-07T01:40:07,640 [] INFO Admin endpoint: 127.0.0.1:8444",
       "2026-12-07T01:40:08,000 [x] INFO " + "tokens " * 100]) + "\n"


def test_a_silent_failure_says_so_with_the_nodes_log_tail():
    ex = WithLog(SILENT, files={"/etc/f.yml": "log_path: /logs/fauna\n",
                                "/logs/fauna/core.log": CORE_LOG})
    with pytest.raises(AdminCommandError) as exc:
        FaunaAdmin(ex, config_path="/etc/f.yml").run("init", "-r", "replica1")
    msg = exc.value.msg
    # Not the banner's asterisks: the failure says it had no message of its own.
    assert "*" not in msg.splitlines()[0]
    assert "printed no message of its own" in msg
    assert exc.value.kind == "unreachable"
    assert "INFO Admin endpoint: 127.0.0.1:8444" in msg
    assert exc.value.details["log_tail"][-1].endswith(" ...")  # a huge line is cut
    assert len(exc.value.details["log_tail"]) == faunadb_admin.LOG_TAIL_LINES


def test_a_silent_failure_without_a_readable_log_still_fails_clearly():
    ex = WithLog(SILENT, files={"/etc/f.yml": "cluster_name: x\n"})
    with pytest.raises(AdminCommandError) as exc:
        FaunaAdmin(ex, config_path="/etc/f.yml").run("status")
    assert "/var/log/faunadb/core.log does not exist" in exc.value.msg


def test_a_silent_failure_is_retried_like_a_refused_connection(monkeypatch):
    monkeypatch.setattr(faunadb_admin.time, "sleep", lambda seconds: None)
    ex = Scripted(SILENT, SILENT, (0, "Node has initialized the cluster.\n", ""))
    result = FaunaAdmin(ex, admin_wait=60).run("init", "-r", "replica1")
    assert result.rc == 0 and len(ex.calls) == 3


TRACE_WITH_UNINITIALIZED_CAUSE = (
    'Exception in thread "main" java.util.concurrent.TimeoutException: Futures timed out\n'
    "\tat scala.concurrent.impl.Promise$DefaultPromise.tryAwait0(Promise.scala:248)\n"
    "\tat fauna.tools.AdminCommands$Status.execute(AdminCommands.scala:1470)\n"
    "Caused by: fauna.repo.UninitializedException: FaunaDB Service is uninitialized\n"
    "\t... 2 more\n")


def test_a_stack_trace_from_json_status_is_reported_not_read_as_no_member():
    # rc=1 and a trace whose cause names the uninitialised service: the top exception is
    # what failed, so the read fails with it instead of saying "no member, no nodes".
    ex = Scripted((1, "", SILENT[2] + TRACE_WITH_UNINITIALIZED_CAUSE))
    with pytest.raises(AdminCommandError) as exc:
        FaunaAdmin(ex).membership()
    assert "java.util.concurrent.TimeoutException: Futures timed out" in exc.value.msg
    assert exc.value.kind == "failed"


def test_the_real_uninitialised_answer_still_means_not_a_member():
    # Surface doc item 6, as the real build prints it before init/join.
    err = ("Loaded configuration from /etc/faunadb/faunadb.yml...\nFailed: Unknown error. "
           "Please contact support. Message was fauna.repo.UninitializedException: FaunaDB "
           "Service is uninitialized\n")
    assert FaunaAdmin(Scripted((1, "", SILENT[2] + err))).membership() is None
