"""faunadb_node and its module_utils (faunadb_node_ops, _parse, _rules, _plan, _docker,
_systemd): the pure parts, both implementations on fakes (a scripted systemctl/iptables
runner, a fake Docker API), and main() as Ansible runs it.

The Docker implementation against a real engine is in
tests/integration/modules/test_faunadb_node_docker.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from unittest import mock

import docker.errors
import faunadb_node
import pytest
from ansible.module_utils import faunadb_node_ops
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_executor import LocalExecutor
from ansible.module_utils.faunadb_node_docker import (
    DockerNodeOps,
    container_state,
    file_from_archive,
    skew_archive,
)
from ansible.module_utils.faunadb_node_parse import (
    clock_hook,
    format_offset,
    frozen,
    parse_environment,
    parse_offset,
    parse_skew_file,
    parse_systemctl_show,
    proc_stat_state,
)
from ansible.module_utils.faunadb_node_plan import NodeOps, plan, run_operation
from ansible.module_utils.faunadb_node_rules import (
    RULE_COMMENT,
    Rule,
    cut_off_rules,
    iptables_argv,
    parse_tagged_rules,
)
from ansible.module_utils.faunadb_node_systemd import SystemdNodeOps
from faunadb_module_testkit import REPO, FakeExecutor, run_module_main

# -- offsets and the skew file ------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("+300s", 300), ("-30s", -30), ("+5m", 300), ("+1h", 3600), ("+2d", 172800),
        ("300", 300), ("+0", 0), ("-0s", 0), (" +7s ", 7),
    ],
)  # fmt: skip
def test_offsets_accepted(text, seconds):
    assert parse_offset(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "+", "300x", "+1.5s", "5 minutes", "+-5s", "@2020-01-01 00:00:00", "+10 x2", "+400d",
     None, True],
)  # fmt: skip
def test_offsets_refused(text):
    with pytest.raises(FaunaDBError) as exc:
        parse_offset(text)
    assert "offset" in exc.value.msg


def test_offset_is_written_as_libfaketime_reads_it():
    # libfaketime ignores a trailing "s" but reads m/h/d/y as multipliers:
    # plain seconds with a sign are the one unambiguous form.
    assert [format_offset(s) for s in (300, -30, 0)] == ["+300\n", "-30\n", "+0\n"]


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("+0\n", 0), ("+300\n", 300), ("+300s\n", 300), ("-30", -30), ("+5m\n", 300),
        ("+1.5h\n", 5400), ("# skew for chaos\n\n+10\n", 10), ("+1y", 365 * 86400),
        ("", None), (None, None), ("@2020-01-01 00:00:00\n", None), ("+10 x2\n", None),
        ("2020-01-01 00:00:00", None),
    ],
)  # fmt: skip
def test_skew_file_read(text, seconds):
    assert parse_skew_file(text) == seconds


# -- processes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "stat, state",
    [
        ("4242 (python3) S 1 4242 4242 0 -1 4194560 1 0 0 0", "S"),
        ("4242 (python3) T 1 4242 4242 0 -1", "T"),
        # The command name may hold spaces and parentheses: the state follows the last ')'.
        ("77 (java (G1 Main) x) T 1 77 77", "T"),
        ("77 (a) b) R 1", "R"),
        ("", None),
        ("garbage", None),
    ],
)
def test_proc_stat_state(stat, state):
    assert proc_stat_state(stat) == state


def test_frozen_any_and_all():
    assert frozen(["T", "T"]) == (True, True)
    assert frozen(["S", "T"]) == (True, False)
    assert frozen(["S", "R", None]) == (False, False)
    assert frozen([]) == (False, False)


def test_sigstop_shows_as_state_t_in_proc():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        stat = f"/proc/{proc.pid}/stat"
        os.kill(proc.pid, signal.SIGSTOP)
        for _ in range(50):
            if proc_stat_state(open(stat).read()) == "T":
                break
            time.sleep(0.02)
        assert proc_stat_state(open(stat).read()) == "T"
        os.kill(proc.pid, signal.SIGCONT)
        for _ in range(50):
            if proc_stat_state(open(stat).read()) != "T":
                break
            time.sleep(0.02)
        assert proc_stat_state(open(stat).read()) in ("S", "R")
    finally:
        proc.kill()
        proc.wait()


def test_systemctl_show_and_environment():
    props = parse_systemctl_show("MainPID=12\nEnvironment=A=1 B=x=y\nActiveState=active\n")
    assert props == {"MainPID": "12", "Environment": "A=1 B=x=y", "ActiveState": "active"}
    env = parse_environment(
        'JAVA_OPTS= "JAVA_OPTS2=-Xa -Xb" LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/'
        "libfaketime.so.1 FAKETIME_TIMESTAMP_FILE=/etc/faunadb/faketime.rc"
    )
    assert env["JAVA_OPTS"] == "" and env["JAVA_OPTS2"] == "-Xa -Xb"
    assert clock_hook(env) == dict(preloaded=True, file="/etc/faunadb/faketime.rc")
    assert clock_hook({}) == dict(preloaded=False, file=None)


# -- iptables --------------------------------------------------------------------------

# `iptables -S` as iptables 1.8.9 (nf_tables) prints it after the module's
# -I commands (recorded in a throwaway network namespace), plus a rule of
# someone else's that must never be touched.
IPTABLES_S_INPUT = textwrap.dedent(
    """\
    -P INPUT ACCEPT
    -A INPUT -s 10.0.0.2/32 -p tcp -m multiport --ports 7500,7501,8443 -m comment --comment "faunadb_node cut_off" -j DROP
    -A INPUT -s 10.0.0.9/32 -j ACCEPT
    -A INPUT -s 10.0.0.8/32 -p tcp -m comment --comment "someone else" -j DROP
    """  # noqa: E501 - recorded output
)
IPTABLES_S_OUTPUT = textwrap.dedent(
    """\
    -P OUTPUT ACCEPT
    -A OUTPUT -d 10.0.0.2/32 -p udp -m multiport --ports 7500,7501,8443 -m comment --comment "faunadb_node cut_off" -j DROP
    """  # noqa: E501 - recorded output
)


def test_cut_off_rules_cover_both_directions_and_protocols():
    rules = cut_off_rules(["10.0.0.2", "10.0.0.3"], [8443, 7500, 7501, 7500])
    assert len(rules) == 2 * 2 * 2
    assert {r.key() for r in rules} >= {
        "iptables INPUT -s 10.0.0.2/32 -p tcp --ports 7500,7501,8443",
        "iptables OUTPUT -d 10.0.0.3/32 -p udp --ports 7500,7501,8443",
    }


def test_iptables_argv_inserts_first_and_deletes_the_same_rule():
    rule = Rule("INPUT", "10.0.0.2", "tcp", [7500, 7501, 8443])
    spec = ["-s", "10.0.0.2/32", "-p", "tcp", "-m", "multiport", "--ports", "7500,7501,8443",
            "-m", "comment", "--comment", RULE_COMMENT, "-j", "DROP"]  # fmt: skip
    assert iptables_argv(rule, "add") == ["iptables", "-w", "5", "-I", "INPUT", "1", *spec]
    assert iptables_argv(rule, "delete") == ["iptables", "-w", "5", "-D", "INPUT", *spec]
    v6 = Rule("OUTPUT", "fd00::2", "udp", [7500])
    assert iptables_argv(v6, "add")[:6] == ["ip6tables", "-w", "5", "-I", "OUTPUT", "1"]
    assert "-d" in iptables_argv(v6, "add") and "fd00::2/128" in iptables_argv(v6, "add")


def test_parse_tagged_rules_finds_only_ours():
    found = parse_tagged_rules(IPTABLES_S_INPUT) + parse_tagged_rules(IPTABLES_S_OUTPUT)
    assert [r.key() for r in found] == [
        "iptables INPUT -s 10.0.0.2/32 -p tcp --ports 7500,7501,8443",
        "iptables OUTPUT -d 10.0.0.2/32 -p udp --ports 7500,7501,8443",
    ]
    # The parsed rule is equal to the one the module builds, so a second
    # cut_off finds nothing to add.
    assert set(found) <= set(cut_off_rules(["10.0.0.2"], [7500, 7501, 8443]))
    assert parse_tagged_rules(IPTABLES_S_INPUT, family="ip6tables") == []


@pytest.mark.parametrize("peers", [["10.0.0.300"], ["node2"], [""]])
def test_bad_peers_refused(peers):
    with pytest.raises(FaunaDBError, match="not an IP address"):
        cut_off_rules(peers, [7500])


@pytest.mark.parametrize("ports", [[], [0], [70000], list(range(1, 17))])
def test_bad_ports_refused(ports):
    with pytest.raises(FaunaDBError, match="cut_off_ports"):
        cut_off_rules(["10.0.0.2"], ports)


# -- plan: what each state needs from what was found -------------------------------------

HOOK = dict(preloaded=True, file="/etc/faunadb/faketime.rc")


def node(**kw):
    base = dict(node="container n1", exists=True, running=True, paused=False, restarting=False,
                exit_code=None, skew=0, skew_text="+0\n", cut_off=False, clock_hook=HOOK,
                faketime_file="/etc/faunadb/faketime.rc")  # fmt: skip
    base.update(kw)
    return base


def kinds(steps):
    return [s.describe() for s in steps]


@pytest.mark.parametrize(
    "op, before, steps",
    [
        ("probe", node(running=False), []),
        ("started", node(running=False), ["start"]),
        ("started", node(), []),
        ("started", node(running=False, restarting=True), []),
        ("started", node(paused=True), []),
        ("stopped", node(), ["stop"]),
        ("stopped", node(paused=True), ["resume", "stop"]),
        ("stopped", node(running=False), []),
        ("restarted", node(), ["restart"]),
        ("restarted", node(paused=True), ["resume", "restart"]),
        ("restarted", node(running=False, restarting=True), ["restart"]),
        ("restarted", node(running=False, exit_code=137), ["start"]),
        ("restarted", node(running=False, cut_off=True, skew=300), ["start"]),
        ("killed", node(), ["kill"]),
        ("killed", node(paused=True), ["kill"]),
        ("killed", node(running=False, restarting=True), ["kill"]),
        ("killed", node(running=False, exit_code=137), []),
        ("paused", node(), ["pause"]),
        ("paused", node(paused=True), []),
        ("paused", node(paused=True, pause_partial=True), ["pause"]),
        ("resumed", node(paused=True), ["resume"]),
        ("resumed", node(), []),
        ("resumed", node(running=False), []),
        ("unskewed", node(skew=300, skew_text="+300\n"), ["skew +0"]),
        ("unskewed", node(skew=None, skew_text="@2020-01-01 00:00:00\n"), ["skew +0"]),
        ("unskewed", node(skew=None, skew_text=None), []),
        ("unskewed", node(), []),
        ("cut_off", node(), ["cut_off"]),
        ("cut_off", node(cut_off=True), []),
        ("restored", node(cut_off=True), ["restore"]),
        ("restored", node(), []),
        ("restored", node(running=False, cut_off=True), ["restore"]),
        ("healed", node(), []),
        ("healed", node(running=False, exit_code=137), ["start"]),
        (
            "healed",
            node(paused=True, cut_off=True, skew=300, skew_text="+300\n"),
            ["resume", "restore", "skew +0"],
        ),
        (
            "healed",
            node(running=False, cut_off=True, skew=-30, skew_text="-30\n"),
            ["restore", "skew +0", "start"],
        ),
    ],
)
def test_plan(op, before, steps):
    planned, after = plan(op, before)
    assert kinds(planned) == steps
    if op in ("started", "healed"):
        assert after["running"] or after["restarting"]
    if op == "restarted":
        assert (after["running"], after["paused"], after["restarting"]) == (True, False, False)
        # Nothing but the process: a cut-off or skewed node stays so.
        assert (after["cut_off"], after["skew"]) == (before["cut_off"], before["skew"])
    if op in ("stopped", "killed"):
        assert after["running"] is False and after["paused"] is False
    if op == "healed":
        assert (after["paused"], after["cut_off"]) == (False, False)
        assert after["skew"] in (0, None)


@pytest.mark.parametrize(
    "before, offset, steps",
    [
        (node(), 300, ["skew +300"]),
        (node(skew=300, skew_text="+300\n"), 300, []),
        (node(skew=300, skew_text="+300\n"), -30, ["skew -30"]),
        (node(skew=None, skew_text=None), 0, ["skew +0"]),
        (node(running=False), 300, ["skew +300"]),
    ],
)
def test_plan_skew(before, offset, steps):
    planned, after = plan("skewed", before, offset=offset)
    assert kinds(planned) == steps
    assert after["skew"] == offset


def test_plan_cut_off_that_differs_is_redone_and_healed_without_network_leaves_it():
    assert kinds(plan("cut_off", node(cut_off=True), cut_off_current=False)[0]) == ["cut_off"]
    assert kinds(plan("healed", node(cut_off=True), can_restore=False)[0]) == []


@pytest.mark.parametrize(
    "op, before, message",
    [
        ("paused", node(running=False), "not running"),
        ("skewed", node(clock_hook=dict(preloaded=False, file=None)), "does not preload"),
        ("skewed", node(clock_hook=dict(preloaded=True, file="/var/lib/other")), "/var/lib/other"),
        ("skewed", node(clock_hook=dict(preloaded=True, file=None)), "names no timestamp file"),
        ("killed", node(exists=False), "does not exist"),
        ("restarted", node(exists=False), "does not exist"),
        ("healed", node(exists=False), "does not exist"),
    ],
)
def test_plan_refuses(op, before, message):
    with pytest.raises(FaunaDBError, match=message):
        plan(op, before, offset=300)


def test_probe_of_a_missing_node_reports_it():
    steps, after = plan("probe", node(exists=False, running=False))
    assert steps == [] and after["exists"] is False


# -- run_operation on a fake node --------------------------------------------------------


class FakeOps(NodeOps):
    """A node in memory behaving by its own rules, as a container would: what run_operation
    asks is done or refused here, never worked out with the planner's code."""

    mode = "fake"

    def __init__(self, stuck=(), **state):
        super().__init__()
        self.state = node(**state)
        self.calls = []
        self.stuck = set(stuck)  # commands that "succeed" but change nothing

    def describe(self):
        return "fake node"

    def read(self):
        return dict(self.state)

    def _do(self, name, **changes):
        self.calls.append(name)
        self.commands.append(f"fake {name}")
        if name.split()[0] not in self.stuck:
            self.state.update(changes)

    def _refuse_unless_running(self, name):
        if not self.state["running"]:
            raise FaunaDBError(f"fake node: cannot {name} a stopped node")

    def start(self):
        self._do("start", running=True, paused=False, exit_code=None)

    def stop(self):
        if self.state["paused"]:
            raise FaunaDBError("fake node: a frozen process cannot shut down")
        self._do("stop", running=False, exit_code=0)

    def restart(self):
        if self.state["paused"]:
            raise FaunaDBError("fake node: a frozen process cannot shut down")
        self._do("restart", running=True, exit_code=None)

    def kill(self):
        self._refuse_unless_running("kill")
        self._do("kill", running=False, paused=False, exit_code=137)

    def pause(self):
        self._refuse_unless_running("pause")
        self._do("pause", paused=True)

    def resume(self):
        if not self.state["paused"]:
            raise FaunaDBError("fake node: cannot resume a node that is not paused")
        self._do("resume", paused=False)

    def write_skew(self, seconds):
        self._do(f"skew {seconds:+d}", skew=seconds, skew_text=f"{seconds:+d}\n")

    def cut_off(self):
        self._do("cut_off", cut_off=True)

    def restore(self):
        self._do("restore", cut_off=False)


