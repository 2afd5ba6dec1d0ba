"""Checks, during a chaos fault, that the fault really took effect and that the rest serves.

Run by roles/chaos/tasks/testinfra.yml on the controller:

    CHAOS_CHECKS=<run dir>/testinfra-<phase>.json \\
        python -m pytest -p no:cacheprovider -q roles/chaos/files/testinfra --junitxml=<...>.xml

CHAOS_CHECKS names a JSON file (written by the role, no secrets in it):

    {
      "phase": "fault",                        # name of the phase, for people
      "url": "http://127.0.0.1:18744",         # the load balancer, as the controller reaches it
      "ansible_inventory": ["inventory/x.yml"],  # str or list: inventory sources, for the
                                               # service-mode hosts (testinfra ansible://NAME)
      "targets": [                             # nodes the fault is on, one test each
        {
          "name": "replica2_node1",            # inventory name (the test id)
          "mode": "container",                 # container | service
          "container": "replica2_node1",       # container mode: the container's name
          "docker_host": "unix:///var/run/docker.sock",   # container mode: its engine
          "network": "faunadb",                # container mode: the project network
          "address": "172.28.0.21",            # the node's IP (its API listens on it)
          "expect": "down",                    # down | paused | cut_off | skewed
          "offset_seconds": 300,               # skewed: the offset asked for, in seconds
          "service": "faunadb"                 # optional, service mode: the systemd unit
        }
      ],
      "survivors": [                           # nodes that must still serve, one test each
        {"name": "replica1_node1", "mode": "container", "container": "replica1_node1",
         "docker_host": "unix:///var/run/docker.sock", "address": "172.28.0.11"}
      ],
      "api_scheme": "http",                    # optional: how nodes are asked (default http)
      "api_port": 8443                         # optional: the nodes' API port (default 8443)
    }

Tests (JUnit ids: test_target[NAME], test_survivor[NAME], test_load_balancer):

- down: container exists, not running and not restarting (Docker API); service mode: the
  unit is not running (testinfra, ansible://NAME with sudo).
- paused: the container's State.Paused; service mode: every process of the unit's cgroup is
  stopped by a signal (ps STAT T, through testinfra's process module).
- cut_off: container not attached to the network and a TCP connect from the controller to
  address:port fails within 2 s; service mode: tagged iptables rules ("faunadb_node cut_off")
  in INPUT and OUTPUT.
- skewed: GET address:port/ping?scope=node from the controller; with a Date header,
  |Date - now - offset| <= 3 s (property date_header=present), asked again for up to 4 s
  while libfaketime's cache still holds the old clock. Without one, or when the node
  cannot be reached from here (a remote engine), skipped with the reason: the role's
  faunadb_node probe has already checked that the timestamp file holds the offset.
- survivors: GET address:port/ping?scope=node answers 200 (container mode on a local engine
  only, otherwise skipped: container addresses of a remote engine are not routed here).
- load balancer: GET url/ping?scope=node answers 200 within 5 s (the LB and one node answer;
  write availability is the workload's to measure).

Nothing here relies on anything inside the FaunaDB image (no shell, no curl, no python).
"""

from __future__ import annotations

import email.utils
import socket
import time

import pytest
from project import module_util

DATE_TOLERANCE_SECONDS = 3
# libfaketime re-reads its timestamp file once its cache (FAKETIME_CACHE_DURATION, 1 s
# in roles/faunadb_node) has expired, counted in whole seconds: a node may answer with
# the old clock for up to ~2 s after the file changed, so it is asked again until then.
SKEW_SETTLE_SECONDS = 4
HTTP_TIMEOUT_SECONDS = 5
CONNECT_TIMEOUT_SECONDS = 2
RULE_COMMENT = "faunadb_node cut_off"
EXPECTS = ("down", "paused", "cut_off", "skewed")

# -- Pure helpers (tests/unit/chaos/test_testinfra_helpers.py) -------------------------------

_LOCAL_TCP = ("127.0.0.1", "localhost", "[::1]")


