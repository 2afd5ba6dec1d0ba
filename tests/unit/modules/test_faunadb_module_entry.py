"""module_utils/faunadb_module.py: the one entry every library module's main() goes through."""

from __future__ import annotations

import importlib
import json

import faunadb_chaos_lock
import faunadb_info
import pytest
from ansible.module_utils import faunadb_module
from ansible.module_utils._internal import _traceback
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_executor import Executor
from faunadb_module_testkit import REPO, ROOT_KEY, patch_module_args, run_module_main

MODULES = sorted(p.stem for p in (REPO / "library").glob("faunadb_*.py"))
SPEC = dict(root_key=dict(type="str", no_log=True))
# What the controller passes with display_traceback=error: ansible-core 2.19 ships a
# module's `exception` only then.
TRACEBACKS = dict(_ansible_tracebacks_for=["error"])


@pytest.fixture(autouse=True)
def traceback_setting(monkeypatch):
    # The module side reads that argument once per process: read it afresh each test.
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)


class Context:
    """What a connect() gives: something that records the commands it runs."""

    def __init__(self):
        self.commands = []

    def run(self, cmd):
        self.commands.append(cmd)


def enter(capsys, action, connect=None, args=None, **kwargs):
    """run_module(...) as a module's main() calls it: (exit code, raw output, result)."""
    capsys.readouterr()
    args = dict(TRACEBACKS if args is None else args, root_key=ROOT_KEY)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        faunadb_module.run_module("faunadb_test", action, connect, argument_spec=SPEC, **kwargs)
    out = capsys.readouterr().out
    return exc.value.code, out, json.loads(out)


def test_an_unexpected_error_fails_with_its_type_traceback_and_the_commands_so_far(capsys):
    def action(module, context):
        context.run("docker kill node1")
        return {}["State"]

    rc, _, result = enter(capsys, action, lambda module: Context())
    assert rc == 1 and result["failed"] is True
    assert result["msg"] == "faunadb_test: unexpected KeyError: 'State'"
    assert result["exception"].startswith("Traceback (most recent call last)")
    assert 'return {}["State"]' in result["exception"]
    assert result["commands"] == ["docker kill node1"] and result["changed"] is True


def test_without_tracebacks_asked_for_a_bug_still_says_what_it_was(capsys):
    _, _, result = enter(capsys, lambda module: {}["State"], args={})
    assert result["msg"] == "faunadb_test: unexpected KeyError: 'State'"
    assert "exception" not in result and result["commands"] == []


@pytest.mark.parametrize("where", ["connect", "action without context"])
def test_an_unexpected_error_before_any_command_says_unchanged(capsys, where):
    def broken(module, *context):
        raise ValueError("no such thing")

    if where == "connect":
        _, _, result = enter(capsys, lambda module, context: {}, broken)
    else:
        _, _, result = enter(capsys, broken)
    assert result["msg"] == "faunadb_test: unexpected ValueError: no such thing"
    assert "ValueError: no such thing" in result["exception"]
    assert result["commands"] == [] and result["changed"] is False


@pytest.mark.parametrize("commands_change", [False, True])
def test_a_faunadb_error_keeps_its_details_and_names_the_commands(capsys, commands_change):
    def action(module, context):
        context.run("faunadb-admin status")
        raise FaunaDBError("faunadb-admin failed (rc=3): ERROR: boom", rc=3, stdout="ERROR: boom")

    rc, _, result = enter(capsys, action, lambda module: Context(), args={},
                          commands_change=commands_change)  # fmt: skip
    assert rc == 1 and result["failed"] is True
    assert result["msg"] == "faunadb-admin failed (rc=3): ERROR: boom"
    assert result["rc"] == 3 and result["stdout"] == "ERROR: boom"
    assert result["commands"] == ["faunadb-admin status"]
    # An expected failure is no bug: no traceback unless the controller asks for them.
    # faunadb-admin's commands are mostly reads, so only a context whose commands all
    # change something says changed.
    assert "exception" not in result
    assert result.get("changed", False) is commands_change