def test_run_operation_acts_once_then_reports_no_change():
    fake = FakeOps()
    first = run_operation(fake, "killed")
    assert (first["changed"], first["actions"], first["running"]) == (True, ["kill"], False)
    assert first["diff"] == dict(
        before=dict(running=True, paused=False, skew=0, cut_off=False),
        after=dict(running=False, paused=False, skew=0, cut_off=False),
    )
    second = run_operation(fake, "killed")
    assert (second["changed"], second["actions"], second["commands"]) == (False, [], [])
    assert fake.calls == ["kill"]


def test_check_mode_predicts_and_changes_nothing():
    fake = FakeOps(paused=True, cut_off=True, skew=300, skew_text="+300\n")
    check = run_operation(fake, "healed", check_mode=True)
    assert check["changed"] is True
    assert check["actions"] == ["resume", "restore", "skew +0"]
    assert check["diff"]["after"] == dict(running=True, paused=False, skew=0, cut_off=False)
    # What check mode reports is the node as it is.
    assert (check["paused"], check["cut_off"], check["skew"]) == (True, True, 300)
    assert fake.calls == [] and check["commands"] == []
    real = run_operation(fake, "healed")
    assert real["actions"] == check["actions"] and real["diff"] == check["diff"]
    again = run_operation(fake, "healed", check_mode=True)
    assert again["changed"] is False


