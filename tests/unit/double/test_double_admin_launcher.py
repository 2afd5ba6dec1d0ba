"""bin/faunadb-admin, run as a process (and against servers started by bin/faunadb).

Surface doc, "Verified on a real build": items 3 (the launcher picks the
config and ignores -c), 4 (the key: a notice on stdout, `--key` on argv),
6 (before init/join only 8444 listens; status fails), 7 (init is idempotent,
`--json init`), 8 (every call is a JVM start) and 13 (Persisted Timestamp).
"""

import json
import os
import re
import socket
import subprocess
import time

import bcrypt
import pytest
from faunadb_double import HOST_VERSION, jvm
from faunadb_double.cluster import iso_now
from faunadb_double.testing import (
    FAUNADB_BIN,
    install_dir,
    launcher_env,
    package_module,
    port_open,
    wait_until,
)

NOTICE = "Using plain-text auth_root_key found in {}\n"
UNINITIALIZED = ("Failed: Unknown error. Please contact support. Message was "
                 "fauna.repo.UninitializedException: FaunaDB Service is uninitialized")
HASH_LINE = "auth_root_key_hash: " + bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
NOT_A_MEMBER = ("This node is not part of the cluster yet. You should use faunadb-admin to have "
                "it either join an existing cluster or initialize a new one.")
# A core.log line as a real node writes it: `%d{ISO8601} [%c{2}] %level %msg`.
LOG_LINE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3} \[[\w-]+\] INFO "


def loaded_from(proc) -> str:
    """The config the tool read, from its `Loaded configuration from PATH...` line."""
    return re.search(r"^Loaded configuration from (.*)\.\.\.$", proc.stderr, re.M).group(1)


