"""faunadb-admin output formats, messages and exit codes, against in-process nodes.

This is the tool inside lib/faunadb.jar, called in-process; what its launcher
adds (config lookup, key notice, JVM start) is in test_double_admin_launcher.py.
"""

import io
import json
import logging
import os
import re
import time

import bcrypt
import pytest
from faunadb_double import HOST_VERSION, admin_cli, timings
from faunadb_double.auth import KeyChecker
from faunadb_double.config import parse_config
from faunadb_double.server import Server

KEY = "s3cret"
SUBNET = 20 + os.getpid() % 200


def _config(tmp_path, name, octet, **extra):
    address = f"127.{SUBNET}.1.{octet}"
    raw = {"auth_root_key": KEY, "network_broadcast_address": address,
           "network_admin_http_address": address,
           "storage_data_path": str(tmp_path / name / "data"),
           "log_path": str(tmp_path / name / "log"), **extra}
    path = tmp_path / f"{name}.yml"
    path.write_text("".join(f"{k}: '{v}'\n" for k, v in raw.items()))
    return parse_config(raw, str(path))


@pytest.fixture
def nodes(tmp_path, monkeypatch):
    monkeypatch.setattr(timings, "NODE_STARTUP", 0, raising=False)  # admin API at once
    servers = []
    for i, name in enumerate(("a", "b")):
        server = Server(_config(tmp_path, name, 11 + i))
        server.start()
        servers.append(server)
    yield servers
    for server in servers:
        server.stop()