def test_restarted_acts_every_time_and_check_mode_only_predicts():
    fake = FakeOps(paused=True)
    check = run_operation(fake, "restarted", check_mode=True)
    assert (check["changed"], check["actions"], check["commands"]) == (
        True, ["resume", "restart"], [])  # fmt: skip
    assert check["paused"] is True and fake.calls == []
    first = run_operation(fake, "restarted")
    assert (first["changed"], first["actions"]) == (True, ["resume", "restart"])
    assert first["commands"] == ["fake resume", "fake restart"]
    assert (first["running"], first["paused"]) == (True, False)
    second = run_operation(fake, "restarted")
    assert (second["changed"], second["actions"], second["commands"]) == (
        True, ["restart"], ["fake restart"])  # fmt: skip
    assert second["diff"] == dict(
        before=dict(running=True, paused=False, skew=0, cut_off=False),
        after=dict(running=True, paused=False, skew=0, cut_off=False),
    )
    run_operation(fake, "killed")
    started = run_operation(fake, "restarted")
    assert (started["actions"], started["running"]) == (["start"], True)
    assert fake.calls == ["resume", "restart", "restart", "kill", "start"]


def test_restarted_that_leaves_the_node_down_fails_with_what_was_found():
    fake = FakeOps(running=False, exit_code=1, stuck={"start"})
    with pytest.raises(FaunaDBError, match="exited with code 1") as exc:
        run_operation(fake, "restarted", sleep=lambda s: None, clock=iter(range(100)).__next__)
    assert exc.value.details["actions"] == ["start"]