def tool_argv(node, *args, env=None) -> tuple[list[str], subprocess.CompletedProcess]:
    """Run faunadb-admin and catch the tool's command line (what `ps` shows) during start-up."""
    env = {"FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": "0.5", **(env or {})}
    proc = subprocess.Popen(**node.admin_command(*args, env=env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def argv():
        found = node.cmdline(proc.pid)
        return found if "admin" in found else None  # still bash, before its exec

    try:
        seen = wait_until(argv, 10, 0.02, "the tool's command line")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return seen, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _pairs(argv):
    return list(zip(argv, argv[1:], strict=False))


# -- item 3: which config ------------------------------------------------------------


def test_no_config_found_even_with_c(make_node, tmp_path):
    node = make_node()
    if os.path.exists("/etc/faunadb.yml") or os.path.exists(f"{install_dir()}/faunadb.yml"):
        pytest.skip("a faunadb.yml exists where the launcher looks")
    empty = tmp_path / "empty"
    empty.mkdir()
    start = time.monotonic()
    proc = node.admin("-c", str(node.config), "status", cwd=empty,
                      env={"FAUNADB_CONFIG": None, "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": "5"})
    assert proc.returncode == 1
    assert proc.stderr == "faunadb.yml config file not found.\n"  # before "Java": no banner
    assert proc.stdout == ""
    assert time.monotonic() - start < 3


def test_config_lookup_order_and_c_ignored(make_node, tmp_path):
    node = make_node()  # no server: the tool names its config, then cannot connect
    other = make_node("other")
    # FAUNADB_CONFIG first, whatever -c and ./faunadb.yml say.
    cwd = other.home  # holds other's faunadb.yml
    proc = node.admin("show-identity", "-c", str(other.config), cwd=cwd)
    assert loaded_from(proc) == str(node.config)
    assert proc.stdout.startswith(NOTICE.format(node.config))
    # Then ./faunadb.yml.
    proc = node.admin("show-identity", cwd=cwd, env={"FAUNADB_CONFIG": None})
    assert loaded_from(proc) == "./faunadb.yml"
    # Then INSTALL/faunadb.yml, next to bin/ and lib/ of a private install.
    prefix = tmp_path / "install"
    package_module().install(str(prefix))
    (prefix / "faunadb.yml").write_text(node.config.read_text())
    command = node.admin_command("show-identity", "-c", str(other.config),
                                 env={"FAUNADB_CONFIG": None}, cwd=tmp_path)
    command["args"][0] = str(prefix / "bin" / "faunadb-admin")
    proc = subprocess.run(**command, capture_output=True, timeout=30)
    assert loaded_from(proc) == f"{prefix}/faunadb.yml"


# -- item 4: the key ---------------------------------------------------------------------


def test_plain_text_key_notice_on_stdout_and_key_on_argv(make_node):
    node = make_node().start()
    argv, proc = tool_argv(node, "show-identity", "-c", "/elsewhere.yml")
    assert ("--key", "secret") in _pairs(argv)
    assert ("--conf", str(node.config)) == _pairs(argv)[-3]  # appended: the last one wins
    assert proc.returncode == 0, proc
    notice, identity = proc.stdout.splitlines()
    assert notice + "\n" == NOTICE.format(node.config)
    assert re.fullmatch(r"[0-9a-f-]{36}", identity)


def test_admin_key_env_goes_on_argv(make_node):
    node = make_node(key_line=HASH_LINE).start()
    argv, proc = tool_argv(node, "show-identity", env={"ADMIN_KEY": "secret"})
    assert ("--key", "secret") in _pairs(argv)
    assert proc.returncode == 0 and "Using plain-text" not in proc.stdout


def test_hashed_config_and_root_key_env_keep_the_key_off_argv(make_node):
    node = make_node(key_line=HASH_LINE).start()
    argv, proc = tool_argv(node, "show-identity", env={"FAUNADB_ROOT_KEY": "secret"})
    assert "--key" not in argv and "secret" not in argv
    assert proc.returncode == 0
    assert re.fullmatch(r"[0-9a-f-]{36}\n", proc.stdout)  # clean stdout


def test_key_from_the_config_beats_root_key_env(make_node):
    node = make_node().start()
    proc = node.admin("show-identity", env={"FAUNADB_ROOT_KEY": "wrong"})
    assert proc.returncode == 0, proc


def test_quoted_key_is_passed_with_quotes_and_still_authenticates(make_node):
    node = make_node(key_line='auth_root_key: "secret"').start()
    argv, proc = tool_argv(node, "show-identity")
    assert ("--key", '"secret"') in _pairs(argv)
    assert proc.returncode == 0, proc


# -- item 8: a JVM start per call ------------------------------------------------------------


def test_every_call_pays_a_jvm_start(make_node):
    node = make_node()
    start = time.monotonic()
    proc = node.admin("show-identity", env={"FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": "0.4"})
    assert time.monotonic() - start >= 0.4
    lines = proc.stderr.splitlines()
    assert len(jvm.JAMM_BANNER.splitlines()) == 14
    assert lines[:14] == jvm.JAMM_BANNER.splitlines()
    assert all(line.startswith("WARNING: jamm") for line in lines[:14])
    assert lines[14] == f"Loaded configuration from {node.config}..."
    assert jvm.startup_seconds({}) == 2.0


# -- items 6, 7, 13: before and after init ------------------------------------------------------


def test_before_init_only_the_admin_port_listens_and_status_fails(make_node):
    node = make_node().start()
    assert port_open(node.address, 8444)
    assert not port_open(node.address, 7500) and not port_open(node.address, 8443)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((node.address, 7500))  # the heartbeat port is free too
    for args in (["status"], ["--json", "status"]):
        proc = node.admin(*args)
        assert proc.returncode == 1
        assert proc.stdout == NOTICE.format(node.config)
        assert proc.stderr.splitlines()[-1] == UNINITIALIZED
    wait_until(lambda: NOT_A_MEMBER in (node.log_dir / "core.log").read_text(), 5, 0.1,
               "the not-a-member line in core.log")


def test_init_is_idempotent_and_says_so_in_json(make_node):
    node = make_node().start()
    proc = node.admin("--json", "init", "-r", "replica1")
    assert (proc.returncode, proc.stdout) == (
        0, NOTICE.format(node.config) + '{ "changed": true }\n')
    wait_until(lambda: port_open(node.address, 7500) and port_open(node.address, 8443), 5, 0.1,
               "peer and client ports after init")
    proc = node.admin("init", "-r", "replica1")
    assert (proc.returncode, proc.stdout.splitlines()[-1]) == (
        0, "Node has NOT initialized the cluster. It is already a member of a cluster.")
    proc = node.admin("--json", "init", "-r", "replica1")
    assert (proc.returncode, proc.stdout.splitlines()[-1]) == (0, '{ "changed": false }')
    doc = json.loads(node.admin("--json", "status").stdout.split("\n", 1)[1])
    assert [n["persisted_timestamp"] for n in doc["nodes"]] == ["1970-01-01T00:00:00Z"]


def test_persisted_timestamp_has_nine_fractional_digits():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", iso_now())


# -- silent failures, start-up ---------------------------------------------------------------


def banner_and_config(node) -> list[str]:
    return [*jvm.JAMM_BANNER.splitlines(), f"Loaded configuration from {node.config}..."]


def test_nothing_listening_fails_without_a_word(make_node):
    """Real 25.02.07, 2026-12-07: `faunadb-admin -H 127.0.0.1:9999 status` with
    nothing listening exited 1, stdout empty, stderr only the jamm banner and
    `Loaded configuration from ...`."""
    node = make_node(key_line=HASH_LINE)
    for args in (["status"], ["--json", "status"], ["init", "-r", "replica1"]):
        proc = node.admin(*args, "-H", f"{node.address}:9999", env={"FAUNADB_ROOT_KEY": "secret"})
        assert (proc.returncode, proc.stdout) == (1, ""), proc
        assert proc.stderr.splitlines() == banner_and_config(node)


def test_admin_api_listens_seconds_after_start_and_init_before_fails_silently(make_node):
    """Items 9 and 14: the admin API of a real node listens ~5 s after its start
    (7.5 s seen with three JVMs starting, 2026-12-07), and an init sent before
    exits 1 without a word; its core.log says `Fauna Service VERSION`, then
    `Admin endpoint: ADDRESS:8444`, then that the node is no member yet."""
    node = make_node(key_line=HASH_LINE)
    env = launcher_env()
    env.pop("FAUNADB_DOUBLE_NODE_STARTUP_SECONDS", None)  # the default, a real node's
    key = {"FAUNADB_ROOT_KEY": "secret"}
    started = time.monotonic()
    node.process = subprocess.Popen([FAUNADB_BIN, "-c", str(node.config)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    early = node.admin("init", "-r", "replica1", env=key)
    assert time.monotonic() - started < 4.5, "the early init came too late to prove anything"
    assert (early.returncode, early.stdout) == (1, ""), early
    assert early.stderr.splitlines() == banner_and_config(node)
    wait_until(lambda: port_open(node.address, 8444), 15, 0.05, "admin port")
    listening = time.monotonic() - started
    assert 5.0 <= listening <= 9.0, f"admin API listening after {listening:.1f} s"

    def log():
        return (node.log_dir / "core.log").read_text()

    wait_until(lambda: NOT_A_MEMBER in log(), 5, 0.1, "the not-a-member line")
    lines = log().splitlines()
    def where(end):
        return next(i for i, line in enumerate(lines) if line.endswith(end))

    service = where(f"INFO Fauna Service {HOST_VERSION}")
    admin = where(f"INFO Admin endpoint: {node.address}:8444")
    waiting = where(f"INFO {NOT_A_MEMBER}")
    assert service < admin < waiting
    assert all(re.match(LOG_LINE, lines[i]) for i in (service, admin, waiting)), lines
    proc = node.admin("init", "-r", "replica1", env=key)
    assert (proc.returncode, proc.stdout) == (0, "Node has initialized the cluster.\n")
