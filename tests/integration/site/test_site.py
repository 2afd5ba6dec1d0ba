"""site.yml end to end on a 3x1 cluster of the FaunaDB double (issue 5).

One module-scoped cluster; the tests run in file order and build on each
other: bad input fails before anything exists, --check on an empty host,
first run, second run changes nothing, --check predicts nothing, heal after
a kill, teardown refuses without confirmation.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from playbook_kit import ansible_playbook, recap

pytestmark = [pytest.mark.docker, pytest.mark.slow]

INVENTORY = Path(__file__).with_name("inventory.yml")
NODES = ["st_replica1_node1", "st_replica2_node1", "st_replica3_node1"]
LB_URL = "http://127.0.0.1:18443"
CONFIRM = "faunadb_teardown_confirm=sitetest"


def playbook(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return ansible_playbook(INVENTORY, *args, check=check)


def containers() -> list[str]:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            "label=org.faunalab.cluster=sitetest",
            "--format",
            "{{.Names}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def ping(scope: str = "write") -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{LB_URL}/ping?scope={scope}", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module", autouse=True)
def clean_cluster():
    playbook("playbooks/teardown.yml", "-e", CONFIRM)
    yield
    playbook("playbooks/teardown.yml", "-e", CONFIRM)


def test_bad_inventory_fails_before_anything_changes():
    proc = playbook(
        "site.yml", "-e", '{"faunadb_replica_types": {"replica1": "compute"}}', check=False
    )
    assert proc.returncode != 0
    assert "faunadb_allow_fewer_data_log_replicas" in proc.stdout
    proc = playbook("site.yml", "-e", "faunadb_deploy_mode=vm", check=False)
    assert proc.returncode != 0
    assert "faunadb_deploy_mode must be one of: container, service" in proc.stdout
    assert containers() == []


def test_check_mode_on_an_empty_host_does_not_fail():
    proc = playbook("site.yml", "--check")
    assert any(h["changed"] > 0 for h in recap(proc.stdout).values()), (
        "check mode predicted no change"
    )
    assert containers() == []


def test_first_run_builds_a_cluster_that_accepts_writes():
    proc = playbook("site.yml")
    assert set(containers()) == set(NODES + ["st_load_balancer"])
    assert ping("write") == (200, {"resource": "Scope write is OK"})
    # verify.yml printed the status table as faunadb-admin shows it
    assert proc.stdout.count("Replica: replica") == 3
    assert "(data+log)" in proc.stdout


def test_second_run_changes_nothing():
    hosts = recap(playbook("site.yml").stdout)
    assert set(hosts) >= set(NODES)
    assert {h: c["changed"] for h, c in hosts.items() if c["changed"]} == {}


def test_check_mode_on_a_converged_cluster_predicts_no_change():
    hosts = recap(playbook("site.yml", "--check").stdout)
    assert {h: c["changed"] for h, c in hosts.items() if c["changed"]} == {}


def test_root_key_stays_secret():
    key = (INVENTORY.parent / ".secrets" / "sitetest.root_key").read_text().strip()
    assert (
        oct((INVENTORY.parent / ".secrets" / "sitetest.root_key").stat().st_mode & 0o777) == "0o600"
    )
    out = playbook("site.yml", "-v").stdout
    assert key not in out
    inspect = subprocess.run(
        ["docker", "inspect", NODES[0]], capture_output=True, text=True, check=True
    ).stdout
    assert key not in inspect
    # Nodes get only the bcrypt hash, in a file the server's group can read
    # and nobody else; the key is not on any command line of the host.
    config = subprocess.run(
        ["docker", "exec", "-u", "0", NODES[0], "sh", "-c",
         "stat -c '%a %u %g' /etc/faunadb/faunadb.yml; cat /etc/faunadb/faunadb.yml"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert config.splitlines()[0] == "640 0 999"
    assert key not in config
    assert re.search(r"^auth_root_key_hash: \$2a\$10\$\S{53}$", config, re.M), config
    assert not re.search(r"^auth_root_key:", config, re.M)
    assert key not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def started_at(name: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.State.StartedAt}}", name],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_config_change_restarts_members_one_at_a_time_without_client_errors():
    before = {node: started_at(node) for node in NODES}
    answers: list[int] = []
    stop = threading.Event()

    def probe():  # bounded: at most 2000 pings, 0.1 s apart
        for _ in range(2000):
            if stop.is_set():
                return
            answers.append(ping("write")[0])
            time.sleep(0.1)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        proc = playbook("site.yml", "-e", "faunadb_node_shutdown_grace_period_seconds=29")
    finally:
        stop.set()
        prober.join(timeout=30)
    after = {node: started_at(node) for node in NODES}
    assert all(after[n] != before[n] for n in NODES), "every node was restarted"
    # One node per batch of the serial play, each restart in its own batch.
    batches = re.findall(r"PLAY \[Update running nodes one at a time\]", proc.stdout)
    assert len(batches) == len(NODES)
    assert len(set(after.values())) == len(NODES)
    first_restart = proc.stdout.index("RUNNING HANDLER [faunadb_node : Restart the container")
    assert first_restart > proc.stdout.index("PLAY [Update running nodes one at a time]")
    assert answers and set(answers) == {200}, f"{answers.count(503)} of {len(answers)} pings failed"


def test_heal_restarts_a_killed_node():
    subprocess.run(["docker", "kill", NODES[1]], check=True, capture_output=True)
    # The other two data+log replicas still commit writes through nginx.
    assert ping("write")[0] == 200
    proc = playbook("playbooks/heal.yml")
    assert recap(proc.stdout)[NODES[1]]["changed"] >= 1
    status = playbook("playbooks/status.yml").stdout
    assert "all_up_and_live: true" in status
    assert ping("write")[0] == 200


def test_heal_on_a_healthy_cluster_changes_nothing():
    hosts = recap(playbook("playbooks/heal.yml").stdout)
    assert {h: c["changed"] for h, c in hosts.items() if c["changed"]} == {}


def test_teardown_refuses_without_confirmation():
    proc = playbook("playbooks/teardown.yml", check=False)
    assert proc.returncode != 0
    assert "faunadb_teardown_confirm=sitetest" in proc.stdout
    assert len(containers()) == 4


def test_load_balancer_terminates_tls_when_asked(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ["-e", "faunadb_lb_tls=true", "-e", f"faunadb_lb_tls_cert={cert}"]
    playbook("playbooks/load_balancer.yml", *tls, "-e", f"faunadb_lb_tls_key={key}")
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    with urllib.request.urlopen(
        "https://127.0.0.1:18443/ping?scope=write", timeout=10, context=context
    ) as resp:
        assert json.loads(resp.read()) == {"resource": "Scope write is OK"}
    # The day-2 playbooks verify through https too.
    for day2 in ("playbooks/status.yml", "playbooks/heal.yml"):
        playbook(day2, *tls, "-e", f"faunadb_lb_tls_key={key}")
    # Back to plain http: the same playbook without TLS restores it.
    playbook("playbooks/load_balancer.yml")
    assert ping("write") == (200, {"resource": "Scope write is OK"})
