"""Shared by the testinfra checks that molecule's verifiers run (one file per scenario)."""

import importlib
from pathlib import Path

import pytest

MODULE_UTILS = Path(__file__).resolve().parents[2] / "module_utils"

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


def module_util(name):
    """The project's module_utils/NAME.py, imported as Ansible imports it."""
    import ansible.module_utils  # noqa: PLC0415 - ansible is there only once the venv is

    if str(MODULE_UTILS) not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(MODULE_UTILS))
    return importlib.import_module(f"ansible.module_utils.{name}")


def engine_client():
    """A client of the engine Docker's variables name, made as the modules make theirs:
    DOCKER_HOST (unix://, tcp:// or ssh://), TLS when DOCKER_TLS or DOCKER_TLS_VERIFY is on,
    with DOCKER_CERT_PATH's ca.pem, cert.pem and key.pem."""
    factory = module_util("faunadb_docker")
    settings = factory.docker_settings_from_env()
    return factory.docker_client(settings["docker_host"], tls=factory.tls_config(settings))


@pytest.fixture(scope="session")
def engine():
    client = engine_client()
    yield client
    client.close()
