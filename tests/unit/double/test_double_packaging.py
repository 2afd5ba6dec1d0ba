"""The double's release tarball, lib/faunadb.jar and image recipe, laid out like FaunaDB's.

Surface doc: "Processes, files, ports" (release tarball: bin/faunadb,
bin/faunadb-admin, lib/faunadb.jar) and "Verified on a real build", item 1
(no launcher symlinks on PATH). tests/integration/double/test_docker_smoke.py
runs the image itself.
"""

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile

from faunadb_double import VERSION
from faunadb_double.testing import FLAGS, PACKAGE_ROOT, admin_env, package_module

PACKAGE_PY = os.path.join(PACKAGE_ROOT, "package.py")


def test_tarball_is_laid_out_like_a_release(tmp_path):
    subprocess.run([sys.executable, PACKAGE_PY, "--out", str(tmp_path)], check=True,
                   capture_output=True, timeout=60)
    top = f"faunadb-{VERSION}"
    with tarfile.open(tmp_path / f"faunadb-double-{VERSION}.tar.gz") as tar:
        assert {m.name: m.mode for m in tar.getmembers()} == {
            f"{top}/bin/faunadb": 0o755, f"{top}/bin/faunadb-admin": 0o755,
            f"{top}/lib/faunadb.jar": 0o644, f"{top}/README.md": 0o644}
        tar.extractall(tmp_path, filter="data")
    # The unpacked release runs: faunadb-admin finds its jar and the config by FAUNADB_CONFIG.
    config = tmp_path / "faunadb.yml"
    config.write_text("auth_root_key_hash: x\nnetwork_broadcast_address: 127.0.0.1\n")
    proc = subprocess.run([tmp_path / top / "bin" / "faunadb-admin", "hash-key", "k"],
                          env=admin_env(str(config)), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc
    assert re.fullmatch(r"\$2b\$\d\d\$\S{53}\n", proc.stdout)


def test_jar_is_a_reproducible_zipapp_of_the_package(tmp_path):
    first, second = tmp_path / "a.jar", tmp_path / "b.jar"
    package_module().build_jar(str(first))
    subprocess.run([sys.executable, PACKAGE_PY, "--jar", str(second)], check=True,
                   capture_output=True, timeout=60)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as jar:
        names = set(jar.namelist())
        assert "from faunadb_double.jvm import main" in jar.read("__main__.py").decode()
    assert {"faunadb_double/jvm.py", "faunadb_double/server.py",
            "faunadb_double/admin_cli.py", "faunadb_double/config_keys.py"} <= names
    assert "faunadb_double/testing.py" not in names  # test helper, not shipped
    # `python3 faunadb.jar` without a tool is what `java` says without a main class.
    proc = subprocess.run([sys.executable, str(first)], capture_output=True, text=True,
                          timeout=30)
    assert (proc.returncode, proc.stderr) == (1, "Error: Could not find or load main class \n")


def test_install_layout(tmp_path):
    package_module().install(str(tmp_path))
    assert sorted(os.listdir(tmp_path / "bin")) == ["faunadb", "faunadb-admin"]
    assert os.listdir(tmp_path / "lib") == ["faunadb.jar"]
    assert json.loads(FLAGS) == {"version": 1, "properties": []}


def test_dockerfile_builds_a_release_like_non_root_image():
    with open(os.path.join(PACKAGE_ROOT, "Dockerfile"), encoding="utf-8") as fh:
        text = fh.read()
    steps = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines()
                                           if not line.lstrip().startswith("#")))
    assert 'CMD ["/opt/faunadb/bin/faunadb", "-c", "/etc/faunadb/faunadb.yml"]' in steps
    assert re.search(r"^USER 999:999$", steps, re.M)
    assert "ln -s" not in steps and "/usr/local/bin" not in steps  # nothing on PATH
    assert not re.search(r"^ENV .*JAVA_OPTS", steps, re.M)  # callers must set it
    assert "package.py --jar /opt/faunadb/lib/faunadb.jar" in steps
    assert re.search(r"useradd .*--uid 999 --gid 999 .*faunadb", steps)
    assert "chown 999:999 /etc/faunadb /var/lib/faunadb /var/log/faunadb" in steps
    packages = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", steps).group(1)
    assert set(packages.split()) == {"python3", "python3-yaml", "python3-bcrypt", "libfaketime",
                                     "faketime"}
    with open(os.path.join(PACKAGE_ROOT, ".dockerignore"), encoding="utf-8") as fh:
        assert "!package.py" in fh.read().split()
