"""Fixtures of test_fault.py: the checks file (CHAOS_CHECKS, schema in test_fault.py), one test
per target and survivor (ids = node names), Docker clients per engine, testinfra hosts for
service mode, and bounds so that a hung check cannot hold the fault's phase."""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys

import pytest
from project import module_util

# Each check is bounded (SIGALRM fails it); the whole run too (the process exits, so the
# role's own timeout never has to leave a pytest behind).
TEST_SECONDS = int(os.environ.get("CHAOS_CHECKS_TEST_SECONDS", "20"))
RUN_SECONDS = int(os.environ.get("CHAOS_CHECKS_RUN_SECONDS", "55"))
DOCKER_TIMEOUT_SECONDS = 10


def _load():
    path = os.environ.get("CHAOS_CHECKS")
    if not path:
        raise pytest.UsageError("CHAOS_CHECKS is not set: it names the checks' JSON file")
    with open(path, encoding="utf-8") as handle:
        checks = json.load(handle)
    for key in ("url", "targets", "survivors"):
        if key not in checks:
            raise pytest.UsageError(f"{path}: {key} is missing")
    return checks


def pytest_configure(config):
    config.chaos_checks = _load()
    # testinfra's ansible backend runs ansible-inventory from PATH: use this Python's.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    inventory = config.chaos_checks.get("ansible_inventory")
    if inventory:
        sources = [inventory] if isinstance(inventory, str) else list(inventory)
        os.environ["ANSIBLE_INVENTORY"] = ",".join(sources)
    if RUN_SECONDS > 0:
        faulthandler.dump_traceback_later(RUN_SECONDS, exit=True)


def pytest_unconfigure(config):
    faulthandler.cancel_dump_traceback_later()


def pytest_generate_tests(metafunc):
    checks = metafunc.config.chaos_checks
    for fixture, key in (("target", "targets"), ("survivor", "survivors")):
        if fixture in metafunc.fixturenames:
            nodes = checks[key] or []
            metafunc.parametrize(fixture, nodes, ids=[n["name"] for n in nodes])


class CheckTimeout(Exception):
    """A check ran past CHAOS_CHECKS_TEST_SECONDS."""


def _alarm(signum, frame):
    raise CheckTimeout(f"the check took more than {TEST_SECONDS} s")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if TEST_SECONDS <= 0 or not hasattr(signal, "SIGALRM"):
        return (yield)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TEST_SECONDS)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def checks(request):
    return request.config.chaos_checks


@pytest.fixture(scope="session")
def docker_clients():
    """docker_host -> a Docker client (the Docker API from the controller), made once, the
    way the modules make theirs; TLS settings from DOCKER_TLS, DOCKER_TLS_VERIFY and
    DOCKER_CERT_PATH, as the modules' options fall back to them."""
    made = {}

    def get(docker_host):
        factory = module_util("faunadb_docker")
        settings = factory.docker_settings_from_env()
        key = docker_host or settings["docker_host"] or factory.DEFAULT_DOCKER_HOST
        if key not in made:
            made[key] = factory.docker_client(key, timeout=DOCKER_TIMEOUT_SECONDS,
                                              tls=factory.tls_config(settings))
        return made[key]

    yield get
    for client in made.values():
        client.close()


@pytest.fixture(scope="session")
def hosts():
    """Inventory name -> testinfra host ansible://NAME, with sudo (service mode)."""
    made = {}

    def get(name):
        import testinfra  # noqa: PLC0415

        if name not in made:
            made[name] = testinfra.get_host(f"ansible://{name}", sudo=True)
        return made[name]

    return get
