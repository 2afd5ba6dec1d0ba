"""site.yml pointed at FaunaDB images the project did not build (issue 10).

A "foreign" image here is the project's bare Debian base: no FaunaDB release
under /opt/faunadb, no Python, no libfaketime. The roles must stop with a
message that says what is missing before the node's process ever runs, and
must never build or swap an image under the name the operator gave.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playbook_kit import ansible_playbook, docker_names, write_inventory

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CLUSTER = "foreigntest"
BASE_IMAGE = "faunalab/debian:bookworm"
NODES = {"fi_replica1_node1": "172.29.9.11", "fi_replica2_node1": "172.29.9.21",
         "fi_replica3_node1": "172.29.9.31"}  # fmt: skip


def inventory(tmp_path: Path, image: str, **extra) -> Path:
    return write_inventory(
        tmp_path / "inventory.yml", CLUSTER, "172.29.9.0/24", NODES,
        faunadb_node_image=image, **extra,
    )  # fmt: skip


def playbook(inventory_path: Path, *args: str) -> subprocess.CompletedProcess:
    return ansible_playbook(inventory_path, *args, check=False, timeout=600)


def image_id(name: str) -> str:
    proc = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True
    )
    return proc.stdout.strip()


def states() -> dict[str, str]:
    return docker_names(CLUSTER, all_states=True)


@pytest.fixture
def teardown(tmp_path):
    path = inventory(tmp_path, BASE_IMAGE)
    playbook(path, "playbooks/teardown.yml", "-e", f"faunadb_teardown_confirm={CLUSTER}")
    yield
    playbook(path, "playbooks/teardown.yml", "-e", f"faunadb_teardown_confirm={CLUSTER}")


def test_missing_image_is_named_not_built(tmp_path, teardown):
    proc = playbook(inventory(tmp_path, "faunalab/faunadb:0.0.0-absent"), "site.yml")
    assert proc.returncode != 0
    assert "The FaunaDB image faunalab/faunadb:0.0.0-absent (faunadb_node_image) is not on" in (
        proc.stdout
    )
    assert "make image FAUNADB_RELEASE=" in proc.stdout
    assert image_id("faunalab/faunadb:0.0.0-absent") == ""
    assert states() == {}


def test_foreign_image_fails_before_the_node_runs_and_is_never_replaced(tmp_path, teardown):
    before = image_id(BASE_IMAGE)
    proc = playbook(inventory(tmp_path, BASE_IMAGE), "site.yml")
    assert proc.returncode != 0
    assert "Missing on docker container fi_replica1_node1" in proc.stdout
    for path in ("/opt/faunadb/bin/faunadb", "/opt/faunadb/bin/faunadb-admin",
                 "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"):  # fmt: skip
        assert path in proc.stdout
    assert "faunadb_clock_faults=false" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    # Created to be checked, never started; the image is the operator's, untouched.
    assert set(states().values()) == {"created"}
    assert image_id(BASE_IMAGE) == before

    # Opting out of the clock hook leaves only the release itself to ask for.
    proc = playbook(inventory(tmp_path, BASE_IMAGE, faunadb_clock_faults=False), "site.yml")
    assert proc.returncode != 0
    assert "/opt/faunadb/bin/faunadb" in proc.stdout
    missing = proc.stdout.split("Missing on docker container")[1].split(". ")[0]
    assert "libfaketime" not in missing, missing
    assert image_id(BASE_IMAGE) == before