def parse_http_date(value):
    """Epoch seconds of an HTTP Date header (RFC 9110 IMF-fixdate, or the obsolete forms
    email.utils reads), or None when it is missing or not a date."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed.timestamp()


def skew_error(date_epoch, sent, received, offset):
    """How far the node's Date is from the expected skewed time, in seconds (signed).

    The request's midpoint stands for the moment the node stamped the answer."""
    return date_epoch - ((sent + received) / 2.0) - offset


def engine_is_local(docker_host):
    """Whether the engine runs on this machine, so that container addresses are routed here."""
    value = (docker_host or "").strip()
    if not value or value.startswith(("unix://", "npipe://")):
        return True
    if value.startswith("tcp://"):
        return value[len("tcp://") :].rsplit(":", 1)[0] in _LOCAL_TCP
    return False


def tagged_rules(lines):
    """The `iptables -S` lines carrying faunadb_node's cut-off comment."""
    return [line for line in lines if RULE_COMMENT in line]


# -- Talking to things ------------------------------------------------------------------------


def http_get(url, timeout=HTTP_TIMEOUT_SECONDS):
    """(status, headers, sent, received) of a GET (faunadb_ping's, as faunadb_status asks);
    status None with the error as headers. Any certificate: the cluster's own self-signed."""
    status, headers, _, sent, received = module_util("faunadb_ping").get(
        url, timeout, validate_certs=False)
    return status, headers, sent, received


def tcp_connects(address, port, timeout=CONNECT_TIMEOUT_SECONDS):
    """None when a TCP connection is refused or times out, else the seconds it took."""
    start = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return time.monotonic() - start
    except OSError:
        return None


def node_url(checks, node):
    scheme = checks.get("api_scheme", "http")
    return f"{scheme}://{node['address']}:{checks.get('api_port', 8443)}/ping?scope=node"


def _container(docker_clients, node):
    import docker.errors  # noqa: PLC0415 - the venv has it; only container mode needs it

    client = docker_clients(node.get("docker_host"))
    try:
        return client.containers.get(node["container"])
    except docker.errors.NotFound:
        pytest.fail(f"container {node['container']} does not exist on {node.get('docker_host')}")


def _service_pids(host, unit):
    control_group = host.check_output(f"systemctl show -p ControlGroup --value {unit}").strip()
    for path in (
        f"/sys/fs/cgroup{control_group}/cgroup.procs",
        f"/sys/fs/cgroup/unified{control_group}/cgroup.procs",
        f"/sys/fs/cgroup/systemd{control_group}/cgroup.procs",
    ):
        if control_group and host.file(path).exists:
            pids = [int(p) for p in host.file(path).content_string.split() if p.isdigit()]
            if pids:
                return pids
    main_pid = host.check_output(f"systemctl show -p MainPID --value {unit}").strip()
    return [int(main_pid)] if main_pid.isdigit() and int(main_pid) > 0 else []


# -- The checks ---------------------------------------------------------------------------------


def check_down(node, docker_clients, hosts):
    if node["mode"] == "container":
        state = _container(docker_clients, node).attrs["State"]
        assert not state.get("Running") and not state.get("Restarting"), (
            f"{node['name']} is not down: status {state.get('Status')}, running "
            f"{state.get('Running')}, restarting {state.get('Restarting')}"
        )
    else:
        service = hosts(node["name"]).service(node.get("service", "faunadb"))
        assert not service.is_running, f"{node['name']}: unit {service.name} still runs"


def check_paused(node, docker_clients, hosts):
    if node["mode"] == "container":
        state = _container(docker_clients, node).attrs["State"]
        assert state.get("Paused"), f"{node['name']} is not paused: status {state.get('Status')}"
        return
    host = hosts(node["name"])
    pids = _service_pids(host, node.get("service", "faunadb"))
    assert pids, f"{node['name']}: the unit has no process to be paused"
    # testinfra's process module reads ps: STAT starts with T for a process stopped by a signal.
    states = {pid: host.process.get(pid=pid).stat for pid in pids}
    running = {pid: s for pid, s in states.items() if not s.startswith("T")}
    assert not running, f"{node['name']}: processes not stopped (state T): {running}"