def test_a_step_that_does_not_take_fails_with_what_was_found():
    fake = FakeOps(stuck={"kill"})
    with pytest.raises(FaunaDBError) as exc:
        run_operation(fake, "killed", sleep=lambda s: None, clock=iter(range(100)).__next__)
    assert "running is True (wanted False)" in exc.value.msg
    assert exc.value.details["commands"] == ["fake kill"]


def test_a_node_that_exits_at_once_after_start_says_so():
    fake = FakeOps(running=False, exit_code=0, stuck={"start"})
    with pytest.raises(FaunaDBError, match="exited with code 0"):
        run_operation(fake, "started", sleep=lambda s: None, clock=iter(range(100)).__next__)


def test_each_state_twice_on_the_fake():
    fake = FakeOps()
    for op, offset in [("paused", None), ("resumed", None), ("skewed", 300), ("unskewed", None),
                       ("cut_off", None), ("restored", None), ("stopped", None),
                       ("started", None), ("killed", None), ("healed", None)]:  # fmt: skip
        assert run_operation(fake, op, offset=offset)["changed"] is True, op
        assert run_operation(fake, op, offset=offset)["changed"] is False, op


# -- container mode on a fake Docker API ---------------------------------------------------


def inspect(*, running=True, paused=False, restarting=False, exit_code=0, networks=("fdb",),
            env=("LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "FAKETIME_TIMESTAMP_FILE=/etc/faunadb/faketime.rc"),
            stop_timeout=None):  # fmt: skip
    config = {"Env": list(env)}
    if stop_timeout is not None:
        config["StopTimeout"] = stop_timeout
    return {
        "State": {"Status": "paused" if paused else ("running" if running else "exited"),
                  "Running": running or restarting, "Paused": paused,
                  "Restarting": restarting, "ExitCode": exit_code,
                  "Pid": 4321 if running else 0},  # fmt: skip
        "RestartCount": 0,
        "Config": config,
        "NetworkSettings": {"Networks": {n: {"IPAddress": "172.30.98.11"} for n in networks}},
    }


def test_container_state_from_inspect():
    up = container_state(inspect(), "fdb")
    assert (up["running"], up["paused"], up["cut_off"], up["pid"], up["exit_code"]) == (
        True, False, False, 4321, None)  # fmt: skip
    assert up["address"] == "172.30.98.11" and up["clock_hook"]["preloaded"] is True
    killed = container_state(inspect(running=False, exit_code=137, networks=()), "fdb")
    assert (killed["running"], killed["exit_code"], killed["cut_off"], killed["pid"]) == (
        False, 137, True, None)  # fmt: skip
    # Docker says Running=true while it restarts a container: that is not running.
    restarting = container_state(inspect(running=False, restarting=True), "fdb")
    assert (restarting["running"], restarting["restarting"]) == (False, True)
    assert container_state(inspect(paused=True), None)["cut_off"] is None
    assert container_state(None, "fdb")["exists"] is False


def test_container_state_has_the_labels_the_role_compares():
    info = inspect()
    info["Config"]["Labels"] = {"org.faunalab.spec": "abc", "org.faunalab.role": "faunadb-node"}
    assert container_state(info)["labels"] == info["Config"]["Labels"]
    # A container created without labels has Labels null in docker inspect.
    info["Config"]["Labels"] = None
    assert container_state(info)["labels"] == {}
    assert container_state(None)["labels"] == {}


def test_skew_archive_round_trip():
    data = skew_archive("/etc/faunadb/faketime.rc", -30)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.mode, member.uid, member.gid) == ("faketime.rc", 0o644, 0, 0)
    assert file_from_archive(iter([data[:100], data[100:]])) == "-30\n"


class FakeAPI:
    """The part of docker.APIClient DockerNodeOps uses, over one container's state."""

    def __init__(self, info=None, skew="+0\n"):
        self.info = info
        self.skew = skew
        self.calls = []
        self.fail = {}

    def _maybe_fail(self, name):
        if name in self.fail:
            raise self.fail[name]

    def inspect_container(self, name):
        self.calls.append(("inspect", name))
        if self.info is None:
            raise docker.errors.NotFound("No such container: " + name)
        return self.info

    def get_archive(self, name, path):
        if self.skew is None:
            raise docker.errors.NotFound("Could not find the file")
        data = skew_archive(path, parse_skew_file(self.skew))
        return iter([data]), {}

    def put_archive(self, name, path, data):
        self._maybe_fail("put_archive")
        self.calls.append(("put_archive", name, path, file_from_archive([data])))
        return True

    def __getattr__(self, attr):  # kill, stop, start, pause, unpause, connect, disconnect
        def call(*args, **kwargs):
            self._maybe_fail(attr)
            self.calls.append((attr, *args, kwargs) if kwargs else (attr, *args))

        return call


