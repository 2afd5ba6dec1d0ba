"""Fixtures of the faunadb_* module unit tests; helpers live in faunadb_module_testkit."""

from __future__ import annotations

from unittest import mock

import pytest
from faunadb_module_testkit import (
    ROOT_KEY,
    DoubleCluster,
    HTTPStub,
    cluster,
    faunadb_executor,
    run_module_main,
    timings,
)


@pytest.fixture
def run_module(capsys):
    """Run a library module's main() with args against an executor; return its ModuleRun."""

    def _run(module, args, executor, check_mode=False, diff=False):
        args = dict(args)
        args.setdefault("root_key", ROOT_KEY)
        # executor=None runs the real make_executor (for Docker error paths).
        patcher = (
            mock.patch.object(faunadb_executor, "make_executor", return_value=executor)
            if executor is not None
            else mock.patch.object(faunadb_executor, "HAS_DOCKER", faunadb_executor.HAS_DOCKER)
        )
        return run_module_main(module, args, capsys, check_mode=check_mode, diff=diff,
                               patches=[patcher])

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


@pytest.fixture
def http_stub():
    stub = HTTPStub()
    yield stub
    stub.close()
