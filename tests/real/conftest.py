"""The real tier: a real FaunaDB release on a 3 x 1 cluster (tests/real/README.md).

The release tarball comes from FAUNADB_RELEASE (`make real` defaults it to
../shared/faunadb/faunadb-*.tar.gz). Without one the tier is skipped, saying
so, unless FAUNADB_REAL_TIER=required (CI), which fails instead.

FAUNADB_TIER_IMAGE=faunalab/faunadb-double:1.0.0 runs the same tests on the
test double instead (no release needed), for figures side by side; its
figures go to build/real-tier/double/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from playbook_kit import ansible_playbook, derive_inventory  # noqa: E402

# The operator's example (inventory/real.yml) under names of the tier's own, so
# that the tier never touches a cluster an operator started from that file.
CLUSTER = "realtier"
PREFIX = "rt_"
SUBNET = "172.29.60"
LB_PORT = 18460
IMAGE = "faunalab/faunadb:realtier"
# The tier's inventory, root key, chaos reports and figures stay in real/ here after
# the run (double/ for a run on the double); git-ignored.
WORK = ROOT / "build" / "real-tier"


def _release() -> Path | None:
    value = os.environ.get("FAUNADB_RELEASE", "")
    return Path(value).resolve() if value else None


def _other_image() -> str | None:
    return os.environ.get("FAUNADB_TIER_IMAGE") or None


def pytest_collection_modifyitems(config, items):
    release = _release()
    if _other_image() or (release is not None and release.is_file()):
        return
    why = (f"FAUNADB_RELEASE={release} is not a file" if release
           else "no FaunaDB release: set FAUNADB_RELEASE=path/to/faunadb-VERSION.tar.gz")
    if os.environ.get("FAUNADB_REAL_TIER") == "required":
        raise pytest.UsageError(f"the real tier is required (FAUNADB_REAL_TIER) but {why}")
    skip = pytest.mark.skip(reason=f"real tier skipped: {why}")
    for item in items:
        item.add_marker(skip)


class Tier:
    """The tier's cluster: its inventory, a playbook runner and the figures it measured."""

    def __init__(self, inventory: Path, reports: Path, figures: Path, image: dict):
        self.inventory = inventory
        self.on_double = bool(_other_image())
        self.version = image.get("version") or ""  # the image's label: 25.02.07
        self.reports = reports
        self.figures_file = figures
        self.figures: dict[str, object] = {}
        hosts = yaml.safe_load(inventory.read_text())["all"]["children"]
        self.nodes = [name for replica in hosts["faunadb_nodes"]["children"].values()
                      for name in replica["hosts"]]
        self.lb = next(iter(hosts["faunadb_lb"]["hosts"]))
        self.url = f"http://127.0.0.1:{LB_PORT}"

    def playbook(self, *args: str, check: bool = True, timeout: int = 1800):
        started = time.monotonic()
        proc = ansible_playbook(self.inventory, *args, check=check, timeout=timeout)
        proc.seconds = round(time.monotonic() - started, 1)
        return proc

    def root_key(self) -> str:
        return (self.inventory.parent / ".secrets" / f"{CLUSTER}.root_key").read_text().strip()

    def record(self, name: str, value) -> None:
        self.figures[name] = value
        self.figures_file.write_text(json.dumps(self.figures, indent=2, sort_keys=True) + "\n")


def _image(release: Path | None) -> dict:
    """The image under test, built from the release unless FAUNADB_TIER_IMAGE names one."""
    image = _other_image() or IMAGE
    started = time.monotonic()
    if image == IMAGE:
        _build(release)
    inspect = json.loads(subprocess.run(
        ["docker", "image", "inspect", image], capture_output=True, text=True, check=True,
    ).stdout)[0]  # fmt: skip
    labels = inspect["Config"]["Labels"] or {}
    return {
        "image": image,
        "image_id": inspect["Id"],
        "version": labels.get("org.opencontainers.image.version"),
        "release_file": labels.get("org.faunalab.release.file"),
        "release_sha256": labels.get("org.faunalab.release.sha256"),
        "build_seconds": round(time.monotonic() - started, 1),
    }


def _build(release: Path) -> None:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "image", f"FAUNADB_RELEASE={release}",
         f"FAUNADB_IMAGE={IMAGE}"],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"make image FAUNADB_RELEASE={release} failed:\n{proc.stdout[-3000:]}"
                    f"\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def tier() -> Tier:
    """A real release's image and the tier's inventory; the cluster is torn down first and
    last (the tests themselves build it, in file order)."""
    image = _image(_release())
    work = WORK / ("double" if _other_image() else "real")
    shutil.rmtree(work, ignore_errors=True)
    reports = work / "reports"
    reports.mkdir(parents=True)
    inventory = derive_inventory(ROOT / "inventory" / "real.yml", work / "inventory.yml",
                                 cluster=CLUSTER, prefix=PREFIX, subnet=SUBNET, lb_port=LB_PORT,
                                 faunadb_node_image=image["image"])
    t = Tier(inventory, reports, work / "figures.json", image)
    t.record("system_under_test", image)
    confirm = f"faunadb_teardown_confirm={CLUSTER}"
    t.playbook("playbooks/teardown.yml", "-e", confirm)
    yield t
    t.playbook("playbooks/teardown.yml", "-e", confirm, check=False)
