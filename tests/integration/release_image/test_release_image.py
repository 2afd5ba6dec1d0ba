"""`make image`: the FaunaDB image built from a release tarball (images/faunadb).

The release is the test double's tarball (tests/faunadb_double/package.py),
laid out like FaunaDB's; the double runs on Python, so the image gets
EXTRA_PACKAGES="python3 python3-yaml python3-bcrypt". To run the same checks
on a real release, point FAUNADB_TEST_RELEASE at its tarball (extra packages
then come from FAUNADB_TEST_EXTRA_PACKAGES, none by default).

The image is built once per module as faunalab/faunadb:releasetest and
removed at the end (`docker rmi --no-prune`: its layers stay as build cache).
The first build downloads a JRE from Debian's mirrors; later builds reuse the
cached layers.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "tests" / "faunadb_double" / "package.py"
IMAGE = "faunalab/faunadb:releasetest"
BASE_IMAGE = "faunalab/debian:bookworm"
DOUBLE_PACKAGES = "python3 python3-yaml python3-bcrypt"
BUILD_TIMEOUT_S = 1800  # a cold build downloads ~55 MB of JRE on 2 busy cores

# Debian multiarch triplets by `dpkg --print-architecture`.
MULTIARCH = {
    "amd64": "x86_64-linux-gnu",
    "arm64": "aarch64-linux-gnu",
    "armhf": "arm-linux-gnueabihf",
    "i386": "i386-linux-gnu",
    "ppc64el": "powerpc64le-linux-gnu",
    "s390x": "s390x-linux-gnu",
}

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _run(argv, timeout=120, check=False):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)


def _docker(*args, timeout=120, check=False):
    return _run(["docker", *args], timeout=timeout, check=check)


def _make_image(*assignments, timeout=BUILD_TIMEOUT_S):
    # Only what the test passes: nothing inherited from the caller's environment.
    env = {k: v for k, v in os.environ.items()
           if k not in ("FAUNADB_RELEASE", "FAUNADB_IMAGE", "FAUNADB_VERSION", "EXTRA_PACKAGES",
                        "BASE_IMAGE", "MAKEFLAGS")}
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "image", *assignments],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


def _in_image(image, script, user=None):
    """Run a shell script in a throw-away container of the image."""
    argv = ["run", "--rm", "--entrypoint", "sh"]
    if user is not None:
        argv += ["--user", user]
    return _docker(*argv, image, "-c", script)


def _top_folder(tarball: Path) -> tuple[str, set[str]]:
    with tarfile.open(tarball) as tar:
        names = {n.removeprefix("./").rstrip("/") for n in tar.getnames()}
    names.discard("")
    names.discard(".")
    tops = {n.split("/", 1)[0] for n in names}
    assert len(tops) == 1, f"{tarball}: one top folder expected, found {sorted(tops)}"
    return tops.pop(), names


@pytest.fixture(scope="module")
def engine():
    if shutil.which("docker") is None or _docker("info").returncode != 0:
        pytest.skip("no Docker engine")
    if shutil.which("make") is None:
        pytest.skip("no make")
    if _docker("image", "inspect", BASE_IMAGE).returncode != 0:
        pytest.fail(f"base image {BASE_IMAGE} is missing: `make setup` builds it")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """(tarball, top folder, extra packages) of the release under test."""
    given = os.environ.get("FAUNADB_TEST_RELEASE")
    if given:
        tarball = Path(given).resolve()
        extra = os.environ.get("FAUNADB_TEST_EXTRA_PACKAGES", "")
    else:
        out = tmp_path_factory.mktemp("release")
        proc = _run([sys.executable, str(PACKAGE), "--out", str(out)], check=True)
        tarball, extra = Path(proc.stdout.strip().splitlines()[-1]), DOUBLE_PACKAGES
    top, names = _top_folder(tarball)
    if f"{top}/lib/faunadb.jar" not in names:
        pytest.skip(f"{tarball.name} has no {top}/lib/faunadb.jar: package.py does not "
                    "produce a release-shaped tarball with lib/faunadb.jar yet")
    return tarball, top, extra


@pytest.fixture(scope="module")
def image(engine, release):
    tarball, _top, extra = release
    started = time.monotonic()
    proc = _make_image(f"FAUNADB_RELEASE={tarball}", f"FAUNADB_IMAGE={IMAGE}",
                       f"EXTRA_PACKAGES={extra}")
    try:
        assert proc.returncode == 0, (
            f"make image failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        assert f"built {IMAGE}" in proc.stdout, proc.stdout[-2000:]
        print(f"make image: {time.monotonic() - started:.1f} s")
        yield IMAGE
    finally:
        # The tag goes; its layers stay as build cache, so the next run does
        # not download the JRE again.
        _docker("rmi", "--no-prune", IMAGE)


@pytest.fixture(scope="module")
def config(image):
    return json.loads(_docker("image", "inspect", image, check=True).stdout)[0]["Config"]


def test_runs_as_uid_999(image, config):
    assert config["User"] == "999:999"
    proc = _docker("run", "--rm", image, "id")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("uid=999(faunadb) gid=999(faunadb)"), proc.stdout


def test_the_release_as_released_owned_by_root(image, release):
    proc = _in_image(image, "cd /opt/faunadb && test -x bin/faunadb && test -x bin/faunadb-admin"
                            " && test -f lib/faunadb.jar && ! test -L bin/faunadb"
                            " && stat -c '%u:%g %n' bin/faunadb bin/faunadb-admin lib/faunadb.jar"
                            " && ! test -w bin/faunadb && ! test -w lib/faunadb.jar")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split("\n")[:3] == [
        "0:0 bin/faunadb", "0:0 bin/faunadb-admin", "0:0 lib/faunadb.jar"]
    tarball, top, _ = release
    _, names = _top_folder(tarball)
    expected = sorted(n.removeprefix(f"{top}/") for n in names if n.startswith(f"{top}/bin/"))
    listed = _in_image(image, "cd /opt/faunadb && ls -1d bin/*").stdout.split()
    assert listed == expected


def test_launchers_are_not_on_path(image):
    # A symlink on PATH breaks the real launchers (they look for
    # ../lib/faunadb.jar next to the link): nothing named faunadb* on PATH.
    proc = _in_image(image, 'IFS=:; for d in $PATH; do ls -d "$d"/faunadb* 2>/dev/null; done;'
                            " command -v faunadb faunadb-admin; true")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_java_17_runs(image):
    proc = _docker("run", "--rm", image, "java", "-version")
    assert proc.returncode == 0, proc.stderr
    assert 'version "17.' in proc.stderr, proc.stderr


def _faketime_lib(image):
    arch = _in_image(image, "dpkg --print-architecture").stdout.strip()
    triplet = MULTIARCH.get(arch) or pytest.fail(f"unknown Debian architecture {arch!r}")
    return f"/usr/lib/{triplet}/faketime/libfaketime.so.1"


def test_libfaketime_at_the_multiarch_path(image):
    lib = _faketime_lib(image)
    proc = _in_image(image, f"test -r {lib} && dpkg -S {lib}")
    assert proc.returncode == 0, f"{lib} missing: {proc.stderr}"
    assert proc.stdout.startswith("libfaketime:"), proc.stdout
    # Preloadable by the unprivileged user, as the roles do.
    proc = _docker("run", "--rm", "-e", f"LD_PRELOAD={lib}", "-e", "FAKETIME=+1d",
                   image, "date", "+%s")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) > time.time() + 23 * 3600
    assert "ERROR: ld.so" not in proc.stderr, proc.stderr


def test_version_label(config, release):
    _, top, _ = release
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == top.removeprefix("faunadb-")
    assert labels["org.faunalab.release.file"] == release[0].name


def test_no_config_or_jvm_defaults_baked_in(image, config):
    env = dict(e.split("=", 1) for e in config["Env"] or [])
    for name in ("JAVA_OPTS", "MAX_HEAP_SIZE", "MAX_DIRECT_SIZE", "GC_LOG_PATH",
                 "FAUNADB_CONFIG", "LD_PRELOAD"):
        assert name not in env
    assert config["Cmd"] == ["/opt/faunadb/bin/faunadb", "-c", "/etc/faunadb/faunadb.yml"]
    assert not config.get("Entrypoint")
    assert set(config["ExposedPorts"]) == {"7500/tcp", "7501/tcp", "8443/tcp", "8444/tcp"}
    proc = _in_image(image, "test ! -e /etc/faunadb/faunadb.yml && test ! -e /etc/faunadb.yml"
                            " && stat -c '%u:%g %n' /var/lib/faunadb /var/log/faunadb /etc/faunadb")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split("\n")[:3] == [
        "999:999 /var/lib/faunadb", "999:999 /var/log/faunadb", "999:999 /etc/faunadb"]


def test_node_starts_with_what_the_roles_provide(image, tmp_path):
    """The release runs from the image with the launcher's requirements met
    from outside (env, config, flags file) and writes into named volumes,
    which start out owned by the image's user."""
    name = f"releasetest-{uuid.uuid4().hex[:8]}"
    volumes = [f"{name}-data", f"{name}-log"]
    cfg = tmp_path / "faunadb.yml"
    cfg.write_text("auth_root_key: secret\nnetwork_broadcast_address: 127.0.0.1\n")
    flags = tmp_path / "feature-flags.json"
    flags.write_text('{"version": 1, "properties": []}\n')
    for path in (cfg, flags):
        os.chmod(path, 0o644)
    env = {"JAVA_OPTS": "", "MAX_HEAP_SIZE": "1G", "MAX_DIRECT_SIZE": "512M",
           "FAUNADB_CONFIG": "/etc/faunadb/faunadb.yml",
           "LD_PRELOAD": _faketime_lib(image), "FAKETIME": "+0",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_FORCE_MONOTONIC_FIX": "0"}
    argv = ["run", "-d", "--name", name,
            "-v", f"{volumes[0]}:/var/lib/faunadb", "-v", f"{volumes[1]}:/var/log/faunadb",
            "-v", f"{cfg}:/etc/faunadb/faunadb.yml:ro",
            "-v", f"{flags}:/etc/feature-flag-periodic.d/feature-flags.json:ro"]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    _docker(*argv, image, check=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            proc = _docker("exec", name, "/opt/faunadb/bin/faunadb-admin", "init", "-r",
                           "replica1", timeout=120)
            running = _docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
            if proc.returncode == 0 or running != "true" or time.monotonic() > deadline:
                break
            time.sleep(2)
        logs = _docker("logs", "--tail", "40", name)
        assert proc.returncode == 0, (
            f"{proc.stdout}{proc.stderr}\nlogs:\n{logs.stdout}{logs.stderr}")
        assert "Node has initialized the cluster." in proc.stdout
        owners = _docker("exec", name, "sh", "-c",
                         "stat -c '%u:%g' /var/lib/faunadb /var/log/faunadb;"
                         " find /var/lib/faunadb /var/log/faunadb ! -user 999 | head -5;"
                         " awk '/^Uid:/ {print $2}' /proc/1/status")
        assert owners.stdout.split() == ["999:999", "999:999", "999"], owners.stdout
    finally:
        _docker("rm", "-f", "-v", name)
        _docker("volume", "rm", *volumes)


# --- a clear error, before anything is built, for a missing or bad release ---

def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


def _refused(proc, message):
    assert proc.returncode != 0, proc.stdout
    assert message in proc.stderr, proc.stderr
    assert "Sending build context" not in proc.stdout + proc.stderr
    assert "Successfully built" not in proc.stdout


def test_missing_release_is_refused():
    # Empty on the command line: the Makefile's default (the release beside the clone) is
    # overridden, as an operator's `make image FAUNADB_RELEASE=` would.
    _refused(_make_image("FAUNADB_RELEASE=", timeout=60), "FAUNADB_RELEASE is not set")


def test_nonexistent_release_is_refused(tmp_path):
    _refused(_make_image(f"FAUNADB_RELEASE={tmp_path}/nope.tar.gz", timeout=60), "no such file")


def test_not_a_tarball_is_refused(tmp_path):
    bogus = tmp_path / "faunadb-1.0.tar.gz"
    bogus.write_text("not an archive\n")
    _refused(_make_image(f"FAUNADB_RELEASE={bogus}", timeout=60), "is not a tar archive")


@pytest.mark.parametrize(
    ("name", "members", "message"),
    [
        ("faunadb-1.0.tar.gz", {"faunadb-1.0/bin/faunadb": b"#!/bin/sh\n",
                                "faunadb-1.0/bin/faunadb-admin": b"#!/bin/sh\n"},
         "is not a FaunaDB release: no faunadb-1.0/lib/faunadb.jar"),
        ("two.tar.gz", {"a/bin/faunadb": b"#!/bin/sh\n", "b/lib/faunadb.jar": b"PK"},
         "must hold one top folder"),
        # Upstream's mktarball.sh packs ./bin and ./lib with no top folder: it needs a version.
        ("fauna.tar.gz", {"./bin/faunadb": b"#!/bin/sh\n", "./lib/faunadb.jar": b"PK"},
         "has no top folder (bin/ and lib/ at its root): set FAUNADB_VERSION"),
    ],
    ids=["without_the_jar", "with_two_top_folders", "without_a_top_folder"],
)  # fmt: skip
def test_bad_tarball_is_refused(tmp_path, name, members, message):
    bad = _tarball(tmp_path / name, members)
    _refused(_make_image(f"FAUNADB_RELEASE={bad}", timeout=60), message)
