"""The double's image: one container, initialized with docker exec, pinged from the host."""

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from faunadb_double.testing import project_image

IMAGE = project_image()

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CONFIG = "auth_root_key: secret\nnetwork_broadcast_address: BROADCAST\n"
# The broadcast address is the container's own IP, known only inside it.
ENTRY = ('sed "s/BROADCAST/$(hostname -i | cut -d" " -f1)/" /tmp/faunadb.yml.in '
         "> /etc/faunadb/faunadb.yml && exec faunadb -c /etc/faunadb/faunadb.yml")


def _docker(*args, check=True, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


@pytest.fixture(scope="module")
def image():
    if shutil.which("docker") is None or _docker("info", check=False).returncode != 0:
        pytest.skip("no Docker engine")
    if _docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail(f"image {IMAGE} is missing: `make setup` builds it")
    return IMAGE


@pytest.fixture
def container(image, tmp_path):
    name = f"fdbtest-{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "faunadb.yml.in"
    cfg.write_text(CONFIG)
    os.chmod(cfg, 0o644)
    _docker("run", "-d", "--name", name, "-v", f"{cfg}:/tmp/faunadb.yml.in:ro",
            "--entrypoint", "sh", image, "-c", ENTRY)
    try:
        yield name
    finally:
        _docker("rm", "-f", name, check=False)


def _ping(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local http
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None, None


def test_init_and_ping_from_host(container):
    info = json.loads(_docker("inspect", container).stdout)[0]
    ip = next(iter(info["NetworkSettings"]["Networks"].values()))["IPAddress"]
    deadline = time.monotonic() + 20
    while True:
        proc = _docker("exec", container, "faunadb-admin", "init", "-r", "replica1", check=False)
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert proc.stdout.strip() == "Node has initialized the cluster.", proc
    assert "Loaded configuration from /etc/faunadb/faunadb.yml..." in proc.stderr
    deadline = time.monotonic() + 10
    while _ping(f"http://{ip}:8443/ping?scope=write")[0] != 200:
        assert time.monotonic() < deadline, "client API never answered"
        time.sleep(0.3)
    assert _ping(f"http://{ip}:8443/ping?scope=write") == (
        200, {"resource": "Scope write is OK"})
    status = _docker("exec", container, "faunadb-admin", "status").stdout
    assert f"  {ip}  " in status and "Replica: replica1 (data+log)" in status
    again = _docker("exec", container, "faunadb-admin", "init", "-r", "replica1")
    assert "NOT initialized" in again.stdout
    assert _docker("exec", container, "test", "-s", "/var/log/faunadb/core.log",
                   check=False).returncode == 0
