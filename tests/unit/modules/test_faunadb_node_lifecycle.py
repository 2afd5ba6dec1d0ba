"""faunadb_node's lifecycle states: present and absent in container mode, started and absent in
service mode, on fakes at the boundary - a Docker engine whose state only its API calls change,
and a systemctl whose unit only its commands change - so that what the planner decides and what
the driver does are both pinned.
"""

from __future__ import annotations

import copy
from unittest import mock

import docker.errors
import faunadb_node
import pytest
from ansible.module_utils import faunadb_node_ops as ops_mod
from ansible.module_utils.faunadb_common import FaunaDBError
from ansible.module_utils.faunadb_node_container import (
    SPEC_LABEL,
    create_request,
    data_volumes,
    parse_memory,
    spec_hash,
    wanted_labels,
)
from ansible.module_utils.faunadb_node_docker import DockerNodeOps
from ansible.module_utils.faunadb_node_lifecycle import plan_lifecycle
from ansible.module_utils.faunadb_node_plan import Step, run_operation
from ansible.module_utils.faunadb_node_systemd import SystemdNodeOps
from faunadb_module_testkit import FakeExecutor, run_module_main

# What the role's _faunadb_node_container gives, with its spec label.
SPEC = dict(
    image="faunalab/faunadb:25.02.07",
    command=["/opt/faunadb/bin/faunadb", "-c", "/etc/faunadb/faunadb.yml"],
    hostname="n1",
    networks=[dict(name="fdb", ipv4_address="172.30.98.11")],
    network_mode="fdb",
    restart_policy="unless-stopped",
    memory="4g",
    cpus=1.0,
    volumes=["n1-data:/var/lib/faunadb", "n1-log:/var/log/faunadb"],
    env={"MAX_HEAP_SIZE": "2G", "JAVA_OPTS": ""},
    labels={"org.faunalab.role": "faunadb-node", SPEC_LABEL: "spec-1"},
)


def spec(label="spec-1", **changes):
    wanted = copy.deepcopy(SPEC)
    wanted["labels"][SPEC_LABEL] = label
    wanted.update(changes)
    return wanted


# -- the pure parts ---------------------------------------------------------------------


def test_create_request_is_what_docker_run_would_send():
    kwargs, later = create_request("n1", SPEC)
    assert kwargs == dict(
        image="faunalab/faunadb:25.02.07",
        name="n1",
        command=["/opt/faunadb/bin/faunadb", "-c", "/etc/faunadb/faunadb.yml"],
        hostname="n1",
        environment=["JAVA_OPTS=", "MAX_HEAP_SIZE=2G"],
        labels={"org.faunalab.role": "faunadb-node", SPEC_LABEL: "spec-1"},
        host_config={
            "Binds": ["n1-data:/var/lib/faunadb", "n1-log:/var/log/faunadb"],
            "NetworkMode": "fdb",
            "RestartPolicy": {"Name": "unless-stopped"},
            "Memory": 4 * 1024**3,
            "NanoCpus": 1_000_000_000,
        },
        networking_config={"EndpointsConfig": {"fdb": {"IPAMConfig": {"IPv4Address":
                                                                      "172.30.98.11"}}}},
    )  # fmt: skip
    assert later == []


def test_create_request_attaches_the_first_network_and_leaves_the_others_for_later():
    networks = [dict(name="fdb", ipv4_address="172.30.98.11", aliases=["node1"]),
                dict(name="admin", ipv4_address="10.9.0.5")]  # fmt: skip
    kwargs, later = create_request("n1", spec(networks=networks, network_mode=None))
    assert kwargs["host_config"]["NetworkMode"] == "fdb"
    assert kwargs["networking_config"] == {"EndpointsConfig": {"fdb": {
        "IPAMConfig": {"IPv4Address": "172.30.98.11"}, "Aliases": ["node1"]}}}  # fmt: skip
    assert later == [networks[1]]
    # A network mode that is not the first network: every network is connected after.
    kwargs, later = create_request("n1", spec(networks=networks, network_mode="bridge"))
    assert "networking_config" not in kwargs and later == networks


