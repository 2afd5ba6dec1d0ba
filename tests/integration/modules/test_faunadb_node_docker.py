"""faunadb_node in container mode, through ansible-playbook, against a container of the
FaunaDB double's image created the way roles/faunadb_node/tasks/container.yml creates one
(fixed address on a network of its own, restart policy unless-stopped, libfaketime preloaded
with the role's settings, the skew file root-owned at +0).

Every state runs twice (changed, then not), check mode is shown to predict without acting,
and what each state claims is checked from outside the module: the engine's view, the
node's HTTP Date header, and a second container on the same network.
"""

from __future__ import annotations

import email.utils
import io
import os
import subprocess
import sys
import tarfile
import textwrap
import time

import pytest
import yaml
from faunadb_double.auth import hash_key
from faunadb_double.testing import ADMIN_STARTUP_SECONDS, FLAGS, project_image
from faunadb_playbook_testkit import REPO, VENV_BIN, PlaybookRun, remove_containers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PREFIX = "fdbnode-test-"
NETWORK = f"{PREFIX}net"
NODE = f"{PREFIX}node"
PROBER = f"{PREFIX}prober"
SUBNET = "172.30.77.0/24"
ADDRESS = "172.30.77.11"
PROBER_ADDRESS = "172.30.77.12"
ROOT_KEY = "fdbnode-root-key"
CONFIG = "/etc/faunadb/faunadb.yml"
ADMIN = "/opt/faunadb/bin/faunadb-admin"
SKEW_FILE = "/etc/faunadb/faketime.rc"
IMAGE = project_image()
# What roles/faunadb_node/vars/main.yml (faunadb_node_faketime_env) and
# container.yml (LD_PRELOAD, Debian's path for amd64) give a node.
FAKETIME_ENV = {
    "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "FAKETIME_TIMESTAMP_FILE": SKEW_FILE,
    "FAKETIME_CACHE_DURATION": "1",
    "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    "FAKETIME_FORCE_MONOTONIC_FIX": "0",
}
# GET /ping?scope=node from inside the prober: status line and headers, or rc 7
# when the node cannot be reached (bash's /dev/tcp: nothing else needed).
HTTP_GET = r"""
exec 3<>"/dev/tcp/$1/8443" || exit 7
printf 'GET /ping?scope=node HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
while IFS= read -r -t 3 line <&3; do line=${line%$'\r'}; [ -z "$line" ] && break; echo "$line"; done
"""


# -- the containers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(docker_engine):
    return docker_engine(IMAGE, "make setup builds it")


def _tar(name, text, mode=0o644):
    data = text.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid = len(data), mode, 0, 0
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def cluster(engine, tmp_path_factory):
    import docker  # noqa: PLC0415

    client = engine
    tmp = tmp_path_factory.mktemp("fdbnode")
    remove_containers(client, (NODE, PROBER), NETWORK)
    client.networks.create(
        NETWORK,
        driver="bridge",
        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET)]),
        labels={"fdbnode": "integration"},
    )
    try:
        config = tmp / "faunadb.yml"
        config.write_text(
            f"auth_root_key_hash: {hash_key(ROOT_KEY)}\n"
            f"network_broadcast_address: {ADDRESS}\n"
            "network_admin_http_address: 127.0.0.1\n"
            "flags_path: /etc/faunadb/feature-flags.json\n"
        )
        flags = tmp / "flags.json"
        flags.write_text(FLAGS)
        for path in (config, flags):
            path.chmod(0o644)
        api = client.api
        node = api.create_container(
            IMAGE,
            command=["/opt/faunadb/bin/faunadb", "-c", CONFIG],
            name=NODE,
            hostname=NODE,
            labels={"fdbnode": "integration"},
            environment={
                "JAVA_OPTS": "", "MAX_HEAP_SIZE": "256M", "MAX_DIRECT_SIZE": "128M",
                "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": ADMIN_STARTUP_SECONDS,
                **FAKETIME_ENV,
            },  # fmt: skip
            host_config=api.create_host_config(
                binds={
                    str(config): {"bind": CONFIG, "mode": "ro"},
                    str(flags): {"bind": "/etc/faunadb/feature-flags.json", "mode": "ro"},
                },
                restart_policy={"Name": "unless-stopped"},
                mem_limit="256m",
            ),
            networking_config=api.create_networking_config(
                {NETWORK: api.create_endpoint_config(ipv4_address=ADDRESS)}
            ),
        )
        # Before it starts, as container.yml does: the skew file, root-owned, +0.
        api.put_archive(node["Id"], "/etc/faunadb", _tar("faketime.rc", "+0\n"))
        api.start(node["Id"])
        prober = api.create_container(
            IMAGE,
            command=["sleep", "3600"],
            name=PROBER,
            labels={"fdbnode": "integration"},
            networking_config=api.create_networking_config(
                {NETWORK: api.create_endpoint_config(ipv4_address=PROBER_ADDRESS)}
            ),
        )
        api.start(prober["Id"])
        _init(client)
        yield client, tmp
    finally:
        remove_containers(client, (NODE, PROBER), NETWORK)