def docker_ops(api, **kw):
    return DockerNodeOps(FakeExecutor(api), network="fdb", address="172.30.98.11", **kw)


def test_docker_ops_make_the_calls_the_docker_cli_would():
    api = FakeAPI(inspect())
    ops = docker_ops(api, stop_timeout=40)
    ops.kill()
    ops.stop()
    ops.start()
    ops.pause()
    ops.resume()
    ops.cut_off()
    ops.restore()
    ops.write_skew(300)
    changes = [c for c in api.calls if c[0] != "inspect"]
    assert changes == [
        ("kill", "n1", {"signal": "SIGKILL"}),
        ("stop", "n1", {"timeout": 40}),
        ("start", "n1"),
        ("pause", "n1"),
        ("unpause", "n1"),
        ("disconnect_container_from_network", "n1", "fdb"),
        ("connect_container_to_network", "n1", "fdb", {"ipv4_address": "172.30.98.11"}),
        ("put_archive", "n1", "/etc/faunadb", "+300\n"),
    ]
    assert ops.commands[:2] == ["docker kill --signal SIGKILL n1", "docker stop --time 40 n1"]
    assert "docker network connect --ip 172.30.98.11 fdb n1" in ops.commands


@pytest.mark.parametrize(
    "stop_timeout, container_timeout, timeout, cli",
    [
        (40, 20, 40, "docker restart --time 40 n1"),
        (0, None, 0, "docker restart --time 0 n1"),
        # Like `docker restart` without -t: the container's own stop timeout...
        (None, 45, 45, "docker restart n1"),
        # ... and the engine's 10 s for a container created without one.
        (None, None, 10, "docker restart n1"),
    ],
)
def test_docker_restart_waits_the_stop_timeout(stop_timeout, container_timeout, timeout, cli):
    api = FakeAPI(inspect(stop_timeout=container_timeout))
    ops = docker_ops(api, stop_timeout=stop_timeout)
    ops.restart()
    assert [c for c in api.calls if c[0] != "inspect"] == [("restart", "n1", {"timeout": timeout})]
    assert ops.commands == [cli]


def test_docker_restarted_resumes_a_paused_container_first():
    api = FakeAPI(inspect(paused=True))
    ops = docker_ops(api)
    result = run_operation(ops, "restarted", check_mode=True)
    assert (result["changed"], result["actions"]) == (True, ["resume", "restart"])
    assert [c for c in api.calls if c[0] != "inspect"] == []
    api.calls.clear()
    api.info = inspect()  # the fake engine does not change state: show it as restarted
    ops.resume()
    ops.restart()
    assert [c[0] for c in api.calls if c[0] != "inspect"] == ["unpause", "restart"]
    assert ops.commands == ["docker unpause n1", "docker restart n1"]


def test_docker_restarted_of_a_missing_container_fails_even_in_check_mode():
    with pytest.raises(FaunaDBError, match="does not exist"):
        run_operation(docker_ops(FakeAPI(None)), "restarted", check_mode=True)


def test_docker_kill_of_a_restarting_container_stops_it():
    api = FakeAPI(inspect(running=False, restarting=True))
    docker_ops(api).kill()
    assert ("stop", "n1", {"timeout": 0}) in api.calls


def test_docker_read_of_a_missing_container_and_a_missing_skew_file():
    assert docker_ops(FakeAPI(None)).read()["exists"] is False
    state = docker_ops(FakeAPI(inspect(), skew=None)).read()
    assert (state["skew"], state["skew_text"]) == (None, None)
    state = docker_ops(FakeAPI(inspect(), skew="+300\n")).read()
    assert (state["skew"], state["skew_text"]) == (300, "+300\n")


@pytest.mark.parametrize(
    ("call", "operation", "command", "explanation"),
    [
        ("restart", "restart", "docker restart",
         "Cannot restart container n1: container is paused"),
        ("connect_container_to_network", "restore", "docker network connect",
         "Address already in use"),
    ],
)  # fmt: skip
def test_docker_errors_become_messages(call, operation, command, explanation):
    api = FakeAPI(inspect())
    api.fail[call] = docker.errors.APIError("conflict", explanation=explanation)
    with pytest.raises(FaunaDBError) as exc:
        getattr(docker_ops(api), operation)()
    assert f"{command} failed" in exc.value.msg
    assert explanation in exc.value.msg


def test_docker_engine_unreachable_becomes_a_message():
    api = FakeAPI(inspect())
    api.fail["kill"] = docker.errors.DockerException("connection refused")
    with pytest.raises(FaunaDBError, match="Cannot reach the Docker engine"):
        docker_ops(api).kill()


# -- service mode on a scripted systemctl/iptables ------------------------------------------