def test_a_faunadb_errors_own_commands_and_changed_win(capsys):
    def action(module, context):
        context.run("docker start node1")
        raise FaunaDBError("did not start", commands=["docker start node1"], changed=False)

    _, _, result = enter(capsys, action, lambda module: Context(), commands_change=True)
    assert result["commands"] == ["docker start node1"] and result["changed"] is False


def test_the_result_gets_the_commands_unless_it_names_its_own(capsys):
    def action(module, context):
        context.run("faunadb-admin status")
        return dict(changed=False)

    rc, _, result = enter(capsys, action, lambda module: Context())
    assert rc == 0 and result["commands"] == ["faunadb-admin status"]
    _, _, own = enter(capsys, lambda module, context: dict(commands=["mine"]),
                      lambda module: Context())  # fmt: skip
    assert own["commands"] == ["mine"]
    _, _, bare = enter(capsys, lambda module: dict(changed=True))
    assert "commands" not in bare and bare["changed"] is True


def test_the_root_key_never_shows_in_an_unexpected_failure(capsys):
    def action(module):
        raise RuntimeError(f"saw {module.params['root_key']}")

    _, out, result = enter(capsys, action)
    assert ROOT_KEY not in out
    assert result["msg"].startswith("faunadb_test: unexpected RuntimeError: saw ")


class Answers(Executor):
    """Answers every faunadb-admin call with the same (rc, stdout, stderr)."""

    def __init__(self, rc, stdout):
        self.answer = (rc, stdout, "")

    def run(self, argv, env=None, timeout=None):
        assert ROOT_KEY not in argv
        return self.answer


def test_an_admin_module_reports_a_bug_with_the_commands_run(run_module, monkeypatch):
    def gather_info(module, admin):
        admin.run("status")
        return {}["State"]

    monkeypatch.setattr(faunadb_info, "gather_info", gather_info)
    run = run_module(faunadb_info, TRACEBACKS, Answers(0, ""))
    assert run.rc == 1 and run.failed
    assert run.result["msg"] == "faunadb_info: unexpected KeyError: 'State'"
    assert "Traceback" in run.result["exception"]
    assert run.result["commands"] == ["faunadb-admin status"] and run.result["changed"] is True


def test_an_admin_modules_failed_command_keeps_faunadbs_message(run_module):
    run = run_module(faunadb_info, {}, Answers(1, "ERROR: Unknown replica r9\n"))
    assert run.failed and "exception" not in run.result
    assert run.result["msg"] == "faunadb-admin failed (rc=1): ERROR: Unknown replica r9"
    assert run.result["faunadb_message"] == "ERROR: Unknown replica r9"
    assert run.result["rc"] == 1 and run.result["commands"]
    assert all(cmd.startswith("faunadb-admin ") for cmd in run.result["commands"])


def test_a_file_module_reports_a_bug_without_commands(tmp_path, capsys, monkeypatch):
    def read_lock(path):
        raise KeyError("owner")

    monkeypatch.setattr(faunadb_chaos_lock, "read_lock", read_lock)
    args = dict(TRACEBACKS, path=str(tmp_path / ".lock"), owner="run-a")
    result = run_module_main(faunadb_chaos_lock, args, capsys).result
    assert result["msg"] == "faunadb_chaos_lock: unexpected KeyError: 'owner'"
    assert "Traceback" in result["exception"]
    assert result["commands"] == [] and result["changed"] is False


class Built(Exception):
    pass


@pytest.mark.parametrize("name", MODULES)
def test_every_module_is_built_by_the_entry(name, monkeypatch):
    def module_class(**kwargs):
        raise Built(kwargs)

    monkeypatch.setattr(faunadb_module, "AnsibleModule", module_class)
    with pytest.raises(Built) as built:
        importlib.import_module(name).main()
    assert built.value.args[0]["argument_spec"] is importlib.import_module(name).ARGUMENT_SPEC