def check_cut_off(node, checks, docker_clients, hosts):
    port = int(checks.get("api_port", 8443))
    if node["mode"] == "container":
        attached = _container(docker_clients, node).attrs["NetworkSettings"]["Networks"] or {}
        assert node["network"] not in attached, (
            f"{node['name']} is still attached to {node['network']} (networks: {sorted(attached)})"
        )
        took = tcp_connects(node["address"], port)
        assert took is None, (
            f"{node['name']}: {node['address']}:{port} still accepts TCP ({took:.2f} s)"
        )
        return
    host = hosts(node["name"])
    for chain in ("INPUT", "OUTPUT"):
        found = tagged_rules(host.iptables.rules("filter", chain))
        assert found, f"{node['name']}: no '{RULE_COMMENT}' rule in iptables {chain}"


def check_skewed(node, checks, docker_clients, hosts, record_property):
    offset = int(node["offset_seconds"])
    reachable = node["mode"] == "service" or engine_is_local(node.get("docker_host"))
    if reachable:
        deadline = time.monotonic() + SKEW_SETTLE_SECONDS
        while True:
            status, headers, sent, received = http_get(node_url(checks, node))
            assert status is not None, f"{node['name']}: {node_url(checks, node)} failed: {headers}"
            raw = headers.get("Date")
            date = parse_http_date(raw)
            error = None if date is None else skew_error(date, sent, received, offset)
            settled = error is None or abs(error) <= DATE_TOLERANCE_SECONDS
            if settled or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if error is not None:
            record_property("date_header", "present")
            record_property("skew_seen_seconds", round(error + offset, 1))
            assert abs(error) <= DATE_TOLERANCE_SECONDS, (
                f"{node['name']}: Date {raw!r} is {error + offset:+.1f} s from now, "
                f"expected {offset:+d} s (tolerance {DATE_TOLERANCE_SECONDS} s)"
            )
            return
        record_property("date_header", "absent" if raw is None else f"unreadable: {raw}")
        reason = f"{node['name']} sends no readable Date header ({raw!r})"
    else:
        reason = f"engine {node.get('docker_host')} is not local: {node['name']} is not routed here"
    # faunadb_node's probe has already read the timestamp file: nothing else to see from here.
    pytest.skip(f"{reason}; the clock itself cannot be checked, only the timestamp file")


def test_target(target, checks, docker_clients, hosts, record_property):
    expect = target.get("expect")
    record_property("expect", expect)
    record_property("mode", target.get("mode"))
    assert expect in EXPECTS, f"{target['name']}: expect is {expect!r}, one of {EXPECTS}"
    if expect == "down":
        check_down(target, docker_clients, hosts)
    elif expect == "paused":
        check_paused(target, docker_clients, hosts)
    elif expect == "cut_off":
        check_cut_off(target, checks, docker_clients, hosts)
    else:
        check_skewed(target, checks, docker_clients, hosts, record_property)


def test_survivor(survivor, checks):
    if survivor.get("mode") == "container" and not engine_is_local(survivor.get("docker_host")):
        pytest.skip(
            f"engine {survivor.get('docker_host')} is not local: container addresses "
            "are not routed from the controller"
        )
    url = node_url(checks, survivor)
    status, detail, sent, received = http_get(url)
    assert status == 200, (
        f"{survivor['name']}: {url} answered {status} ({detail}) after {received - sent:.1f} s"
    )


def test_load_balancer(checks, record_property):
    url = f"{checks['url'].rstrip('/')}/ping?scope=node"
    status, detail, sent, received = http_get(url)
    record_property("seconds", round(received - sent, 2))
    assert status == 200, f"{url} answered {status} ({detail}) after {received - sent:.1f} s"
    assert received - sent <= HTTP_TIMEOUT_SECONDS, f"{url} took {received - sent:.1f} s"