@pytest.mark.parametrize(
    "text, size",
    [("4g", 4 * 1024**3), ("512m", 512 * 1024**2), ("1.5G", 3 * 1024**3 // 2), ("64kb", 65536),
     ("1000", 1000)],
)  # fmt: skip
def test_memory_sizes(text, size):
    assert parse_memory(text) == size


def test_memory_that_is_no_size_is_refused():
    with pytest.raises(FaunaDBError, match="not a size"):
        parse_memory("lots")


def test_a_spec_without_a_label_is_labelled_with_its_hash():
    bare = spec()
    del bare["labels"][SPEC_LABEL]
    label = wanted_labels(bare)[SPEC_LABEL]
    assert label == spec_hash(bare) and len(label) == 64
    assert wanted_labels(dict(bare, memory="8g"))[SPEC_LABEL] != label
    # A label of the caller's wins: it is what the role's probe compares.
    assert wanted_labels(SPEC)[SPEC_LABEL] == "spec-1"


def test_data_volumes_are_the_roles_names():
    assert data_volumes("replica1_node1") == ["replica1_node1-data", "replica1_node1-log"]


def kinds(steps):
    return [s.describe() for s in steps]


@pytest.mark.parametrize(
    "before, steps",
    [
        (dict(exists=False, running=False, labels={}), ["create"]),
        (dict(exists=True, running=True, labels={SPEC_LABEL: "spec-1"}), []),
        (dict(exists=True, running=False, labels={SPEC_LABEL: "spec-1"}), []),
        (dict(exists=True, running=True, labels={SPEC_LABEL: "old"}), ["stop", "remove", "create"]),
        (dict(exists=True, running=True, paused=True, labels={}),
         ["resume", "stop", "remove", "create"]),
        (dict(exists=True, running=False, restarting=True, labels={}),
         ["stop", "remove", "create"]),
        (dict(exists=True, running=False, labels={SPEC_LABEL: "old"}), ["remove", "create"]),
    ],
)  # fmt: skip
def test_plan_present(before, steps):
    frozen = copy.deepcopy(before)
    planned, after = plan_lifecycle("present", before, Step, mode="container", spec="spec-1")
    assert kinds(planned) == steps
    assert before == frozen  # the planner only reads
    assert (after["exists"], after["labels"].get(SPEC_LABEL)) == (True, "spec-1")
    if steps:
        assert after["running"] is False  # created, not started: its files go in first


@pytest.mark.parametrize(
    "mode, before, steps",
    [
        ("container", dict(exists=True, running=True, labels={}, volumes=["n1-data", "n1-log"]),
         ["remove", "remove_volume n1-data", "remove_volume n1-log"]),
        ("container", dict(exists=True, running=False, labels={}), ["remove"]),
        ("container", dict(exists=False, running=False, labels={}, volumes=["n1-log"]),
         ["remove_volume n1-log"]),
        ("container", dict(exists=False, running=False, labels={}, volumes=[]), []),
        ("service", dict(exists=True, running=True, paused=True, enabled=True,
                         _unit_file="/u/faunadb.service"),
         ["resume", "stop", "disable", "remove"]),
        ("service", dict(exists=True, running=False, enabled=False,
                         _unit_file="/u/faunadb.service"), ["remove"]),
        ("service", dict(exists=False, running=False, enabled=None, _unit_file=None), []),
    ],
)  # fmt: skip
def test_plan_absent(mode, before, steps):
    frozen = copy.deepcopy(before)
    planned, after = plan_lifecycle("absent", before, Step, mode=mode)
    assert kinds(planned) == steps
    assert before == frozen
    assert after["exists"] is False and after["running"] is False
    assert after.get("volumes", []) == []


def test_present_needs_container_mode_and_a_spec():
    with pytest.raises(FaunaDBError, match="needs executor=docker"):
        plan_lifecycle("present", dict(exists=False), Step, mode="service", spec="x")
    with pytest.raises(FaunaDBError, match="needs executor=docker"):
        plan_lifecycle("present", dict(exists=False), Step, mode="container", spec=None)


# -- container mode on a fake engine -------------------------------------------------------


def assert_again_changes_nothing(fake, ops, state):
    """STATE run once more through OPS: no actions, no commands, and the fake engine or
    systemctl sees no change."""
    fake.calls.clear()
    again = run_operation(ops, state)
    assert (again["changed"], again["actions"], again["commands"]) == (False, [], [])
    assert fake.changes() == []


class FakeEngine:
    """The part of docker.APIClient the lifecycle uses, over containers and volumes that only
    these calls change; every call is recorded."""

    def __init__(self):
        self.containers = {}
        self.volumes = set()
        self.calls = []

    def add(self, name="n1", *, running=True, paused=False, labels=None):
        self.containers[name] = {
            "State": {"Status": "paused" if paused else ("running" if running else "exited"),
                      "Running": running, "Paused": paused, "Restarting": False,
                      "ExitCode": 0, "Pid": 4321 if running else 0},  # fmt: skip
            "RestartCount": 0,
            "Config": {"Env": [], "Labels": dict(labels or {}), "Image": SPEC["image"]},
            "NetworkSettings": {"Networks": {"fdb": {"IPAddress": "172.30.98.11"}}},
        }
        return self

    def changes(self):
        return [c for c in self.calls if c[0] not in ("inspect_container", "inspect_volume")]

    def _get(self, name):
        if name not in self.containers:
            raise docker.errors.NotFound(f"No such container: {name}")
        return self.containers[name]

    def inspect_container(self, name):
        self.calls.append(("inspect_container", name))
        return copy.deepcopy(self._get(name))

    def get_archive(self, name, path):
        raise docker.errors.NotFound("Could not find the file")

    def create_container(self, **kwargs):
        self.calls.append(("create_container", kwargs))
        if kwargs["name"] in self.containers:
            raise docker.errors.APIError("Conflict", explanation="name already in use")
        self.add(kwargs["name"], running=False, labels=kwargs["labels"])
        info = self.containers[kwargs["name"]]
        info["State"]["Status"] = "created"
        info["Config"]["Env"] = kwargs.get("environment", [])
        endpoints = (kwargs.get("networking_config") or {}).get("EndpointsConfig", {})
        info["NetworkSettings"]["Networks"] = {
            net: {"IPAddress": e.get("IPAMConfig", {}).get("IPv4Address")}
            for net, e in endpoints.items()
        }
        # The engine creates the named volumes a container mounts.
        for bind in kwargs["host_config"].get("Binds", []):
            if not bind.startswith("/"):
                self.volumes.add(bind.split(":")[0])
        return {"Id": "c0ffee"}

    def connect_container_to_network(self, name, network, **kwargs):
        self.calls.append(("connect_container_to_network", name, network, kwargs))
        self._get(name)["NetworkSettings"]["Networks"][network] = {
            "IPAddress": kwargs.get("ipv4_address")}

    def stop(self, name, **kwargs):
        self.calls.append(("stop", name, kwargs))
        self._get(name)["State"].update(Running=False, Paused=False, Status="exited", Pid=0)

    def unpause(self, name):
        self.calls.append(("unpause", name))
        self._get(name)["State"].update(Paused=False, Status="running")

    def remove_container(self, name, **kwargs):
        self.calls.append(("remove_container", name, kwargs))
        if self._get(name)["State"]["Running"] and not kwargs.get("force"):
            raise docker.errors.APIError("Conflict", explanation="stop it first")
        del self.containers[name]

    def inspect_volume(self, name):
        self.calls.append(("inspect_volume", name))
        if name not in self.volumes:
            raise docker.errors.NotFound(f"no such volume: {name}")
        return {"Name": name}

    def remove_volume(self, name):
        self.calls.append(("remove_volume", name))
        self.volumes.remove(name)


def present(engine, wanted=SPEC, **kw):
    return DockerNodeOps(FakeExecutor(engine), spec=wanted, **kw)


def test_present_creates_a_missing_container_and_then_changes_nothing():
    engine = FakeEngine()
    result = run_operation(present(engine), "present")
    assert (result["changed"], result["actions"]) == (True, ["create"])
    ((call, kwargs),) = engine.changes()
    assert call == "create_container" and kwargs == create_request("n1", SPEC)[0]
    assert result["commands"] == ["docker create --name n1 faunalab/faunadb:25.02.07"]
    assert (result["exists"], result["running"]) == (True, False)
    assert result["labels"][SPEC_LABEL] == "spec-1"
    assert result["diff"] == dict(before=dict(exists=False, running=False, spec=None),
                                  after=dict(exists=True, running=False, spec="spec-1"))
    assert engine.volumes == {"n1-data", "n1-log"}
    assert_again_changes_nothing(engine, present(engine), "present")


def test_present_leaves_a_running_container_with_the_same_spec_alone():
    engine = FakeEngine().add(labels={SPEC_LABEL: "spec-1"})
    result = run_operation(present(engine), "present")
    assert (result["changed"], result["running"]) == (False, True)
    assert engine.changes() == []


def test_present_recreates_a_container_with_another_spec_stopping_it_gracefully():
    engine = FakeEngine().add(labels={SPEC_LABEL: "old"})
    result = run_operation(present(engine, spec("spec-2"), stop_timeout=40), "present")
    assert (result["changed"], result["actions"]) == (True, ["stop", "remove", "create"])
    calls = engine.changes()
    assert calls[:2] == [("stop", "n1", {"timeout": 40}), ("remove_container", "n1",
                                                          {"force": True})]  # fmt: skip
    assert calls[2][0] == "create_container" and calls[2][1]["labels"][SPEC_LABEL] == "spec-2"
    assert result["commands"] == ["docker stop --time 40 n1", "docker rm --force n1",
                                  "docker create --name n1 faunalab/faunadb:25.02.07"]
    assert (result["running"], result["labels"][SPEC_LABEL]) == (False, "spec-2")


def test_present_resumes_a_paused_container_before_it_recreates_it():
    engine = FakeEngine().add(paused=True, labels={})
    result = run_operation(present(engine), "present")
    assert result["actions"] == ["resume", "stop", "remove", "create"]
    assert [c[0] for c in engine.changes()] == ["unpause", "stop", "remove_container",
                                                "create_container"]  # fmt: skip


def test_present_connects_further_networks_after_the_create():
    networks = [dict(name="fdb", ipv4_address="172.30.98.11"),
                dict(name="admin", ipv4_address="10.9.0.5", aliases=["n1-admin"])]  # fmt: skip
    engine = FakeEngine()
    result = run_operation(present(engine, spec(networks=networks)), "present")
    assert engine.changes()[1] == ("connect_container_to_network", "n1", "admin",
                                   {"ipv4_address": "10.9.0.5", "aliases": ["n1-admin"]})
    assert result["commands"][1] == "docker network connect --ip 10.9.0.5 --alias n1-admin admin n1"
    assert result["networks"] == ["admin", "fdb"]


@pytest.mark.parametrize(
    "labels, actions",
    [(None, ["create"]), ({SPEC_LABEL: "old"}, ["stop", "remove", "create"]),
     ({SPEC_LABEL: "spec-1"}, [])],
)  # fmt: skip
def test_present_check_mode_predicts_and_calls_nothing(labels, actions):
    engine = FakeEngine() if labels is None else FakeEngine().add(labels=labels)
    result = run_operation(present(engine), "present", check_mode=True)
    assert (result["changed"], result["actions"], result["commands"]) == (
        bool(actions), actions, [])  # fmt: skip
    assert engine.changes() == []
    assert result["diff"]["after"] == dict(exists=True, running=not actions, spec="spec-1")


def test_present_failure_of_the_engine_is_a_message():
    engine = FakeEngine()
    engine.create_container = mock.Mock(side_effect=docker.errors.ImageNotFound(
        "no such image", explanation="No such image: faunalab/faunadb:25.02.07"))
    with pytest.raises(FaunaDBError, match="No such image"):
        run_operation(present(engine), "present")


def absent(engine, keep_data=False):
    return DockerNodeOps(FakeExecutor(engine), volumes=() if keep_data else data_volumes("n1"))


def test_absent_removes_the_container_and_its_volumes():
    engine = FakeEngine().add()
    engine.volumes = {"n1-data", "n1-log", "other-data"}
    result = run_operation(absent(engine), "absent")
    assert result["actions"] == ["remove", "remove_volume n1-data", "remove_volume n1-log"]
    assert engine.changes() == [("remove_container", "n1", {"force": True}),
                                ("remove_volume", "n1-data"), ("remove_volume", "n1-log")]
    assert result["commands"] == ["docker rm --force n1", "docker volume rm n1-data",
                                  "docker volume rm n1-log"]  # fmt: skip
    assert engine.containers == {} and engine.volumes == {"other-data"}
    assert (result["exists"], result["volumes"]) == (False, [])
    assert result["diff"]["before"] == dict(exists=True, running=True, spec=None,
                                            volumes=["n1-data", "n1-log"])
    assert_again_changes_nothing(engine, absent(engine), "absent")


def test_absent_with_keep_data_keeps_the_volumes():
    engine = FakeEngine().add()
    engine.volumes = {"n1-data", "n1-log"}
    result = run_operation(absent(engine, keep_data=True), "absent")
    assert result["actions"] == ["remove"] and "volumes" not in result
    assert engine.volumes == {"n1-data", "n1-log"}
    assert not [c for c in engine.calls if c[0] == "inspect_volume"]


def test_absent_removes_volumes_left_by_a_container_already_gone():
    engine = FakeEngine()
    engine.volumes = {"n1-log"}
    result = run_operation(absent(engine), "absent")
    assert result["actions"] == ["remove_volume n1-log"] and engine.volumes == set()


def test_absent_check_mode_predicts_and_calls_nothing():
    engine = FakeEngine().add()
    engine.volumes = {"n1-data"}
    result = run_operation(absent(engine), "absent", check_mode=True)
    assert (result["changed"], result["actions"]) == (True, ["remove", "remove_volume n1-data"])
    assert engine.changes() == [] and "n1" in engine.containers
    assert result["diff"]["after"] == dict(exists=False, running=False, spec=None, volumes=[])


# -- service mode on a fake systemctl -----------------------------------------------------


class FakeSystemctl:
    """systemctl over one unit: `show` reports it, the other commands change it; the unit is
    loaded when its unit file exists, as of the last daemon-reload."""

    def __init__(self, unit_file, *, active=False, enabled=False, loaded=True):
        self.unit_file = unit_file
        self.active = active
        self.enabled = enabled
        self.loaded = loaded
        self.need_reload = False
        self.calls = []

    def changes(self):
        return [c for c in self.calls if c[:2] != ["systemctl", "show"]]

    def run(self, argv, env=None, timeout=None):
        self.calls.append(list(argv))
        verb = argv[1]
        if verb == "show":
            if not self.loaded:
                return 0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\n" \
                          "MainPID=0\nUnitFileState=\nNeedDaemonReload=no\n", ""
            return 0, (
                "LoadState=loaded\n"
                f"ActiveState={'active' if self.active else 'inactive'}\n"
                f"SubState={'running' if self.active else 'dead'}\n"
                f"MainPID={700 if self.active else 0}\nExecMainCode=0\nExecMainStatus=0\n"
                f"UnitFileState={'enabled' if self.enabled else 'disabled'}\n"
                f"NeedDaemonReload={'yes' if self.need_reload else 'no'}\n"
            ), ""
        if verb == "daemon-reload":
            self.loaded = self.unit_file.exists()
            self.need_reload = False
        elif not self.loaded:
            return 5, "", "Unit faunadb.service not loaded."
        elif verb == "start":
            self.active = True
        elif verb == "stop":
            self.active = False
        elif verb == "enable":
            self.enabled = True
        elif verb == "disable":
            self.enabled = False
        return 0, "", ""


@pytest.fixture
def unit(tmp_path):
    unit_dir = tmp_path / "system"
    unit_dir.mkdir()
    unit_file = unit_dir / "faunadb.service"
    unit_file.write_text("[Service]\nExecStart=/opt/faunadb/bin/faunadb\n")

    def make(**state):
        systemctl = FakeSystemctl(unit_file, **state)
        ops = SystemdNodeOps(
            systemctl, faketime_file=str(tmp_path / "faketime.rc"),
            proc_root=str(tmp_path / "proc"), cgroup_root=str(tmp_path / "cgroup"),
            which=lambda name: None, unit_dir=str(unit_dir),
        )  # fmt: skip
        return systemctl, ops

    return make, unit_file


def test_service_started_enables_and_starts_then_changes_nothing(unit):
    make, _ = unit
    systemctl, ops = make()
    result = run_operation(ops, "started")
    assert (result["changed"], result["actions"]) == (True, ["enable", "start"])
    assert systemctl.changes() == [["systemctl", "enable", "faunadb"],
                                   ["systemctl", "start", "faunadb"]]  # fmt: skip
    assert (result["running"], result["enabled"]) == (True, True)
    assert result["diff"]["before"]["enabled"] is False
    assert result["diff"]["after"]["enabled"] is True
    assert_again_changes_nothing(systemctl, ops, "started")


def test_service_started_only_enables_a_running_unit(unit):
    make, _ = unit
    systemctl, ops = make(active=True)
    result = run_operation(ops, "started")
    assert result["actions"] == ["enable"]
    assert systemctl.changes() == [["systemctl", "enable", "faunadb"]]


def test_service_started_of_a_unit_systemd_does_not_know_fails_even_in_check_mode(unit):
    make, _ = unit
    systemctl, ops = make(loaded=False)
    with pytest.raises(FaunaDBError, match="does not exist"):
        run_operation(ops, "started", check_mode=True)
    assert systemctl.changes() == []


def test_service_reload_when_asked_or_when_systemd_says_so(unit):
    make, _ = unit
    systemctl, ops = make(loaded=False)
    assert ops.reload_if_needed(forced=True) is True
    assert systemctl.changes() == [["systemctl", "daemon-reload"]]
    assert ops.commands == []  # not a change of the node by itself
    systemctl.calls.clear()
    assert ops.reload_if_needed() is False and systemctl.changes() == []
    systemctl.need_reload = True
    assert ops.reload_if_needed() is True
    assert systemctl.changes() == [["systemctl", "daemon-reload"]]


def test_service_absent_stops_disables_and_removes_the_unit(unit):
    make, unit_file = unit
    systemctl, ops = make(active=True, enabled=True)
    result = run_operation(ops, "absent")
    assert result["actions"] == ["stop", "disable", "remove"]
    assert systemctl.changes() == [["systemctl", "stop", "faunadb"],
                                   ["systemctl", "disable", "faunadb"],
                                   ["systemctl", "daemon-reload"]]  # fmt: skip
    assert result["commands"] == ["systemctl stop faunadb", "systemctl disable faunadb",
                                  f"rm {unit_file}", "systemctl daemon-reload"]  # fmt: skip
    assert not unit_file.exists()
    assert (result["exists"], result["enabled"], result["status"]) == (False, None, "absent")
    assert result["diff"] == dict(before=dict(exists=True, running=True, enabled=True),
                                  after=dict(exists=False, running=False, enabled=None))
    assert_again_changes_nothing(systemctl, ops, "absent")


def test_service_absent_check_mode_predicts_and_touches_nothing(unit):
    make, unit_file = unit
    systemctl, ops = make(active=True, enabled=True)
    result = run_operation(ops, "absent", check_mode=True)
    assert (result["changed"], result["actions"]) == (True, ["stop", "disable", "remove"])
    assert systemctl.changes() == [] and unit_file.exists()


# -- main(), as Ansible runs the module ------------------------------------------------------


@pytest.fixture
def run_main(capsys):
    def _run(args, executor=None, ops=None, check_mode=False):
        if ops is not None:
            patch = mock.patch.object(ops_mod, "make_node_ops", return_value=ops)
        else:
            patch = mock.patch.object(ops_mod.faunadb_executor, "make_executor",
                                      return_value=executor)  # fmt: skip
        return run_module_main(faunadb_node, args, capsys, check_mode=check_mode,
                               patches=[patch]).result

    return _run


def test_main_present_then_absent_through_the_real_option_handling(run_main):
    engine = FakeEngine()
    args = dict(executor="docker", container="n1", state="present", spec=SPEC)
    first = run_main(args, FakeExecutor(engine))
    assert (first["changed"], first["actions"]) == (True, ["create"])
    assert run_main(args, FakeExecutor(engine))["changed"] is False
    kept = run_main(dict(executor="docker", container="n1", state="absent", keep_data=True),
                    FakeExecutor(engine))  # fmt: skip
    assert kept["actions"] == ["remove"] and engine.volumes == {"n1-data", "n1-log"}
    gone = run_main(dict(executor="docker", container="n1", state="absent"), FakeExecutor(engine))
    assert gone["actions"] == ["remove_volume n1-data", "remove_volume n1-log"]
    assert engine.volumes == set()


def test_main_started_reloads_systemd_first_when_asked_but_not_in_check_mode(run_main, unit):
    make, _ = unit
    systemctl, ops = make(loaded=False)
    check = run_main(dict(state="started", daemon_reload=True), ops=ops, check_mode=True)
    assert check["failed"] is True and systemctl.changes() == []
    result = run_main(dict(state="started", daemon_reload=True), ops=ops)
    assert result["actions"] == ["enable", "start"]
    assert systemctl.changes()[0] == ["systemctl", "daemon-reload"]


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(state="present", spec=SPEC), "needs executor=docker and spec"),
        (dict(state="present", executor="docker", container="n1"), "needs executor=docker"),
        (dict(state="started", executor="docker", container="n1", spec=SPEC),
         "spec is only used with state=present"),
        (dict(state="present", executor="docker", container="n1", spec=spec(memory="lots")),
         "not a size"),
        (dict(state="present", executor="docker", container="n1", spec=spec(cpus=0.0)),
         "cpus must be more than 0"),
        (dict(state="present", executor="docker", container="n1", spec=spec(ports=["80:80"])),
         "ports"),
        (dict(state="present", executor="docker", container="n1",
              spec=spec(restart_policy="sometimes")), "restart_policy"),
    ],
)  # fmt: skip
def test_main_refuses_a_bad_spec_before_touching_the_node(run_main, args, message):
    engine = FakeEngine().add()
    result = run_main(args, FakeExecutor(engine))
    assert result["failed"] is True and message in result["msg"]
    assert engine.calls == []


def test_make_node_ops_gives_the_spec_and_the_volumes_absent_removes():
    params = dict(executor="docker", container="n1", docker_host="unix:///x.sock", network=None,
                  address=None, faketime_file=None, stop_timeout=None, spec=SPEC,
                  state="present", keep_data=False)  # fmt: skip
    ops = ops_mod.make_node_ops(mock.Mock(params=params))
    assert ops.spec == SPEC and ops.volumes == [] and ops.wanted_spec() == "spec-1"
    params.update(state="absent", spec=None)
    assert ops_mod.make_node_ops(mock.Mock(params=params)).volumes == ["n1-data", "n1-log"]
    params.update(keep_data=True)
    assert ops_mod.make_node_ops(mock.Mock(params=params)).volumes == []
