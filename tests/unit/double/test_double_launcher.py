"""bin/faunadb, run as a process: the real launcher's habits, and `-c CONFIG -b -p PIDFILE`.

Surface doc, "Verified on a real build": items 1 (jar next to the launcher,
symlinks not followed), 2 (log_path read as text; the JVM refuses quotes),
5 (missing flags directory: exit 0), and the launcher quirks (`set -u` on
JAVA_OPTS, heap sized from /proc/meminfo).
"""

import os
import signal
import subprocess

import pytest
from faunadb_double.testing import (
    ADMIN_BIN,
    FAUNADB_BIN,
    install_dir,
    launcher_env,
    port_open,
    wait_until,
)

BINS = {"faunadb": FAUNADB_BIN, "faunadb-admin": ADMIN_BIN}


def run(argv, env, timeout=20):
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _mem_mb() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        return next(int(line.split()[1]) // 1024 for line in fh if line.startswith("MemTotal:"))


# -- item 1: where the jar is looked for -------------------------------------------


@pytest.mark.parametrize("name", ["faunadb", "faunadb-admin"])
def test_symlinked_launcher_does_not_find_the_jar(tmp_path, name):
    link = tmp_path / "usr" / "local" / "bin" / name
    link.parent.mkdir(parents=True)
    link.symlink_to(BINS[name])
    env = launcher_env(FAUNADB_CONFIG=str(tmp_path / "faunadb.yml"))
    env.pop("FAUNADB_JAR", None)
    proc = run([str(link), "-c", str(tmp_path / "faunadb.yml"), "status"], env)
    assert proc.returncode == 1
    assert ("faunadb.jar not found. Please make sure that faunadb.jar is at "
            f"{tmp_path}/usr/local/lib/faunadb.jar") in proc.stderr


def test_jar_found_by_path_on_path_or_faunadb_jar(tmp_path):
    missing = str(tmp_path / "missing.yml")
    loaded = f"Error: could not read configuration file {missing}"  # the jar ran
    gc_log = {"GC_LOG_PATH": str(tmp_path)}  # /var/log/faunadb may not exist here
    env = launcher_env(PATH=f"{install_dir()}/bin:{os.environ['PATH']}", **gc_log)
    assert loaded in run(["faunadb", "-c", missing], env).stderr
    link = tmp_path / "bin" / "faunadb"
    link.parent.mkdir()
    link.symlink_to(FAUNADB_BIN)
    env = launcher_env(FAUNADB_JAR=os.path.join(install_dir(), "lib", "faunadb.jar"), **gc_log)
    assert loaded in run([str(link), "-c", missing], env).stderr


def test_launchers_are_shell_scripts_running_the_jar():
    for path in BINS.values():
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        assert text.startswith("#!/usr/bin/env bash\n")
        assert '"$FAUNADB_JAR"' in text and "realpath" not in text and "readlink" not in text


# -- launcher quirks and item 2: JAVA_OPTS, heap, GC log ---------------------------


def test_unset_java_opts_aborts_like_bash(make_node):
    node = make_node()
    env = launcher_env()
    del env["JAVA_OPTS"]
    proc = run([FAUNADB_BIN, "-c", str(node.config)], env)
    assert proc.returncode == 1
    assert proc.stderr.rstrip("\n").endswith(": JAVA_OPTS: unbound variable")
    assert not (node.log_dir / "core.log").exists()  # the server never ran


@pytest.mark.parametrize("quote", ['"', "'"])
def test_quoted_log_path_is_refused_by_the_jvm(make_node, quote):
    node = make_node()
    node.config.write_text(node.config.read_text().replace(
        f"log_path: {node.log_dir}", f"log_path: {quote}{node.log_dir}{quote}"))
    proc = run([FAUNADB_BIN, "-c", str(node.config)], launcher_env())
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(
        f"[error][logging] Output name can not be partially quoted: file={quote}{node.log_dir}")
    assert lines[1].startswith("Invalid -Xlog option '-Xlog:gc*:file=")
    assert lines[2:] == ["Error: Could not create the Java Virtual Machine.",
                         "Error: A fatal exception has occurred. Program will exit."]
    assert not (node.log_dir / "core.log").exists()


def test_gc_log_path_env_beats_quoted_log_path(make_node, tmp_path):
    node = make_node(log_path=f'"{tmp_path / "node" / "log"}"')  # YAML reads it unquoted
    gc_dir = tmp_path / "gc"
    gc_dir.mkdir()
    node.start(env=launcher_env(GC_LOG_PATH=str(gc_dir)))
    assert (gc_dir / "gc.log").exists()
    argv = node.cmdline()
    assert f"-Xlog:gc*:file={gc_dir}/gc.log:time,uptime,level,tags:filecount=10,filesize=10M" \
        in argv
    assert "-Xmx256M" in argv and "-XX:MaxDirectMemorySize=128M" in argv  # as given


def test_gc_log_dir_must_exist(make_node, tmp_path):
    node = make_node(log_path=tmp_path / "absent")
    proc = run([FAUNADB_BIN, "-c", str(node.config)], launcher_env())
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        f"[error][logging] Error opening log file '{tmp_path}/absent/gc.log'")
    assert "Error: Could not create the Java Virtual Machine." in proc.stderr


# -- item 5: the feature-flags file's directory --------------------------------------


@pytest.mark.parametrize("where", ["configured", "default"])
def test_missing_flags_directory_kills_the_server_with_exit_0(make_node, tmp_path, where):
    if where == "default":
        flags_dir = "/etc/feature-flag-periodic.d"
        if os.path.isdir(flags_dir):
            pytest.skip(f"{flags_dir} exists on this machine")
        node = make_node()
        node.config.write_text("".join(line for line in node.config.read_text().splitlines(True)
                                       if not line.startswith("flags_path:")))
    else:
        flags_dir = str(tmp_path / "no-such-dir")
        node = make_node(flags_path=f"{flags_dir}/feature-flags.json")
    proc = run([FAUNADB_BIN, "-c", str(node.config)], launcher_env())
    assert proc.returncode == 0
    assert ("Uncaught Exception on Main Thread. Terminating: "
            f"java.nio.file.NoSuchFileException: {flags_dir}") in proc.stderr
    assert not port_open(node.address, 8444)


# -- -b / -p, and the heap sized from /proc/meminfo ------------------------------------


def test_background_with_pidfile(make_node):
    node = make_node()
    pidfile = node.home / "faunadb.pid"
    env = launcher_env()
    del env["MAX_HEAP_SIZE"], env["MAX_DIRECT_SIZE"]
    proc = run([FAUNADB_BIN, "-c", str(node.config), "-b", "-p", str(pidfile)], env)
    assert proc.returncode == 0, proc.stderr
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, 0.1,
                         "pid file"))
    try:
        wait_until(lambda: port_open(node.address, 8444), 10, 0.1, "admin port")
        assert f"-Xmx{_mem_mb() // 2}M" in node.cmdline(pid)
        assert (node.log_dir / "core.log").stat().st_size > 0
        assert (node.home / "data" / "identity.json").exists()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not _alive(pid), 15, 0.1, "clean exit on SIGTERM")
    assert not pidfile.exists()

