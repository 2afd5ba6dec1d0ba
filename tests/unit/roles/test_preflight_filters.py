"""The inventory checks' rules (plugins/filter/faunadb_preflight.py): one
failing and one passing input per rule, and the message naming the host, the
variable, its value and what is allowed. The same messages are matched
through the playbook in tests/integration/preflight/test_bad_inventory.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "plugins" / "filter" / "faunadb_preflight.py"
_spec = importlib.util.spec_from_file_location("faunadb_preflight_filters", _PATH)
pf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pf)

SUBNET = "172.28.0.0/24"
RESERVED = "other than 172.28.0.0, 172.28.0.255, 172.28.0.1."


def node(host="n1", **overrides):
    """One node's variables as validate.yml gathers them (role defaults included)."""
    values = {
        "inventory_hostname": host,
        "faunadb_cluster_name": "fauna",
        "faunadb_deploy_mode": "container",
        "faunadb_replica": "r1",
        "faunadb_address": "172.28.0.11",
        "faunadb_network_subnet": SUBNET,
        "faunadb_container": host,
        "faunadb_network": "faunadb",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def test_filters_are_registered_under_their_names():
    filters = pf.FilterModule().filters()
    assert len(filters) == 19
    assert all(name == f.__name__ for name, f in filters.items())


@pytest.mark.parametrize("name", ["fauna", "a", "my.cluster-1_x"])
def test_cluster_name_passes(name):
    assert pf.faunadb_check_cluster_name([node(faunadb_cluster_name=name)]) == []


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("bad name/../../x", '"bad name/../../x"'),
        ("fauna\n", '"fauna\\n"'),
        ("a..b", '"a..b"'),
        ("-x", '"-x"'),
        (12, "12"),
    ],
)
def test_cluster_name_fails(name, shown):
    (msg,) = pf.faunadb_check_cluster_name([node(faunadb_cluster_name=name), node("n2")])
    assert msg == (
        f"n1: faunadb_cluster_name is {shown}; it must start with a letter or digit and hold"
        " only letters, digits, '_', '.' and '-' (no '/', no '..', no spaces)."
    )


def test_deploy_mode():
    nodes = [node(), node("n2", faunadb_deploy_mode="service")]
    nodes.append(node("n3", faunadb_deploy_mode="vm"))
    assert pf.faunadb_check_deploy_mode(nodes) == [
        'n3: faunadb_deploy_mode is "vm"; faunadb_deploy_mode must be one of: container, service.'
    ]
    assert pf.faunadb_check_deploy_mode(nodes[:2]) == []


def test_replica_lists_every_node_that_breaks_it():
    nodes = [
        node(faunadb_replica="_r1"),
        node("n2", faunadb_replica=None),
        node("n3", faunadb_replica="dc1/rack-2"),
        node("n4", faunadb_replica="a/b/c"),
        node("n5", faunadb_replica="ré1"),
    ]
    failures = pf.faunadb_check_replica(nodes)
    assert [m.split(";")[0] for m in failures] == [
        'n1: faunadb_replica is "_r1"',
        "n2: faunadb_replica is unset",
        'n4: faunadb_replica is "a/b/c"',
    ]
    assert failures[0].endswith(
        "; it must be set to a replica name: letters, digits, '_' or '-', not starting with"
        " '_' or '-', optionally two such parts joined by one '/'."
    )


def test_address():
    nodes = [
        node(),
        node("n2", faunadb_address="fd00::2"),
        node("n3", faunadb_address="172.28.0.300"),
        node("n4", faunadb_address=None),
        node("n5", faunadb_address=5),
    ]
    assert pf.faunadb_check_address(nodes) == [
        'n3: faunadb_address is "172.28.0.300"; it must be set to an IP address.',
        "n4: faunadb_address is unset; it must be set to an IP address.",
        "n5: faunadb_address is 5; it must be set to an IP address.",
    ]


