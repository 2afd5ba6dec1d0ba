"""init + join + update-replica through the modules, against the FaunaDB double, both executors.

Each test walks the same chain: --check on a fresh cluster changes nothing;
a real run forms the cluster and the status facts show it; a second run, and
a second run under --check, report changed=false everywhere.
"""

from __future__ import annotations

import pytest
from faunadb_double.auth import hash_key
from faunadb_double.testing import ADMIN_STARTUP_SECONDS, FLAGS, project_image
from faunadb_playbook_testkit import (
    ALL_DATA_LOG,
    ROOT_KEY,
    remove_containers,
    run_playbook,
    write_inventory,
)

pytestmark = pytest.mark.slow

# What a real node answers before init/join (surface doc, verified item 6).
UNINITIALIZED = "UninitializedException: FaunaDB Service is uninitialized"
ADMIN = "/opt/faunadb/bin/faunadb-admin"
CONFIG = "/etc/faunadb/faunadb.yml"
NETWORK = "fdbmod-net"
SUBNET = "172.30.99.0/24"
IMAGE = project_image()


def assert_formed(run, hosts):
    assert run.rc == 0, run
    info = run.results("Read the node status")
    assert set(info) == set(hosts)
    for host, result in info.items():
        assert result["member"] is True, result
        assert result["replica_types"] == ALL_DATA_LOG
        summary = result["summary"]
        assert summary["nodes_total"] == 3
        assert summary["all_up_and_live"] is True
        assert summary["write_quorum"] is True
        assert summary["data_log_replicas_live"] == sorted(ALL_DATA_LOG)
        assert result["movement"]["settled"] is True
        assert result["node"]["replica"] == hosts[host]["fdb_replica"]
        assert result["node"]["address"] == hosts[host]["fdb_address"]
        assert sorted(n["address"] for n in result["nodes"]) == sorted(
            h["fdb_address"] for h in hosts.values()
        )


def assert_chain(workdir, inventory, hosts, not_member):
    """The four runs, in order; not_member(host) says whether a node is still unformed."""
    check = run_playbook(workdir, inventory, check=True)
    assert check.rc == 0, check
    predicted = {name.split(" ")[0] for name, _ in check.changed_tasks()}
    assert {"Initialise", "Join", "Make"} <= predicted, check.changed_tasks()
    assert all(r["member"] is False for r in check.results("Read the node status").values())
    for host in hosts:
        assert not_member(host), f"--check changed {host}"

    first = run_playbook(workdir, inventory)
    assert_formed(first, hosts)
    changed = set(first.changed_tasks())
    seed, *others = sorted(hosts)
    assert ("Initialise the cluster on the seed", seed) in changed
    for host in others:
        assert ("Join the cluster through the seed", host) in changed
    assert ("Make every replica data+log", seed) in changed

    second = run_playbook(workdir, inventory)
    assert_formed(second, hosts)
    assert second.changed_tasks() == []
    assert all(s["changed"] == 0 for s in second.stats.values())

    again = run_playbook(workdir, inventory, check=True)
    assert again.rc == 0, again
    assert again.changed_tasks() == []


# -- local executor: loopback processes ------------------------------------------------


@pytest.fixture
def loopback(tmp_path):
    testing = pytest.importorskip("faunadb_double.testing", reason="FaunaDB double not available")
    cluster = testing.LoopbackCluster(
        replicas=3, nodes_per_replica=1, root_key=ROOT_KEY, base_dir=str(tmp_path / "cluster"),
        env=testing.FAST_TIMINGS,
    )
    try:
        cluster.start_all()
        yield cluster, testing.ADMIN_BIN
    finally:
        cluster.close()


