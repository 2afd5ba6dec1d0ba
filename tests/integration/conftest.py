"""Makes playbook_kit (the helpers the playbook-driving tests share) importable, and gives
the tests that drive containers their Docker engine."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def docker_engine():
    """docker_engine(image, hint): a client of the engine Docker's variables name, which holds
    IMAGE; skips the test without the docker SDK, an engine that answers, or the image (HINT
    says how to build it)."""

    def connect(image, hint):
        docker = pytest.importorskip("docker")
        try:
            client = docker.from_env()
            client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "no engine here"
            pytest.skip(f"Docker engine not reachable: {exc}")
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.skip(f"image {image} not built ({hint})")
        return client

    return connect