@pytest.mark.parametrize("subnet", [SUBNET, "172.28.0.10/31", "fd00::/64", "10.0.0.0/255.0.0.0"])
def test_network_subnet_passes(subnet):
    assert pf.faunadb_check_network_subnet([node(faunadb_network_subnet=subnet)]) == []


@pytest.mark.parametrize(
    "subnet", ["172.28.0.5/24", "172.28.0.0", "172.28.0.1/32", "banana", "172.028.0.0/24", 12]
)
def test_network_subnet_fails_and_service_nodes_are_left_alone(subnet):
    nodes = [node(faunadb_network_subnet=subnet), node("n2", faunadb_deploy_mode="service",
                                                       faunadb_network_subnet=subnet)]  # fmt: skip
    (msg,) = pf.faunadb_check_network_subnet(nodes)
    assert msg.startswith(f"n1: faunadb_network_subnet is {pf.to_json(subnet)}; it must be")
    assert msg.endswith("in CIDR form with no host bits set, e.g. 172.28.0.0/24.")


# The rules on container-mode nodes: every failing node is named, service-mode nodes are left out.
@pytest.mark.parametrize(
    ("check", "variable", "bad", "first"),
    [
        (
            pf.faunadb_check_address_in_subnet,
            "faunadb_address",
            ["10.0.0.5", "172.28.0.1", "172.28.0.255"],
            'n2: faunadb_address is "10.0.0.5"; in container mode it must be an address inside'
            f" faunadb_network_subnet 172.28.0.0/24 {RESERVED}",
        ),
        (
            pf.faunadb_check_container,
            "faunadb_container",
            ["node/2", "n@1", "x"],
            'n2: faunadb_container (the inventory hostname unless set) is "node/2"; Docker'
            " allows at least 2 characters, a letter or digit first, then letters, digits, '_',"
            " '.' or '-'.",
        ),
    ],
)
def test_container_mode_rule_names_each_failing_node(check, variable, bad, first):
    nodes = [node(), *(node(f"n{i}", **{variable: value}) for i, value in enumerate(bad, 2))]
    service = node("s1", faunadb_deploy_mode="service", **{variable: bad[0]})
    failures = check([*nodes, service])
    assert failures[0] == first
    assert [m.split(":")[0] for m in failures] == [f"n{i}" for i in range(2, len(bad) + 2)]
    assert check([nodes[0], service]) == []


@pytest.mark.parametrize(
    ("subnet", "address", "reserved"),
    [
        ("172.28.0.10/31", "172.28.0.11", "172.28.0.10, 172.28.0.11"),
        ("fd00::/64", "fd00::", "fd00::, fd00::ffff:ffff:ffff:ffff, fd00::1"),
    ],
)
def test_small_and_v6_subnets_keep_what_docker_keeps(subnet, address, reserved):
    nodes = [node(faunadb_network_subnet=subnet, faunadb_address=address)]
    (msg,) = pf.faunadb_check_address_in_subnet(nodes)
    assert msg.endswith(f"faunadb_network_subnet {subnet} other than {reserved}.")


def test_network():
    nodes = [node(faunadb_network="my net"), node("n2", faunadb_network="ok_net.1")]
    assert pf.faunadb_check_network(nodes) == [
        'n1: faunadb_network is "my net"; it must be at least 2 characters, a letter or digit'
        " first, then letters, digits, '_', '.' or '-'."
    ]
    assert pf.faunadb_check_network(nodes[1:]) == []


def test_lb_address():
    hostvars = {
        "lb1": {"faunadb_lb_address": "172.28.0.2"},
        "lb2": {},
        "lb3": {"faunadb_lb_address": None},
        "lb4": {"faunadb_lb_address": "172.29.0.2"},
        "lb5": {"faunadb_lb_address": "172.28.0.1"},
        "lb6": {"faunadb_lb_address": "fd00::2"},
    }
    failures = pf.faunadb_check_lb_address(list(hostvars), hostvars, SUBNET)
    assert failures[0] == (
        "lb2: faunadb_lb_address is unset; it must be set to an IP address inside"
        f" faunadb_network_subnet 172.28.0.0/24 {RESERVED}"
    )
    assert [m.split(";")[0] for m in failures[1:]] == [
        "lb3: faunadb_lb_address is null",
        'lb4: faunadb_lb_address is "172.29.0.2"',
        'lb5: faunadb_lb_address is "172.28.0.1"',
        'lb6: faunadb_lb_address is "fd00::2"',
    ]
    assert pf.faunadb_check_lb_address(["lb1"], hostvars, SUBNET) == []
    assert pf.faunadb_check_lb_address([], {}, SUBNET) == []


