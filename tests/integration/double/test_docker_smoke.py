"""The double's image: laid out and run like a real release, initialized with docker exec.

Image: FAUNADB_DOUBLE_IMAGE, else faunalab/faunadb-double:VERSION (what
`make setup` builds). To try a private build:
    docker build -t faunalab/faunadb-double:dev --build-arg BASE_IMAGE=faunalab/debian:bookworm \\
        tests/faunadb_double
    FAUNADB_DOUBLE_IMAGE=faunalab/faunadb-double:dev .venv/bin/pytest tests/integration/double/...
"""

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from faunadb_double.testing import FLAGS, project_image

IMAGE = project_image()
SERVER = "/opt/faunadb/bin/faunadb"
ADMIN = "/opt/faunadb/bin/faunadb-admin"
CONFIG = "/etc/faunadb/faunadb.yml"

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# What a caller of the real launcher must provide (README, "Launchers").
RUN_ENV = ["-e", "JAVA_OPTS=", "-e", "MAX_HEAP_SIZE=256M", "-e", "MAX_DIRECT_SIZE=128M"]
EXEC_ENV = ["-e", f"FAUNADB_CONFIG={CONFIG}", "-e", "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS=0.2"]
TEMPLATE = ("auth_root_key: secret\nnetwork_broadcast_address: BROADCAST\n"
            "flags_path: /etc/faunadb/feature-flags.json\n")
# The broadcast address is the container's own IP, known only inside it.
ENTRY = ('sed "s/BROADCAST/$(hostname -i | cut -d" " -f1)/" /tmp/faunadb.yml.in > ' + CONFIG
         + f" && echo '{FLAGS.strip()}' > /etc/faunadb/feature-flags.json && exec {SERVER} -c "
         + CONFIG)
NOTICE = f"Using plain-text auth_root_key found in {CONFIG}"


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


def _config_file(tmp_path, text):
    path = tmp_path / f"faunadb-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(text)
    os.chmod(path, 0o644)  # read by uid 999 in the container
    return path


@pytest.fixture
def container(image, tmp_path):
    name = f"fdbtest-{uuid.uuid4().hex[:8]}"
    cfg = _config_file(tmp_path, TEMPLATE)
    _docker("run", "-d", "--name", name, *RUN_ENV, "-v", f"{cfg}:/tmp/faunadb.yml.in:ro",
            "--entrypoint", "sh", image, "-c", ENTRY)
    try:
        yield name
    finally:
        _docker("rm", "-f", name, check=False)


def _admin(container, *args, check=False):
    return _docker("exec", *EXEC_ENV, container, ADMIN, *args, check=check)


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
    while True:  # "up, not a member" is the answer of a started node (item 6)
        proc = _admin(container, "status")
        if "UninitializedException" in proc.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (proc.returncode, proc.stdout.strip()) == (1, NOTICE), proc
    proc = _admin(container, "init", "-r", "replica1")
    assert proc.stdout.splitlines() == [NOTICE, "Node has initialized the cluster."], proc
    assert f"Loaded configuration from {CONFIG}..." in proc.stderr
    deadline = time.monotonic() + 10
    while _ping(f"http://{ip}:8443/ping?scope=write")[0] != 200:
        assert time.monotonic() < deadline, "client API never answered"
        time.sleep(0.3)
    assert _ping(f"http://{ip}:8443/ping?scope=write") == (
        200, {"resource": "Scope write is OK"})
    status = _admin(container, "status", check=True).stdout
    assert f"  {ip}  " in status and "Replica: replica1 (data+log)" in status
    again = _admin(container, "--json", "init", "-r", "replica1", check=True)
    assert again.stdout.splitlines() == [NOTICE, '{ "changed": false }']
    for log in ("core.log", "gc.log"):
        assert _docker("exec", container, "test", "-f", f"/var/log/faunadb/{log}",
                       check=False).returncode == 0
    assert _docker("exec", container, "stat", "-c", "%u", "/proc/1").stdout.strip() == "999"


def test_image_is_laid_out_like_a_release_and_not_root(image):
    out = _docker("run", "--rm", "--entrypoint", "sh", image, "-c",
                  "id -u; id -g; command -v faunadb faunadb-admin || echo none; "
                  "stat -c %u:%g /etc/faunadb /var/lib/faunadb /var/log/faunadb; "
                  "ls /opt/faunadb/bin; ls /opt/faunadb/lib; test -d /etc/feature-flag-periodic.d "
                  "|| echo no-flags-dir; echo ${JAVA_OPTS-unset}").stdout.split()
    assert out == ["999", "999", "none", "999:999", "999:999", "999:999",
                   "faunadb", "faunadb-admin", "faunadb.jar", "no-flags-dir", "unset"]


def test_named_volumes_inherit_the_ownership(image):
    volume = f"fdbtest-{uuid.uuid4().hex[:8]}"
    try:
        proc = _docker("run", "--rm", "-v", f"{volume}:/var/lib/faunadb", "--entrypoint", "sh",
                       image, "-c", "touch /var/lib/faunadb/x && stat -c %u /var/lib/faunadb")
        assert proc.stdout.strip() == "999"
    finally:
        _docker("volume", "rm", "-f", volume, check=False)


def test_default_command_needs_java_opts_and_the_flags_directory(image, tmp_path):
    cfg = _config_file(tmp_path, "auth_root_key: secret\nnetwork_broadcast_address: 127.0.0.1\n")
    mount = ["-v", f"{cfg}:{CONFIG}:ro"]
    proc = _docker("run", "--rm", *mount, image, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("JAVA_OPTS: unbound variable")
    proc = _docker("run", "--rm", *mount, *RUN_ENV, image, check=False)
    assert proc.returncode == 0  # dead, yet exit 0 (item 5)
    assert ("Uncaught Exception on Main Thread. Terminating: "
            "java.nio.file.NoSuchFileException: /etc/feature-flag-periodic.d") in proc.stderr
