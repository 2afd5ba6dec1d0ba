"""faunadb_node_files: the launcher check and the node's own files, on a local node, and the
start of a container after them (start=true) on a fake engine."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from unittest import mock

import docker.errors
import faunadb_node_files
import pytest
from ansible.module_utils import faunadb_node_plan
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_executor import LocalExecutor


def spec(tmp_path, name, content, **extra):
    ids = dict(owner_id=os.getuid(), group_id=os.getgid())
    return dict(path=str(tmp_path / name), content=content, **ids, **extra)


def test_files_are_written_once_and_check_mode_only_predicts(run_module, tmp_path):
    files = [spec(tmp_path, "a.yml", "x: 1\n", mode="0640"), spec(tmp_path, "skew", "+0\n")]
    check = run_module(faunadb_node_files, dict(files=files), LocalExecutor(), check_mode=True)
    assert check.result["changed"] is True and not (tmp_path / "a.yml").exists()

    first = run_module(faunadb_node_files, dict(files=files), LocalExecutor(), diff=True)
    assert first.result["written"] == [f["path"] for f in files]
    # The content never shows (faunadb.yml holds the root key's hash), not even in the diff.
    assert first.result["diff"][0]["after_header"] == files[0]["path"]
    assert "x: 1" not in json.dumps(first.result)
    assert (tmp_path / "a.yml").read_text() == "x: 1\n"
    assert oct((tmp_path / "a.yml").stat().st_mode & 0o777) == "0o640"

    again = run_module(faunadb_node_files, dict(files=files), LocalExecutor())
    assert (again.result["changed"], again.result["written"]) == (False, [])


def test_a_differing_file_is_replaced_unless_force_is_false(run_module, tmp_path):
    (tmp_path / "a.yml").write_text("old\n")
    (tmp_path / "skew").write_text("+120\n")
    os.chmod(tmp_path / "a.yml", 0o644)
    files = [spec(tmp_path, "a.yml", "new\n"), spec(tmp_path, "skew", "+0\n", force=False)]
    run = run_module(faunadb_node_files, dict(files=files), LocalExecutor())
    assert run.result["written"] == [files[0]["path"]]
    assert (tmp_path / "skew").read_text() == "+120\n"
    # The mode alone differs: written too.
    files[0]["mode"] = "0600"
    assert run_module(faunadb_node_files, dict(files=files), LocalExecutor()).result["changed"]


def test_a_missing_path_fails_before_anything_is_written(run_module, tmp_path):
    args = dict(
        paths=[str(tmp_path / "bin" / "faunadb")],
        hint="Use a release.",
        files=[spec(tmp_path, "a.yml", "x\n")],
    )
    run = run_module(faunadb_node_files, args, LocalExecutor())
    assert run.failed and "Use a release." in run.result["msg"]
    assert not (tmp_path / "a.yml").exists()


# -- start=true: the container is started in the same call, after its files -------------


class FakeEngine:
    """The part of docker.APIClient that starting a container uses, over its state."""

    def __init__(self, status, files_dir=None):
        self.status = status  # created, exited, running, paused, restarting
        self.files_dir = files_dir
        self.calls = []
        self.files_at_start = None

    def inspect_container(self, name):
        running = self.status in ("running", "paused", "restarting")
        return {
            "State": {"Status": self.status, "Running": running, "Paused": self.status == "paused",
                      "Restarting": self.status == "restarting",
                      "ExitCode": 137 if self.status == "exited" else 0,
                      "Pid": 4321 if running else 0},
            "Config": {"Env": [], "Labels": {"org.faunalab.role": "faunadb-node"}},
        }  # fmt: skip

    def get_archive(self, name, path):
        raise docker.errors.NotFound("Could not find the file")

    def start(self, name):
        self.calls.append(("start", name))
        self.files_at_start = sorted(p.name for p in self.files_dir.iterdir())
        self.status = "running"


class FakeDockerExecutor(LocalExecutor):
    """A container whose files are local ones (LocalExecutor) and whose engine is FakeEngine."""

    name = "docker"
    container_name = "n1"
    docker_host = "unix:///fake.sock"

    def __init__(self, engine):
        self.engine = engine

    def describe(self):
        return "docker container n1 on unix:///fake.sock"

    def _get_client(self):
        return SimpleNamespace(api=self.engine)

    def _unreachable(self, exc):
        return FaunaDBError(f"Cannot reach the Docker engine: {exc}")


def docker_args(tmp_path, **extra):
    files = [spec(tmp_path, "faunadb.yml", "x: 1\n", mode="0640")]
    return dict(executor="docker", container="n1", files=files, start=True, **extra)


@pytest.mark.parametrize("status", ["created", "exited"])
def test_start_comes_after_the_files_and_check_mode_predicts_it(run_module, tmp_path, status):
    engine = FakeEngine(status, tmp_path)
    check = run_module(faunadb_node_files, docker_args(tmp_path), FakeDockerExecutor(engine),
                       check_mode=True)  # fmt: skip
    assert (check.result["changed"], check.result["started"], check.result["commands"]) == (
        True, True, [])  # fmt: skip
    assert engine.calls == [] and not (tmp_path / "faunadb.yml").exists()

    run = run_module(faunadb_node_files, docker_args(tmp_path), FakeDockerExecutor(engine),
                     diff=True)  # fmt: skip
    assert (run.result["changed"], run.result["started"]) == (True, True)
    assert run.result["commands"] == ["docker start n1"]
    # FaunaDB never starts without its configuration.
    assert engine.calls == [("start", "n1")] and engine.files_at_start == ["faunadb.yml"]
    assert run.result["diff"][-1]["after"]["running"] is True

    again = run_module(faunadb_node_files, docker_args(tmp_path), FakeDockerExecutor(engine))
    assert (again.result["changed"], again.result["started"]) == (False, False)
    assert engine.calls == [("start", "n1")]


@pytest.mark.parametrize("status", ["running", "paused", "restarting"])
def test_a_container_that_runs_is_not_started(run_module, tmp_path, status):
    engine = FakeEngine(status, tmp_path)
    run = run_module(faunadb_node_files, docker_args(tmp_path), FakeDockerExecutor(engine))
    assert (run.result["changed"], run.result["started"]) == (True, False)
    assert run.result["written"] == [str(tmp_path / "faunadb.yml")] and engine.calls == []


def test_a_container_that_exits_at_once_fails_with_its_exit_code(run_module, tmp_path):
    engine = FakeEngine("created", tmp_path)
    engine.start = lambda name: setattr(engine, "status", "exited")
    with mock.patch.object(faunadb_node_plan, "SETTLE_SECONDS", 0):
        run = run_module(faunadb_node_files, docker_args(tmp_path), FakeDockerExecutor(engine))
    assert run.failed and "exited with code 137" in run.result["msg"]
    # The files went in before the start failed.
    assert run.result["changed"] is True and run.result["written"]


def test_start_needs_the_docker_executor_and_is_refused_before_anything(run_module, tmp_path):
    args = dict(files=[spec(tmp_path, "a.yml", "x\n")], start=True)
    run = run_module(faunadb_node_files, args, LocalExecutor())
    assert run.failed and "start=true needs executor=docker" in run.result["msg"]
    assert not (tmp_path / "a.yml").exists()


def test_a_missing_path_fails_before_the_files_and_the_start(run_module, tmp_path):
    engine = FakeEngine("created", tmp_path)
    args = docker_args(tmp_path, paths=[str(tmp_path / "bin" / "faunadb")])
    run = run_module(faunadb_node_files, args, FakeDockerExecutor(engine))
    assert run.failed and "Missing on docker container n1" in run.result["msg"]
    assert engine.calls == [] and not (tmp_path / "faunadb.yml").exists()