def test_lb_address_in_a_subnet_with_host_bits_set():
    # The subnet is the host's own, maybe unchecked (service-mode nodes).
    hostvars = {"lb1": {"faunadb_lb_address": "172.28.0.2"}}
    (msg,) = pf.faunadb_check_lb_address(["lb1"], hostvars, "172.28.0.5/24")
    assert msg.endswith(f"faunadb_network_subnet 172.28.0.5/24 {RESERVED}")
    (msg,) = pf.faunadb_check_lb_address(["lb1"], hostvars, "banana")
    assert msg.endswith("faunadb_network_subnet banana other than .")


def test_lb_container_name_defaults_to_the_hostname():
    hostvars = {"lb1": {}, "lb@2": {}, "lb3": {"faunadb_lb_container_name": "lb 3"}}
    assert pf.faunadb_check_lb_container_name(list(hostvars), hostvars) == [
        'lb@2: faunadb_lb_container_name (the inventory hostname unless set) is "lb@2"; Docker'
        " allows at least 2 characters, a letter or digit first, then letters, digits, '_', '.'"
        " or '-'.",
        'lb3: faunadb_lb_container_name (the inventory hostname unless set) is "lb 3"; Docker'
        " allows at least 2 characters, a letter or digit first, then letters, digits, '_', '.'"
        " or '-'.",
    ]
    assert pf.faunadb_check_lb_container_name(["lb1"], hostvars) == []


def test_unique_addresses():
    owners = [["n1", "172.28.0.11"], ["n2", "172.28.0.12"], ["n3", "172.28.0.13"]]
    assert pf.faunadb_check_unique_addresses(owners + [["lb1", "172.28.0.2"]]) == []
    assert pf.faunadb_check_unique_addresses(owners + [["lb1", "172.28.0.13"], ["n4", "x"]]) == [
        "faunadb_address (nodes) and faunadb_lb_address (load balancers) must differ from host to"
        " host; shared: n3 = 172.28.0.13, lb1 = 172.28.0.13."
    ]


def test_replica_type_keys():
    replicas = ["r1", "r2", "r3"]
    assert pf.faunadb_check_replica_type_keys({"r1": "compute"}, replicas, "n1") == []
    assert pf.faunadb_check_replica_type_keys({}, replicas, "n1") == []
    assert pf.faunadb_check_replica_type_keys({"r9": "compute", "r1": "data", 7: "x"},
                                              replicas, "n1") == [  # fmt: skip
        'n1: faunadb_replica_types is {"r9": "compute", "r1": "data", "7": "x"}; it must be a'
        " mapping whose keys are replicas that have nodes (r1, r2, r3); unknown: r9, 7."
    ]
    (msg,) = pf.faunadb_check_replica_type_keys(["r1"], replicas, "n1")
    assert msg.startswith('n1: faunadb_replica_types is ["r1"]; it must be a mapping')
    assert msg.endswith("(r1, r2, r3); unknown: -.")


def test_replica_types():
    wanted = {"r1": "data+log", "r2": "compute", "r3": "data"}
    assert pf.faunadb_check_replica_types(wanted, {"r2": "compute", "r3": "data"}, "data+log",
                                          "n1") == []  # fmt: skip
    assert pf.faunadb_check_replica_types({**wanted, "r1": "witness"}, {"r1": "witness"},
                                          "data+log", "n1") == [  # fmt: skip
        'n1: faunadb_replica_types is {"r1": "witness"} and faunadb_default_replica_type'
        ' "data+log"; every type must be one of: compute, data, data+log.'
    ]
    (msg,) = pf.faunadb_check_replica_types({"r1": "log"}, {}, "log", "n1")
    assert 'faunadb_default_replica_type "log"' in msg


