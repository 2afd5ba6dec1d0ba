"""Fixtures of the faunadb_* module unit tests; helpers live in faunadb_module_testkit."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from faunadb_module_testkit import (
    ROOT_KEY,
    DoubleCluster,
    cluster,
    faunadb_executor,
    patch_module_args,
    timings,
)


class ModuleRun:
    def __init__(self, rc, result):
        self.rc = rc
        self.result = result

    @property
    def failed(self):
        return bool(self.result.get("failed"))


@pytest.fixture
def run_module(capsys):
    """Run a library module's main() with args against an executor; return its result."""

    def _run(module, args, executor, check_mode=False, diff=False):
        args = dict(args)
        args.setdefault("root_key", ROOT_KEY)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        capsys.readouterr()
        # executor=None runs the real make_executor (for Docker error paths).
        patcher = (
            mock.patch.object(faunadb_executor, "make_executor", return_value=executor)
            if executor is not None
            else mock.patch.object(faunadb_executor, "HAS_DOCKER", faunadb_executor.HAS_DOCKER)
        )
        with patch_module_args(args), patcher:
            with pytest.raises(SystemExit) as exc:
                module.main()
        out = capsys.readouterr().out
        return ModuleRun(exc.value.code, json.loads(out))

    return _run


@pytest.fixture
def double(tmp_path, monkeypatch):
    """A DoubleCluster in tmp_path, its timings cut short: movement after a change of
    replica types lasts 0.2 s, heartbeats every 0.1 s, a silent node is down after 2 s."""
    monkeypatch.setattr(timings, "MOVEMENT", 0.2)
    monkeypatch.setattr(cluster, "HEARTBEAT_INTERVAL", 0.1)
    monkeypatch.setattr(cluster, "FAILURE_TIMEOUT", 2.0)
    nodes = DoubleCluster(tmp_path / "double")
    yield nodes
    nodes.close()