class FakeHost:
    """systemctl and iptables on a host, as argv in, (rc, stdout, stderr) out."""

    def __init__(self, show, rules=""):
        self.show = show
        self.rules = {"INPUT": [], "OUTPUT": []}
        for line in rules.splitlines():
            words = line.split(" ", 2)
            if words[0] == "-A":
                self.rules[words[1]].append(line)
        self.calls = []

    def run(self, argv, env=None, timeout=None):
        self.calls.append(list(argv))
        if argv[:2] == ["systemctl", "show"]:
            return 0, self.show, ""
        if argv[0] == "systemctl":
            return 0, "", ""
        if argv[0] == "iptables" and "-S" in argv:
            chain = argv[-1]
            return 0, "\n".join([f"-P {chain} ACCEPT", *self.rules[chain]]) + "\n", ""
        if argv[0] == "iptables":
            action, chain = argv[3], argv[4]
            spec = argv[6:] if action == "-I" else argv[5:]
            import shlex  # noqa: PLC0415

            line = f"-A {chain} " + " ".join(shlex.quote(w) for w in spec).replace(
                shlex.quote(RULE_COMMENT), f'"{RULE_COMMENT}"'
            )
            if action == "-I":
                self.rules[chain].insert(0, line)
            else:
                self.rules[chain].remove(line)
            return 0, "", ""
        return 127, "", f"{argv[0]}: not found"


SHOW_ACTIVE = (
    "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID={pid}\n"
    "ExecMainStatus=0\nExecMainCode=0\nControlGroup=/system.slice/faunadb.service\n"
    'Environment=JAVA_OPTS= LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 '
    "FAKETIME_TIMESTAMP_FILE={skew_file}\nNRestarts=0\n"
)
SHOW_KILLED = (
    "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\n"
    "ExecMainStatus=9\nExecMainCode=2\nControlGroup=\nEnvironment=\nNRestarts=0\n"
)


@pytest.fixture
def service_host(tmp_path):
    proc = tmp_path / "proc"
    for pid in (500, 501):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(f"{pid} (python3) S 1 500 500 0 -1\n")
    # cgroup v1, as on this project's hosts: the unit's processes in systemd's tree.
    cgroup = tmp_path / "cgroup" / "systemd" / "system.slice" / "faunadb.service"
    cgroup.mkdir(parents=True)
    (cgroup / "cgroup.procs").write_text("500\n501\n")
    skew = tmp_path / "faketime.rc"
    skew.write_text("+0\n")
    host = FakeHost(SHOW_ACTIVE.format(pid=500, skew_file=skew), IPTABLES_S_INPUT)

    def make(peers=("10.0.0.2", "10.0.0.3")):
        return SystemdNodeOps(
            host, peers=list(peers), faketime_file=str(skew), proc_root=str(proc),
            cgroup_root=str(tmp_path / "cgroup"),
            which=lambda name: f"/usr/sbin/{name}" if name == "iptables" else None,
        )  # fmt: skip

    return host, make, proc, skew


def test_service_state_read(service_host):
    host, make, proc, skew = service_host
    state = make().read()
    assert (state["running"], state["paused"], state["pid"], state["status"]) == (
        True, False, 500, "active/running")  # fmt: skip
    assert state["clock_hook"] == dict(preloaded=True, file=str(skew))
    assert state["cut_off"] is True  # the recorded tagged rule for 10.0.0.2
    # One process of the unit frozen is a paused node (heal resumes it), but
    # not a fully paused one (pausing it again is not a no-op).
    (proc / "501" / "stat").write_text("501 (python3) T 1 500 500 0 -1\n")
    partly = make().read()
    assert (partly["paused"], partly["pause_partial"]) == (True, True)
    (proc / "500" / "stat").write_text("500 (python3) T 1 500 500 0 -1\n")
    assert (make().read()["paused"], make().read()["pause_partial"]) == (True, False)
    host.show = SHOW_KILLED
    killed = make().read()
    assert (killed["running"], killed["exit_code"], killed["paused"]) == (False, 137, False)
    # After kill + stop, systemd (252) keeps no exit of the main process.
    host.show = SHOW_KILLED.replace("ExecMainStatus=9\nExecMainCode=2", "ExecMainStatus=0\n"
                                    "ExecMainCode=0").replace("=failed", "=inactive", 1)
    stopped = make().read()
    assert (stopped["running"], stopped["exit_code"], stopped["status"]) == (
        False, None, "inactive/failed")  # fmt: skip


def test_service_kill_is_sigkill_then_stop(service_host):
    host, make, _, _ = service_host
    ops = make()
    ops.kill()
    assert [c for c in host.calls if c[:2] != ["systemctl", "show"]] == [
        ["systemctl", "kill", "--signal=SIGKILL", "faunadb"],
        ["systemctl", "stop", "faunadb"],
    ]
    ops.pause()
    ops.resume()
    assert ops.commands[-2:] == [
        "systemctl kill --signal=SIGSTOP faunadb",
        "systemctl kill --signal=SIGCONT faunadb",
    ]


def test_service_restart_is_systemctl_restart(service_host):
    host, make, proc, _ = service_host
    ops = make()
    ops.restart()
    assert ops.commands == ["systemctl restart faunadb"]
    # A frozen unit is thawed first: SIGTERM would wait on a stopped process.
    for pid in (500, 501):
        (proc / str(pid) / "stat").write_text(f"{pid} (python3) T 1 500 500 0 -1\n")
    host.calls.clear()
    check = run_operation(make(), "restarted", check_mode=True)
    assert (check["changed"], check["actions"], check["commands"]) == (
        True, ["resume", "restart"], [])  # fmt: skip
    assert [c for c in host.calls if c[0] == "systemctl" and c[1] != "show"] == []


def test_service_restarted_starts_a_stopped_unit(service_host):
    host, make, _, _ = service_host
    host.show = SHOW_KILLED

    def run(argv, env=None, timeout=None):
        if argv[:2] == ["systemctl", "start"]:
            host.show = SHOW_ACTIVE.format(pid=600, skew_file="/x")
        return FakeHost.run(host, argv)

    host.run = run
    result = run_operation(make(), "restarted")
    assert (result["changed"], result["actions"], result["commands"]) == (
        True, ["start"], ["systemctl start faunadb"])  # fmt: skip
    assert result["running"] is True and result["pid"] == 600