def _init(client):
    """init the node, so that its API (8443) listens: it binds only after init or join."""
    container = client.containers.get(NODE)
    env = {"FAUNADB_ROOT_KEY": ROOT_KEY, "FAUNADB_CONFIG": CONFIG}
    deadline = time.monotonic() + 30
    while True:
        result = container.exec_run([ADMIN, "init", "-r", "replica1"], environment=env)
        if result.exit_code == 0:
            break
        assert time.monotonic() < deadline, result.output.decode()
        time.sleep(0.3)
    assert wait_for(lambda: probe_http()[0] == "ok", 30), probe_http()


# -- looking from outside the module ----------------------------------------------------


def wait_for(condition, seconds, interval=0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


_CLIENT = {}


def docker_client():
    if "c" not in _CLIENT:
        import docker  # noqa: PLC0415

        _CLIENT["c"] = docker.from_env()
    return _CLIENT["c"]


def inspect(name=NODE):
    return docker_client().api.inspect_container(name)


def probe_http():
    """('ok', skew seconds from the Date header) or ('unreachable', output), from the prober."""
    result = docker_client().containers.get(PROBER).exec_run(
        ["timeout", "4", "bash", "-c", HTTP_GET, "get", ADDRESS]
    )
    out = result.output.decode(errors="replace")
    dates = [line.split(":", 1)[1] for line in out.splitlines() if line.startswith("Date:")]
    if result.exit_code != 0 or not dates:
        return "unreachable", out
    served = email.utils.parsedate_to_datetime(dates[0].strip()).timestamp()
    return "ok", served - time.time()


def skew_of_node(expected, seconds=8):
    """Wait until the node's clock is `expected` s off (libfaketime re-reads once a second)."""
    last = []

    def close():
        state, offset = probe_http()
        last[:] = [state, offset]
        return state == "ok" and abs(offset - expected) < 3

    assert wait_for(close, seconds, 0.5), last
    return last[1]


def skew_file_text():
    stream, _ = docker_client().api.get_archive(NODE, SKEW_FILE)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.getmembers()[0]
        owner = (member.uid, member.gid, member.mode & 0o7777)
        return tar.extractfile(member).read().decode(), owner


def endpoint():
    return (inspect()["NetworkSettings"]["Networks"] or {}).get(NETWORK)


# -- running the module -----------------------------------------------------------------


def run_steps(workdir, *steps):
    """One ansible-playbook run, one faunadb_node task per step; results in order.

    A step is a state, or a dict with state and optionally offset and check (check mode).
    """
    tasks = []
    for i, given in enumerate(steps, start=1):
        step = {"state": given} if isinstance(given, str) else dict(given)
        check = step.pop("check", False)
        tasks.append({
            "name": f"{i:02d} {step['state']}{' (check)' if check else ''}",
            "faunadb_node": {
                "executor": "docker", "container": NODE, "network": NETWORK,
                "address": ADDRESS, "stop_timeout": 10, **step,
            },
            "check_mode": check,
            "diff": True,
        })  # fmt: skip
    playbook = workdir / "node.yml"
    playbook.write_text(
        yaml.safe_dump([{"name": "faunadb_node", "hosts": "node", "gather_facts": False,
                         "tasks": tasks}], sort_keys=False)  # fmt: skip
    )
    inventory = workdir / "inventory.yml"
    inventory.write_text(textwrap.dedent(f"""\
        all:
          hosts:
            node:
              ansible_connection: local
              ansible_python_interpreter: {sys.executable}
        """))  # fmt: skip
    env = {
        **os.environ,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
        "ANSIBLE_FORCE_COLOR": "0",
    }
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    run = PlaybookRun(proc)
    assert run.rc == 0, run
    return [task["hosts"]["node"] for task in run.data["plays"][0]["tasks"]]


def changes(results):
    return [r["changed"] for r in results]


# -- the tests, in order (one node, each test starts where the last one left it) ------------


def test_killed_stays_down_despite_the_restart_policy(cluster):
    client, tmp = cluster
    assert inspect()["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    kill, again, start_check = run_steps(tmp, "killed", "killed", {"state": "started",
                                                                   "check": True})
    assert changes([kill, again, start_check]) == [True, False, True]
    assert kill["commands"] == [f"docker kill --signal SIGKILL {NODE}"]
    assert (kill["running"], kill["exit_code"], again["commands"]) == (False, 137, [])
    assert kill["diff"] == {
        "before": {"running": True, "paused": False, "skew": 0, "cut_off": False},
        "after": {"running": False, "paused": False, "skew": 0, "cut_off": False},
    }
    assert start_check["actions"] == ["start"] and start_check["commands"] == []
    # docker kill counts as a manual stop: unless-stopped does not restart it.
    time.sleep(3)
    state = inspect()
    assert (state["State"]["Status"], state["State"]["ExitCode"], state["RestartCount"]) == (
        "exited", 137, 0)  # fmt: skip
    assert probe_http()[0] == "unreachable"