def run(capsys, *argv, env=None, monkeypatch=None):
    rc = admin_cli.run(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def host(server):
    return f"{server.cfg.admin_address}:{server.cfg.admin_port}"


def cli(capsys, server, *args):
    return run(capsys, "-H", host(server), "-k", KEY, *args)


@pytest.mark.parametrize("argv", [["update-replication", "r1", "r2", "r3"], ["frobnicate"], []])
def test_invalid_command(capsys, argv):
    rc, out, _ = run(capsys, *argv)
    assert rc == 1
    assert out.startswith("Usage: faunadb-admin")
    assert out.rstrip("\n").splitlines()[-1] == "Invalid command."


@pytest.mark.parametrize("argv", [
    ["status"], ["--json", "status"], ["init", "-r", "r1"], ["join", "10.0.0.1", "-r", "r2"],
    ["movement-status"], ["show-identity"], ["host-id", "10.0.0.1"], ["host-version"],
    ["remove", "some-id"]])
def test_unanswered_request_fails_without_a_word(capsys, argv):
    """A real 25.02.07 `faunadb-admin -H 127.0.0.1:9999 status` (nothing
    listening) exited 1 printing nothing (2026-12-07): the ConnectException
    stays inside AdminCommand's Try."""
    assert run(capsys, *argv, "-H", "127.0.0.1:1", "-k", KEY) == (1, "", "")


@pytest.mark.parametrize("argv", [["show-replication"], ["update-replica", "data+log", "r2"]])
def test_replication_commands_reach_the_catch_and_say_so(capsys, argv):
    # Their first request is made outside the Try (AdminCommands.getReplication),
    # so Admin.scala's catch prints its message, naming the host alone.
    assert run(capsys, *argv, "-H", "127.0.0.1:1", "-k", KEY) == (
        1, "ERROR: Could not connect to FaunaDB at 127.0.0.1\n", "")


def test_bad_key_and_uninitialized(capsys, nodes):
    rc, out, err = run(capsys, "-H", host(nodes[0]), "-k", "wrong", "status")
    assert rc == 1 and out == ""
    assert err == "Failed: Unauthorized. Please check that the provided Root Key is correct.\n"
    for args in (["status"], ["status", "--json"], ["movement-status"], ["show-replication"]):
        rc, out, err = cli(capsys, nodes[0], *args)
        assert (rc, out) == (1, "")
        assert err == ("Failed: Unknown error. Please contact support. Message was "
                       "fauna.repo.UninitializedException: FaunaDB Service is uninitialized\n")


def test_quoted_key_still_authenticates(capsys, nodes):
    # The launcher copies `auth_root_key: "s3cret"` by text, quotes included.
    for key in (f'"{KEY}"', f"'{KEY}'"):
        rc, out, _ = run(capsys, "-H", host(nodes[0]), "-k", key, "show-identity")
        assert (rc, out.strip()) == (0, nodes[0].node.host_id)
    assert run(capsys, "-H", host(nodes[0]), "-k", f'"{KEY}', "show-identity")[0] == 1


def test_init_messages(capsys, nodes):
    assert cli(capsys, nodes[0], "init")[:2] == (1, "ERROR: Replica name is required.\n")
    rc, out, _ = cli(capsys, nodes[0], "init", "-r", "r1")
    assert (rc, out) == (0, "Node has initialized the cluster.\n")
    rc, out, _ = cli(capsys, nodes[0], "init", "-r", "r1")
    assert (rc, out) == (
        0, "Node has NOT initialized the cluster. It is already a member of a cluster.\n")


def test_cluster_commands(capsys, nodes, monkeypatch):
    # Long enough for a loaded machine to get from update-replica to the check.
    monkeypatch.setattr(timings, "MOVEMENT", 8.0)
    a, b = nodes
    cli(capsys, a, "init", "-r", "r1")
    # options after the command work too
    rc, out, _ = run(capsys, "join", a.cfg.broadcast_address, "-r", "r2", "-H", host(b), "-k", KEY)
    assert (rc, out) == (0, "Node has joined the cluster.\n")
    rc, out, _ = cli(capsys, b, "join", a.cfg.broadcast_address, "-r", "r2")
    assert (rc, out) == (
        0, "Node has NOT joined the cluster. It is already a member of a cluster.\n")
    rc, out, _ = cli(capsys, b, "--json", "join", a.cfg.broadcast_address, "-r", "r2")
    assert (rc, out) == (0, '{ "changed": false }\n')

    rc, out, _ = cli(capsys, b, "status", "--json")
    doc = json.loads(out)
    assert set(doc) == {"nodes", "replica_info"}
    assert {frozenset(n) for n in doc["nodes"]} == {frozenset({
        "status", "state", "ownership", "ownership_goal", "host_id", "address", "replica",
        "worker_id", "log_segment", "log_segment_leader", "persisted_timestamp"})}
    assert doc["replica_info"] == [{"name": "r1", "type": "data+log"},
                                   {"name": "r2", "type": "compute"}]

    rc, out, _ = cli(capsys, a, "status")
    lines = out.splitlines()
    assert lines[0] == "" and lines[1] == "Replica: r1 (data+log)" and lines[2] == "=" * 22
    assert lines[3].split()[:4] == ["Status", "State", "WorkerID", "Log"]
    assert lines[4].split()[:4] == ["up", "live", "512", "0"]
    assert lines[6] == "Replica: r2 (compute)"

    assert cli(capsys, a, "update-replica", "data+log")[:2] == (
        1, "ERROR: No replicas were given. Please specify at least one replica.\n")
    rc, _, err = cli(capsys, a, "update-replica", "data", "nope")
    assert (rc, err) == (1, "Failed: Unknown replica nope\n")
    rc, out, _ = cli(capsys, a, "update-replica", "data+log", "r2")
    assert (rc, out) == (0, "Updated replica r2 to type data+log.\n")
    rc, out, _ = cli(capsys, a, "update-replica", "data+log", "r1", "r2")
    assert (rc, out) == (0, "Updated replicas r1, r2 to type data+log.\n")
    rc, out, _ = cli(capsys, a, "show-replication")
    assert out == "\treplica\ttype\n1\tr1\tdata+log\n2\tr2\tdata+log\n"

    # b learns the new type (pushed at once, gossiped otherwise)
    deadline = time.monotonic() + 5
    while "Replica: r2 (data+log)" not in cli(capsys, b, "status")[1]:
        assert time.monotonic() < deadline, "replica type did not propagate"
        time.sleep(0.1)

    # Movement is reported for a while first, in a real build's words (item 11).
    moving = cli(capsys, a, "movement-status")[1]
    assert re.fullmatch(r"\d{1,2}\.\d\d% of tokens in \d+ segments moving to 1 nodes in 1 "
                        r"replicas\.\n", moving), moving
    deadline = time.monotonic() + 20
    while cli(capsys, a, "movement-status")[1] != "No data movement is currently in progress.\n":
        assert time.monotonic() < deadline, "movement never settled"
        time.sleep(0.2)

    ident = cli(capsys, b, "show-identity")[1].strip()
    assert cli(capsys, a, "host-id", b.cfg.broadcast_address)[1].strip() == ident
    rc, _, err = cli(capsys, a, "host-id", "10.9.9.9")
    assert (rc, err) == (1, "Failed: Host is unknown.\n")
    assert cli(capsys, a, "host-version")[1] == f"Fauna {HOST_VERSION}\n"

    rc, _, err = cli(capsys, a, "remove", ident)
    assert rc == 1 and "last node of data replica r2" in err
    cli(capsys, a, "update-replica", "compute", "r2")
    rc, _, err = cli(capsys, a, "remove", ident)
    assert rc == 1 and "--force" in err  # b is up
    rc, out, _ = cli(capsys, a, "remove", ident, "--force")
    assert (rc, out) == (0, f"Node {ident} is now being removed.\n")
    doc = json.loads(cli(capsys, a, "status", "--json")[1])
    assert {n["host_id"]: n["state"] for n in doc["nodes"]}[ident] == "removed"


def test_key_and_host_from_config_and_env(capsys, nodes, monkeypatch):
    a = nodes[0]
    rc, out, err = run(capsys, "-c", a.cfg.path, "show-identity")
    assert rc == 0 and out.strip() == a.node.host_id
    assert err == f"Loaded configuration from {a.cfg.path}...\n"
    monkeypatch.setenv("FAUNADB_ADMIN_HOST", host(a))
    monkeypatch.setenv("FAUNADB_ROOT_KEY", KEY)
    monkeypatch.setenv("FAUNADB_CONFIG", "/nonexistent/x.yml")
    rc, out, _ = run(capsys, "show-identity", "-c", a.cfg.path)
    assert rc == 0 and out.strip() == a.node.host_id
    monkeypatch.setenv("FAUNADB_ROOT_KEY", "wrong")
    assert run(capsys, "show-identity")[0] == 1


def test_environment_and_streams_can_be_given(capsys, nodes, monkeypatch):
    # As the modules' unit tests call it: side by side in one process, each call its own.
    a = nodes[0]
    monkeypatch.setenv("FAUNADB_ROOT_KEY", "wrong")
    out, err = io.StringIO(), io.StringIO()
    env = {"FAUNADB_CONFIG": a.cfg.path, "FAUNADB_ROOT_KEY": KEY}
    assert admin_cli.run(["show-identity"], env=env, out=out, err=err) == 0
    assert (out.getvalue(), err.getvalue()) == (
        a.node.host_id + "\n", f"Loaded configuration from {a.cfg.path}...\n")
    assert admin_cli.run(["show-identity"], env={}, out=out, err=err) == 1  # no config, no key
    assert capsys.readouterr() == ("", "")


def test_join_gives_up_on_unreachable_seed(capsys, nodes, monkeypatch):
    monkeypatch.setenv(admin_cli.JOIN_TIMEOUT_ENV, "1.5")
    start = time.monotonic()
    rc, _, err = cli(capsys, nodes[1], "join", f"127.{SUBNET}.1.99", "-r", "r2")
    assert rc == 1
    assert err == ("Failed: Please make sure it is reachable and a member of an existing "
                   "cluster.\n")
    assert time.monotonic() - start < 15


def test_join_through_a_seed_not_yet_member_goes_on_in_the_background(capsys, caplog, nodes,
                                                                       monkeypatch):
    """Real 3 x 1, 2026-12-07: replica2 introduced itself to a seed that was no
    member yet, its join failed (`Failed: Please make sure ...`), and seconds
    after the seed was initialised by hand it joined on its own; a later join
    said it was already a member."""
    caplog.set_level(logging.INFO, logger="faunadb")
    a, b = nodes
    seed = a.cfg.broadcast_address
    monkeypatch.setenv(admin_cli.JOIN_TIMEOUT_ENV, "1.5")
    started = time.monotonic()
    rc, out, err = cli(capsys, b, "join", seed, "-r", "r2")
    assert time.monotonic() - started >= 1.4
    assert (rc, out, err) == (1, "", "Failed: Please make sure it is reachable and a member of "
                                     "an existing cluster.\n")
    assert (f"Membership Service: this node {b.node.host_id} is introducing itself to seed "
            f"HostAddress({seed},7500)") in caplog.messages
    assert not b.node.member
    cli(capsys, a, "init", "-r", "r1")
    deadline = time.monotonic() + 10
    while "Membership Service: Joined." not in caplog.messages:  # no second join needed
        assert time.monotonic() < deadline, "b never joined on its own"
        time.sleep(0.1)
    assert (f"Membership Service: this node {b.node.host_id} is joining through seed "
            f"{a.node.host_id} at HostAddress({seed},7500)") in caplog.messages
    assert b.node.member
    rc, out, _ = cli(capsys, b, "join", seed, "-r", "r2")
    assert (rc, out) == (
        0, "Node has NOT joined the cluster. It is already a member of a cluster.\n")
    doc = json.loads(cli(capsys, a, "status", "--json")[1])
    assert {(n["replica"], n["host_id"]) for n in doc["nodes"]} == {
        ("r1", a.node.host_id), ("r2", b.node.host_id)}


def test_hash_key_and_hashed_auth(capsys, tmp_path):
    rc, out, _ = run(capsys, "hash-key", KEY)
    hashed = out.strip()
    assert rc == 0 and bcrypt.checkpw(KEY.encode(), hashed.encode())
    checker = KeyChecker(parse_config({"auth_root_key_hash": hashed,
                                       "network_broadcast_address": "h"}))
    assert checker.check(KEY) and not checker.check("nope")
    start = time.perf_counter()
    for _ in range(100):
        assert checker.check(KEY)
    assert time.perf_counter() - start < 0.05  # cached, not 100 bcrypt rounds