def test_service_probe_of_a_missing_unit_is_not_an_error(service_host):
    host, make, _, _ = service_host
    # What systemd 252 prints for a unit that was never installed (rc 0).
    host.show = (
        "LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n"
        "ExecMainStatus=0\nExecMainCode=0\nControlGroup=\nEnvironment=\nNRestarts=0\n"
    )
    result = run_operation(make(), "probe")
    assert (result["exists"], result["running"], result["changed"]) == (False, False, False)
    assert result["status"] == "absent"
    with pytest.raises(FaunaDBError, match="does not exist"):
        run_operation(make(), "restarted", check_mode=True)


def test_service_cut_off_adds_missing_rules_and_restore_removes_only_tagged(service_host):
    host, make, _, _ = service_host
    ops = make()
    ops.cut_off()
    tagged = [r for c in ("INPUT", "OUTPUT") for r in host.rules[c] if RULE_COMMENT in r]
    assert len(tagged) == 8  # 2 peers x 2 directions x tcp/udp, the existing one kept
    added = [c for c in host.calls if c[:2] == ["iptables", "-w"] and "-I" in c]
    assert len(added) == 7
    assert ops.cut_off_current(make().read()) is True
    # Another peer list: rules of the old peer that is not in it go away.
    make(["10.0.0.3"]).cut_off()
    assert not any("10.0.0.2/32" in r for c in host.rules.values() for r in c if RULE_COMMENT in r)
    make().restore()
    assert host.rules["INPUT"] == [
        "-A INPUT -s 10.0.0.9/32 -j ACCEPT",
        '-A INPUT -s 10.0.0.8/32 -p tcp -m comment --comment "someone else" -j DROP',
    ]
    assert host.rules["OUTPUT"] == []


def test_service_write_skew_keeps_owner_and_mode(service_host):
    _, make, _, skew = service_host
    skew.chmod(0o640)
    make().write_skew(-30)
    assert skew.read_text() == "-30\n"
    assert skew.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in skew.parent.iterdir() if p.name.startswith(".faketime")] == []


def test_service_without_iptables_reports_unknown_and_heals(service_host):
    host, make, _, _ = service_host
    ops = make()
    ops.which = lambda name: None
    state = ops.read()
    assert state["cut_off"] is None and state["cut_off_rules"] is None
    with pytest.raises(FaunaDBError, match="iptables is not installed"):
        ops.cut_off()
    assert run_operation(ops, "healed")["changed"] is False