def test_started_stopped_started_paused(cluster):
    _, tmp = cluster
    results = run_steps(
        tmp, "started", "started", "stopped", "stopped", "started", "paused", "paused",
        {"state": "resumed", "check": True},
    )  # fmt: skip
    assert changes(results) == [True, False, True, False, True, True, False, True]
    started, _, stopped, _, _, paused, _, resume_check = results
    assert started["running"] is True and started["pid"]
    assert stopped["running"] is False and stopped["commands"] == [
        f"docker stop --time 10 {NODE}"
    ]
    assert paused["paused"] is True and resume_check["actions"] == ["resume"]
    assert inspect()["State"]["Paused"] is True  # check mode resumed nothing
    assert probe_http()[0] == "unreachable"


def test_resumed_then_skewed(cluster):
    _, tmp = cluster
    results = run_steps(
        tmp, "resumed", "resumed", {"state": "skewed", "offset": "+300s"},
        {"state": "skewed", "offset": "+300s"}, {"state": "unskewed", "check": True},
    )  # fmt: skip
    assert changes(results) == [True, False, True, False, True]
    resumed, _, skewed, _, unskew_check = results
    assert resumed["paused"] is False and inspect()["State"]["Paused"] is False
    assert skewed["skew"] == 300 and skewed["clock_hook"] == {"preloaded": True, "file": SKEW_FILE}
    assert skewed["diff"]["before"]["skew"] == 0 and skewed["diff"]["after"]["skew"] == 300
    assert unskew_check["actions"] == ["skew +0"]
    # The node's own clock, as its HTTP Date header shows it, is 300 s ahead.
    skew_of_node(300)
    assert skew_file_text() == ("+300\n", (0, 0, 0o644))


def test_cut_off_then_restored_with_the_same_address(cluster):
    _, tmp = cluster
    before = endpoint()
    assert before["IPAddress"] == ADDRESS
    cut, cut_again, restore_check = run_steps(
        tmp, "cut_off", "cut_off", {"state": "restored", "check": True}
    )
    assert changes([cut, cut_again, restore_check]) == [True, False, True]
    assert (cut["cut_off"], cut["networks"], cut["address"]) == (True, [], None)
    assert cut["running"] is True
    assert endpoint() is None  # check mode reconnected nothing
    assert probe_http()[0] == "unreachable"

    restored, again = run_steps(tmp, "restored", "restored")
    assert changes([restored, again]) == [True, False]
    assert restored["commands"] == [f"docker network connect --ip {ADDRESS} {NETWORK} {NODE}"]
    after = endpoint()
    assert (after["IPAddress"], after["MacAddress"]) == (before["IPAddress"], before["MacAddress"])
    assert after["IPAMConfig"] == before["IPAMConfig"]
    assert sorted(after["Aliases"] or []) == sorted(before["Aliases"] or [])
    # Reachable again, and still skewed: cut_off and restored touch nothing else.
    skew_of_node(300)


def test_healed_from_every_fault_at_once(cluster):
    _, tmp = cluster
    results = run_steps(
        tmp,
        {"state": "skewed", "offset": "-30s"}, "cut_off", "paused",
        {"state": "healed", "check": True}, "healed", "healed",
        "paused", "killed", "cut_off", {"state": "skewed", "offset": "+60s"},
        "healed", "healed",
    )  # fmt: skip
    assert changes(results) == [True] * 5 + [False] + [True] * 5 + [False]
    check, healed = results[3], results[4]
    assert check["actions"] == healed["actions"] == ["resume", "restore", "skew +0"]
    assert check["diff"]["before"] == {"running": True, "paused": True, "skew": -30,
                                       "cut_off": True}  # fmt: skip
    assert healed["diff"]["after"] == {"running": True, "paused": False, "skew": 0,
                                       "cut_off": False}  # fmt: skip
    # A frozen node is killed like any other.
    assert (results[7]["running"], results[7]["paused"], results[7]["exit_code"]) == (
        False, False, 137)  # fmt: skip
    assert results[10]["actions"] == ["restore", "skew +0", "start"]
    assert results[10]["diff"]["after"] == healed["diff"]["after"]
    assert endpoint()["IPAddress"] == ADDRESS
    skew_of_node(0, seconds=15)
    assert skew_file_text()[0] == "+0\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="killing the node's process from the host")
def test_a_crash_is_restarted_unlike_a_kill(cluster):
    """The contrast: the same SIGKILL sent to the process (not through the engine) is a crash,
    and the restart policy brings the container back. (Only on a local engine.)"""
    _, tmp = cluster
    state = inspect()["State"]
    if not os.path.exists(f"/proc/{state['Pid']}"):
        pytest.skip("the engine's processes are not on this host")
    os.kill(state["Pid"], 9)
    assert wait_for(lambda: inspect()["RestartCount"] == 1, 10), inspect()["State"]
    assert wait_for(lambda: inspect()["State"]["Running"], 10)
    (probe,) = run_steps(tmp, "probe")
    assert probe["changed"] is False and probe["restart_count"] == 1
    assert probe["running"] is True or probe["restarting"] is True
    assert wait_for(lambda: probe_http()[0] == "ok", 30)
