"""Fixtures of the faunadb_* module integration tests; helpers live in faunadb_playbook_testkit."""

from __future__ import annotations

import pytest


@pytest.fixture
def workdir(tmp_path):
    return tmp_path