def test_service_command_failure_is_a_message(service_host):
    host, make, _, _ = service_host

    def broken(argv, env=None, timeout=None):
        if argv[:2] == ["systemctl", "start"]:
            return 5, "", "Failed to start faunadb.service: Unit faunadb.service not found.\n"
        return FakeHost.run(host, argv)

    host.run = broken
    with pytest.raises(FaunaDBError) as exc:
        make().start()
    assert "Unit faunadb.service not found" in exc.value.msg
    assert exc.value.details["rc"] == 5


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("iptables"),
    reason="needs root, unshare and iptables",
)
def test_service_cut_off_and_restore_with_real_iptables_in_a_network_namespace(tmp_path):
    """The rules as iptables itself takes, lists and deletes them, in a throwaway netns."""
    script = tmp_path / "cut.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import json, subprocess, sys
            import ansible.module_utils
            ansible.module_utils.__path__.append({str(REPO / "module_utils")!r})
            from ansible.module_utils.faunadb_node_plan import run_operation
            from ansible.module_utils.faunadb_node_systemd import SystemdNodeOps
            subprocess.run(["iptables", "-A", "INPUT", "-s", "10.0.0.9", "-j", "ACCEPT"],
                           check=True)
            ops = SystemdNodeOps(peers=["10.0.0.2", "10.0.0.3"])
            # No systemd here: the unit is a running one, as systemctl show prints it.
            ops._show = lambda: dict(LoadState="loaded", ActiveState="active", MainPID="0")
            out = {{}}
            for op in ("cut_off", "cut_off", "restored", "restored"):
                result = run_operation(ops, op)
                out.setdefault(op, []).append([result["changed"], result["cut_off_rules"]])
            out["left"] = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True,
                                         text=True, check=True).stdout
            print(json.dumps(out))
            """
        )
    )
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, str(script)], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    if proc.returncode and "Operation not permitted" in proc.stderr:
        pytest.skip(f"cannot make a network namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (changed, rules), (again, same) = out["cut_off"]
    assert (changed, again, len(rules), same) == (True, False, 8, rules)
    assert [c for c, _ in out["restored"]] == [True, False]
    assert out["restored"][0][1] == [] and "-A INPUT -s 10.0.0.9/32 -j ACCEPT" in out["left"]


# -- main(), as Ansible runs the module ------------------------------------------------------


@pytest.fixture
def run_main(capsys):
    def _run(args, ops=None, check_mode=False, diff=False):
        factory = mock.Mock(return_value=ops)
        patch = mock.patch.object(faunadb_node_ops, "make_node_ops", factory)
        run = run_module_main(faunadb_node, args, capsys, check_mode=check_mode, diff=diff,
                              patches=[patch])
        return run.result, factory

    return _run


def test_main_kill_twice_with_diff(run_main):
    fake = FakeOps()
    first, _ = run_main(dict(state="killed"), fake, diff=True)
    assert first["changed"] is True and first["running"] is False
    assert first["diff"]["before"]["running"] is True and first["diff"]["after"]["running"] is False
    second, _ = run_main(dict(state="killed"), fake)
    assert second["changed"] is False and "diff" not in second


def test_main_check_mode_acts_on_nothing(run_main):
    fake = FakeOps()
    result, _ = run_main(dict(state="skewed", offset="+300s"), fake, check_mode=True, diff=True)
    assert result["changed"] is True and result["actions"] == ["skew +300"]
    assert result["diff"]["after"]["skew"] == 300 and fake.calls == []


def test_main_restarted_check_mode_predicts_then_restarts_each_time(run_main):
    fake = FakeOps()
    check, _ = run_main(dict(state="restarted"), fake, check_mode=True, diff=True)
    assert (check["changed"], check["actions"], check["commands"]) == (True, ["restart"], [])
    assert fake.calls == []
    for _ in range(2):
        result, _ = run_main(dict(state="restarted"), fake)
        assert (result["changed"], result["actions"]) == (True, ["restart"])
        assert result["commands"] == ["fake restart"] and result["running"] is True
    assert fake.calls == ["restart", "restart"]


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(state="skewed", offset="soon"), "is not a duration"),
        (dict(state="skewed"), "missing: offset"),
        (dict(state="exploded"), "value of state must be one of"),
        (dict(state="cut_off"), "needs peers"),
        (dict(state="cut_off", peers=["node2"]), "not an IP address"),
        (dict(state="restored", executor="docker", container="n1", network="fdb"),
         "needs address"),
        (dict(state="cut_off", executor="docker", container="n1"), "needs network"),
        (dict(state="healed", executor="docker", container="n1", network="fdb",
              address="fd00::1"), "IPv4"),
        (dict(state="started", executor="docker"), "missing: container"),
        (dict(state="restarted", executor="docker", container="n1", stop_timeout=-1),
         "stop_timeout must be 0 or more"),
    ],
)  # fmt: skip
def test_main_refuses_bad_input_before_touching_the_node(run_main, args, message):
    result, factory = run_main(args, FakeOps())
    assert result["failed"] is True
    assert message in result["msg"]
    factory.assert_not_called()


def test_main_reports_a_refusal_of_the_node_without_traceback(run_main):
    result, _ = run_main(dict(state="paused"), FakeOps(running=False))
    assert result["failed"] is True and "not running" in result["msg"]
    assert "exception" not in result and result["changed"] is False


def test_main_turns_an_unexpected_error_into_a_message(run_main):
    fake = FakeOps()
    fake.read = mock.Mock(side_effect=KeyError("State"))
    result, _ = run_main(dict(state="probe"), fake)
    assert result["failed"] is True
    assert result["msg"] == "faunadb_node: unexpected KeyError: 'State'"


def test_main_probe_default(run_main):
    result, _ = run_main({}, FakeOps(running=False, exit_code=137))
    assert result["changed"] is False and result["exit_code"] == 137 and result["actions"] == []


def probe_files(tmp_path):
    ids = dict(owner_id=os.getuid(), group_id=os.getgid())
    (tmp_path / "faunadb.yml").write_text("x: 1\n")
    os.chmod(tmp_path / "faunadb.yml", 0o640)
    (tmp_path / "flags.json").write_text("{}\n")
    os.chmod(tmp_path / "flags.json", 0o640)
    (tmp_path / "skew").write_text("+120\n")
    return [
        dict(path=str(tmp_path / "faunadb.yml"), content="x: 1\n", mode="0640", **ids),
        dict(path=str(tmp_path / "flags.json"), content='{"version": 1}\n', mode="0640", **ids),
        # Kept as it is when it exists (a scenario may be skewing the clock): no difference.
        dict(path=str(tmp_path / "skew"), content="+0\n", force=False, **ids),
        dict(path=str(tmp_path / "missing"), content="y\n", **ids),
    ]


def test_main_probe_reports_which_files_differ_without_writing(run_main, tmp_path):
    fake = FakeOps()
    fake.file_executor = LocalExecutor
    files = probe_files(tmp_path)
    result, _ = run_main(dict(files=files), fake)
    assert result["changed"] is False
    assert result["files_differ"] == [files[1]["path"], files[3]["path"]]
    assert (tmp_path / "flags.json").read_text() == "{}\n" and not (tmp_path / "missing").exists()
    assert '{"version": 1}' not in json.dumps(result)


def test_main_probe_of_a_missing_node_reads_no_files(run_main, tmp_path):
    fake = FakeOps(exists=False, running=False)
    fake.file_executor = mock.Mock(side_effect=AssertionError("no node, nothing to read"))
    result, _ = run_main(dict(files=probe_files(tmp_path)), fake)
    assert (result["exists"], result["files_differ"]) == (False, [])


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(state="started", files=[dict(path="/etc/a", content="x")]),
         "files is only read with state=probe"),
        (dict(files=[dict(path="etc/a", content="x")]), "paths must be absolute"),
        (dict(files=[dict(path="/etc/a", content="x", mode="rw")]), "must be octal"),
    ],
)  # fmt: skip
def test_main_refuses_bad_files_before_reading_the_node(run_main, args, message):
    result, factory = run_main(args, FakeOps())
    assert result["failed"] is True and message in result["msg"]
    factory.assert_not_called()


def test_main_without_files_returns_no_files_differ(run_main):
    result, _ = run_main({}, FakeOps())
    assert "files_differ" not in result


def test_make_node_ops_picks_the_implementation():
    module = mock.Mock(params=dict(executor="local", service="fdb", peers=["10.0.0.2"],
                                   cut_off_ports=[7500], faketime_file=None,
                                   command_timeout=30))  # fmt: skip
    ops = faunadb_node_ops.make_node_ops(module)
    assert isinstance(ops, SystemdNodeOps) and ops.service == "fdb" and ops.timeout == 30
    module.params.update(executor="docker", container="n1", docker_host="unix:///x.sock",
                         network="fdb", address="172.30.98.11", stop_timeout=5)  # fmt: skip
    ops = faunadb_node_ops.make_node_ops(module)
    assert isinstance(ops, DockerNodeOps) and ops.name == "n1" and ops.stop_timeout == 5
    assert ops.executor.docker_host == "unix:///x.sock"
    assert ops.faketime_file == "/etc/faunadb/faketime.rc"
