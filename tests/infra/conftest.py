"""Shared by the testinfra checks that molecule's verifiers run (one file per scenario)."""

from pathlib import Path

import pytest

# faunadb.yml keys of the current release, as the test double records them
# (compared there with shared/docs/faunadb-config-keys.txt): FaunaDB refuses
# any other, so a rendered config must stay inside this set.
_DOUBLE = Path(__file__).resolve().parents[1] / "faunadb_double"
_KEYS_FILE = _DOUBLE / "faunadb_double" / "config_keys.py"
_namespace: dict = {}
exec(compile(_KEYS_FILE.read_text(), str(_KEYS_FILE), "exec"), _namespace)  # noqa: S102
FAUNADB_CONFIG_KEYS = frozenset(_namespace["KNOWN_KEYS"])


@pytest.fixture(scope="session")
def faunadb_config_keys():
    return FAUNADB_CONFIG_KEYS