def test_local_executor(loopback, workdir):
    cluster, admin_bin = loopback
    hosts = {
        f"node{i}": dict(
            fdb_executor="local",
            fdb_admin_path=str(admin_bin),
            fdb_admin_host=node.admin,
            fdb_config_path=node.config_path,
            fdb_replica=node.replica,
            fdb_address=node.address,
            fdb_ping_host=node.address,
        )
        for i, node in enumerate(cluster.nodes, start=1)
    }
    inventory = write_inventory(workdir / "inventory.yml", hosts, {})
    by_host = dict(zip(hosts, cluster.nodes, strict=True))

    def not_member(host):
        proc = cluster.admin(by_host[host], "status", check=False)
        return proc.returncode == 1 and UNINITIALIZED in proc.stdout + proc.stderr

    assert_chain(workdir, inventory, hosts, not_member)


# -- docker executor: containers of the double's image ----------------------------------


@pytest.fixture
def docker_nodes(tmp_path, docker_engine):
    client = docker_engine(
        IMAGE, "build tests/faunadb_double/Dockerfile, or point FAUNADB_DOUBLE_IMAGE at it"
    )
    import docker.types  # noqa: PLC0415 - only when docker is importable

    names = [f"fdbmod-node{i}" for i in (1, 2, 3)]
    remove_containers(client, names, NETWORK)
    client.networks.create(
        NETWORK,
        driver="bridge",
        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=SUBNET)]),
    )
    try:
        for i, name in enumerate(names, start=1):
            address = f"172.30.99.{10 + i}"
            config = tmp_path / f"{name}.yml"
            # What the node role writes: plain scalars, the key's hash only,
            # a flags file; the launcher's environment set.
            config.write_text(
                f"auth_root_key_hash: {hash_key(ROOT_KEY)}\n"
                f"network_broadcast_address: {address}\n"
                "network_admin_http_address: 127.0.0.1\n"
                "flags_path: /etc/faunadb/feature-flags.json\n"
            )
            flags = tmp_path / f"{name}.flags.json"
            flags.write_text(FLAGS)
            for path in (config, flags):
                path.chmod(0o644)
            created = client.api.create_container(
                IMAGE,
                command=["/opt/faunadb/bin/faunadb", "-c", CONFIG],
                name=name,
                labels={"fdbmod": "integration"},
                environment={
                    "JAVA_OPTS": "",
                    "MAX_HEAP_SIZE": "256M",
                    "MAX_DIRECT_SIZE": "128M",
                    "FAUNADB_DOUBLE_ADMIN_STARTUP_SECONDS": ADMIN_STARTUP_SECONDS,
                    "FAUNADB_DOUBLE_MOVEMENT_SECONDS": "1",
                },
                host_config=client.api.create_host_config(
                    binds={
                        str(config): {"bind": CONFIG, "mode": "ro"},
                        str(flags): {"bind": "/etc/faunadb/feature-flags.json", "mode": "ro"},
                    }
                ),
                networking_config=client.api.create_networking_config(
                    {NETWORK: client.api.create_endpoint_config(ipv4_address=address)}
                ),
            )
            client.api.start(created["Id"])
        yield (
            client,
            {
                f"node{i}": dict(
                    fdb_executor="docker",
                    fdb_container=name,
                    fdb_admin_path=ADMIN,
                    fdb_config_path=CONFIG,
                    fdb_replica=f"replica{i}",
                    fdb_address=f"172.30.99.{10 + i}",
                )
                for i, name in enumerate(names, start=1)
            },
        )
    finally:
        remove_containers(client, names, NETWORK)


@pytest.mark.docker
def test_docker_executor(docker_nodes, workdir):
    client, hosts = docker_nodes
    inventory = write_inventory(workdir / "inventory.yml", hosts, {})

    def not_member(host):
        result = client.containers.get(hosts[host]["fdb_container"]).exec_run(
            [ADMIN, "status"],
            environment={"FAUNADB_ROOT_KEY": ROOT_KEY, "FAUNADB_CONFIG": CONFIG},
            demux=True,
        )
        out, err = (part.decode() if part else "" for part in result.output)
        return result.exit_code == 1 and UNINITIALIZED in out + err

    assert_chain(workdir, inventory, hosts, not_member)