def test_data_log_replica():
    assert pf.faunadb_check_data_log_replica({"r1": "data+log"}, {}, "data+log", "n1") == []
    assert pf.faunadb_check_data_log_replica({"r1": "compute"}, {}, "compute", "n1") == [
        "n1: no replica is data+log (faunadb_replica_types {}, faunadb_default_replica_type"
        ' "compute"); at least one must be.'
    ]


def test_data_log_replicas_need_three_unless_allowed():
    wanted = {"r1": "data+log", "r2": "data+log", "r3": "compute"}
    args = ({"r3": "compute"}, "data+log")
    assert pf.faunadb_check_data_log_replicas(wanted, *args, False, "n1") == [
        'n1: only 2 replica(s) are data+log (r1, r2; faunadb_replica_types {"r3": "compute"},'
        ' faunadb_default_replica_type "data+log"); at least 3 are needed for writes to survive'
        " losing one. Set faunadb_allow_fewer_data_log_replicas=true to allow fewer."
    ]
    assert pf.faunadb_check_data_log_replicas(wanted, *args, True, "n1") == []
    three = {**wanted, "r3": "data+log"}
    assert pf.faunadb_check_data_log_replicas(three, {}, "data+log", False, "n1") == []


def test_node_config_keys():
    known = ["storage_transaction_log_nodes", "network_listen_address"]
    assert pf.faunadb_node_check_config_keys({"network_listen_address": "x"}, known, "n1") == []
    assert pf.faunadb_node_check_config_keys({"bogus": 1, "network_listen_address": "x"},
                                             known, "n1") == [  # fmt: skip
        "n1: faunadb_node_config holds keys FaunaDB does not know (it refuses to start on them):"
        " ['bogus']. Allowed: the release's keys (roles/faunadb_node/vars/main.yml,"
        " faunadb_node_known_keys)."
    ]


def test_node_managed_keys():
    managed = ["cluster_name", "auth_root_key_hash"]
    assert pf.faunadb_node_check_managed_keys({"other": 1}, managed, "n1") == []
    (msg,) = pf.faunadb_node_check_managed_keys({"cluster_name": "x", "other": 1}, managed, "n1")
    assert msg.startswith("n1: faunadb_node_config must not set ['cluster_name']; the role writes")
    assert msg.endswith("faunadb_node_shutdown_grace_period_seconds).")


def test_node_paths():
    paths = {
        "faunadb_node_data_path": "/var/lib/faunadb",
        "faunadb_node_log_path": "/var/log/fauna db",
        "faunadb_install_dir": "opt/faunadb",
        "faunadb_config_path": "/etc/../faunadb.yml",
        "faunadb_faketime_file": None,
    }
    failures = pf.faunadb_node_check_paths(paths, "n1")
    assert failures[0] == (
        "n1: faunadb_node_log_path must be an absolute path of letters, digits, '.', '_', '-'"
        " and '/' (no spaces, quotes or '..'); is /var/log/fauna db."
    )
    assert [m.split(" must")[0] for m in failures] == [
        "n1: faunadb_node_log_path",
        "n1: faunadb_install_dir",
        "n1: faunadb_config_path",
        "n1: faunadb_faketime_file",
    ]
    assert pf.faunadb_node_check_paths({"faunadb_install_dir": "/opt/faunadb"}, "n1") == []


def test_node_tarball():
    assert pf.faunadb_node_check_tarball("container", "", "n1") == []
    assert pf.faunadb_node_check_tarball("service", "files/faunadb.tar.gz", "n1") == []
    assert pf.faunadb_node_check_tarball("service", "", "n1") == [
        "n1: service mode needs faunadb_node_tarball (a FaunaDB release tarball: a path on the"
        " controller or a URL); it is empty."
    ]
