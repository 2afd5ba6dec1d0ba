# Apache-2.0, like the rest of the project.
"""Rules of the inventory checks run before anything changes.

roles/faunadb/tasks/validate.yml and roles/faunadb_node/tasks/validate.yml
gather the values and assert, one task per rule, that its filter here finds
nothing wrong. Each filter returns the rule's error messages (empty when the
inventory keeps it): one per host that breaks it, naming the host, the
variable, its value (as JSON, so that spaces and quotes stay visible) and
what is allowed. Kept in Python for the unit tests
(tests/unit/roles/test_preflight_filters.py).

A rule may rely on the ones checked before it in validate.yml: an address is
an IP before it is placed in a subnet.

The IP rules use the standard library's ipaddress, as ansible.utils'
ip_address and in_network tests do.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Mapping

# Names are matched whole (fullmatch): with ^...$ a trailing newline would slip through.
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# FaunaDB's rule for replica names.
_REPLICA = re.compile(r"[^\W_][\w-]*(/[^\W_][\w-]*)?")
# Docker's rule for container, volume and network names.
_DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_NODE_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
DEPLOY_MODES = ("container", "service")
REPLICA_TYPES = ("compute", "data", "data+log")
_UNSET = object()


def to_json(value):
    """As Ansible's to_json shows it. Not that filter itself: importing
    ansible.plugins.filter.core sets up the controller's templating, which
    changes how modules report warnings in the unit tests that run after."""
    return json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def _shown(value):
    return "unset" if value is _UNSET else to_json(value)


def _is_ip(value):
    try:
        return isinstance(value, str) and bool(ipaddress.ip_address(value))
    except ValueError:
        return False


def _in_network(address, subnet):
    try:
        inner, outer = ipaddress.ip_network(address), ipaddress.ip_network(subnet)
    except (TypeError, ValueError):
        return False
    return inner.version == outer.version and inner.subnet_of(outer)


def _reserved(subnet):
    """The addresses Docker keeps for itself on subnet: network, broadcast and
    gateway (first host), as ansible.utils' ipaddr('network'),
    ipaddr('broadcast') and nthhost(1) give them (none for an invalid subnet)."""
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except (TypeError, ValueError):
        return []
    size = net.num_addresses
    kept = [(net.network_address, True), (net.broadcast_address, size > 2),
            (net.network_address + 1, size > 1)]  # fmt: skip
    return [str(address) for address, keep in kept if keep]


def _containers(nodes):
    return [node for node in nodes if node["faunadb_deploy_mode"] == "container"]


def faunadb_check_cluster_name(nodes):
    """The cluster name becomes part of file paths (inventory/.secrets/<name>.root_key),
    labels and faunadb.yml, so it may not climb out of a folder or break a line."""
    return [
        f"{node['inventory_hostname']}: faunadb_cluster_name is {to_json(name)}; it must start"
        " with a letter or digit and hold only letters, digits, '_', '.' and '-' (no '/',"
        " no '..', no spaces)."
        for node in nodes
        for name in [node["faunadb_cluster_name"]]
        if not (isinstance(name, str) and _CLUSTER_NAME.fullmatch(name) and ".." not in name)
    ]


def faunadb_check_deploy_mode(nodes):
    return [
        f"{node['inventory_hostname']}: faunadb_deploy_mode is"
        f" {to_json(node['faunadb_deploy_mode'])}; faunadb_deploy_mode must be one of:"
        f" {', '.join(DEPLOY_MODES)}."
        for node in nodes
        if node["faunadb_deploy_mode"] not in DEPLOY_MODES
    ]


def faunadb_check_replica(nodes):
    return [
        f"{node['inventory_hostname']}: faunadb_replica is {_shown(replica)}; it must be set to"
        " a replica name: letters, digits, '_' or '-', not starting with '_' or '-', optionally"
        " two such parts joined by one '/'."
        for node in nodes
        for replica in [node.get("faunadb_replica", _UNSET)]
        if not (isinstance(replica, str) and _REPLICA.fullmatch(replica))
    ]


def faunadb_check_address(nodes):
    return [
        f"{node['inventory_hostname']}: faunadb_address is {_shown(address)}; it must be set to"
        " an IP address."
        for node in nodes
        for address in [node.get("faunadb_address", _UNSET)]
        if not _is_ip(address)
    ]


def faunadb_check_network_subnet(nodes):
    """Docker refuses a subnet with host bits set, and the checks after this one
    need a valid one. One address is no network (ansible.utils' ipaddr('net'))."""
    failures = []
    for node in _containers(nodes):
        subnet = node["faunadb_network_subnet"]
        try:
            valid = isinstance(subnet, str) and ipaddress.ip_network(subnet).num_addresses > 1
        except ValueError:
            valid = False
        if not valid:
            failures.append(
                f"{node['inventory_hostname']}: faunadb_network_subnet is {to_json(subnet)};"
                " it must be a network in CIDR form with no host bits set, e.g. 172.28.0.0/24."
            )
    return failures


def faunadb_check_address_in_subnet(nodes):
    """In container mode Docker hands out the address on faunadb_network, out of
    its subnet less the addresses it keeps."""
    failures = []
    for node in _containers(nodes):
        address, subnet = node["faunadb_address"], node["faunadb_network_subnet"]
        reserved = _reserved(subnet)
        if not (_in_network(address, subnet) and address not in reserved):
            failures.append(
                f"{node['inventory_hostname']}: faunadb_address is {to_json(address)}; in"
                f" container mode it must be an address inside faunadb_network_subnet {subnet}"
                f" other than {', '.join(reserved)}."
            )
    return failures


def faunadb_check_container(nodes):
    """The container name also names its volumes (<name>-data)."""
    return [
        f"{node['inventory_hostname']}: faunadb_container (the inventory hostname unless set)"
        f" is {to_json(name)}; Docker allows at least 2 characters, a letter or digit first,"
        " then letters, digits, '_', '.' or '-'."
        for node in _containers(nodes)
        for name in [node["faunadb_container"]]
        if not (isinstance(name, str) and _DOCKER_NAME.fullmatch(name))
    ]


def faunadb_check_network(nodes):
    return [
        f"{node['inventory_hostname']}: faunadb_network is {to_json(name)}; it must be at least"
        " 2 characters, a letter or digit first, then letters, digits, '_', '.' or '-'."
        for node in _containers(nodes)
        for name in [node["faunadb_network"]]
        if not (isinstance(name, str) and _DOCKER_NAME.fullmatch(name))
    ]


def faunadb_check_lb_address(lbs, hostvars, subnet):
    """The load balancer is always a container on faunadb_network, whatever the
    nodes' mode. lbs: its hosts; hostvars: their variables by host (only
    faunadb_lb_address is read)."""
    reserved = _reserved(subnet)
    return [
        f"{host}: faunadb_lb_address is {_shown(address)}; it must be set to an IP address"
        f" inside faunadb_network_subnet {subnet} other than {', '.join(reserved)}."
        for host in lbs
        for address in [hostvars[host].get("faunadb_lb_address", _UNSET)]
        if not (_is_ip(address) and _in_network(address, subnet) and address not in reserved)
    ]


def faunadb_check_lb_container_name(lbs, hostvars):
    """hostvars lack the faunadb_lb role's defaults: a host that does not set
    the name gets that default, its inventory hostname."""
    return [
        f"{host}: faunadb_lb_container_name (the inventory hostname unless set) is"
        f" {to_json(name)}; Docker allows at least 2 characters, a letter or digit first,"
        " then letters, digits, '_', '.' or '-'."
        for host in lbs
        for name in [hostvars[host].get("faunadb_lb_container_name", host)]
        if not (isinstance(name, str) and _DOCKER_NAME.fullmatch(name))
    ]


def faunadb_check_unique_addresses(owners):
    """owners: [host, address] of every node and load balancer."""
    counts = Counter(address for _, address in owners)
    shared = [f"{host} = {address}" for host, address in owners if counts[address] > 1]
    if not shared:
        return []
    return [
        "faunadb_address (nodes) and faunadb_lb_address (load balancers) must differ from host"
        f" to host; shared: {', '.join(shared)}."
    ]


def faunadb_check_replica_type_keys(types, replicas, host):
    """types: faunadb_replica_types; replicas: those that have nodes."""
    if not isinstance(types, Mapping):
        unknown = "-"
    elif names := [str(name) for name in types if name not in replicas]:
        unknown = ", ".join(names)
    else:
        return []
    return [
        f"{host}: faunadb_replica_types is {to_json(types)}; it must be a mapping whose keys are"
        f" replicas that have nodes ({', '.join(map(str, replicas))}); unknown: {unknown}."
    ]


def faunadb_check_replica_types(wanted, types, default, host):
    """wanted: every replica's type (faunadb_wanted_replica_types), from types and default."""
    if all(kind in REPLICA_TYPES for kind in wanted.values()):
        return []
    return [
        f"{host}: faunadb_replica_types is {to_json(types)} and faunadb_default_replica_type"
        f" {to_json(default)}; every type must be one of: {', '.join(REPLICA_TYPES)}."
    ]


def _data_log(wanted):
    return [str(name) for name, kind in wanted.items() if kind == "data+log"]


def faunadb_check_data_log_replica(wanted, types, default, host):
    """FaunaDB commits through a majority of the data+log replicas."""
    if _data_log(wanted):
        return []
    return [
        f"{host}: no replica is data+log (faunadb_replica_types {to_json(types)},"
        f" faunadb_default_replica_type {to_json(default)}); at least one must be."
    ]


def faunadb_check_data_log_replicas(wanted, types, default, allow_fewer, host):
    data_log = _data_log(wanted)
    if allow_fewer or len(data_log) >= 3:
        return []
    return [
        f"{host}: only {len(data_log)} replica(s) are data+log ({', '.join(data_log)};"
        f" faunadb_replica_types {to_json(types)}, faunadb_default_replica_type"
        f" {to_json(default)}); at least 3 are needed for writes to survive losing one. Set"
        " faunadb_allow_fewer_data_log_replicas=true to allow fewer."
    ]


def faunadb_node_check_config_keys(config, known, host):
    """FaunaDB refuses to start on a key of faunadb.yml it does not know."""
    unknown = [str(key) for key in config if key not in known]
    if not unknown:
        return []
    return [
        f"{host}: faunadb_node_config holds keys FaunaDB does not know (it refuses to start on"
        f" them): {unknown}. Allowed: the release's keys (roles/faunadb_node/vars/main.yml,"
        " faunadb_node_known_keys)."
    ]


def faunadb_node_check_managed_keys(config, managed, host):
    taken = [str(key) for key in config if key in managed]
    if not taken:
        return []
    return [
        f"{host}: faunadb_node_config must not set {taken}; the role writes them from their own"
        " variables (faunadb_root_key, faunadb_cluster_name, faunadb_address,"
        " faunadb_node_data_path, faunadb_node_log_path, faunadb_node_flags_path,"
        " faunadb_node_shutdown_grace_period_seconds)."
    ]


def faunadb_node_check_paths(paths, host):
    """paths: variable name -> path. The real launcher takes log_path's text as
    the JVM's GC log directory, so only a plain absolute path works (quotes or
    spaces stop the JVM). match with $, as the check always had: it lets one
    trailing newline through."""
    return [
        f"{host}: {name} must be an absolute path of letters, digits, '.', '_', '-' and '/'"
        f" (no spaces, quotes or '..'); is {path}."
        for name, path in paths.items()
        if not (isinstance(path, str) and _NODE_PATH.match(path) and ".." not in path)
    ]


def faunadb_node_check_tarball(deploy_mode, tarball, host):
    if deploy_mode != "service" or len(tarball) > 0:
        return []
    return [
        f"{host}: service mode needs faunadb_node_tarball (a FaunaDB release tarball: a path on"
        " the controller or a URL); it is empty."
    ]


class FilterModule:
    def filters(self):
        return {
            f.__name__: f
            for f in (
                faunadb_check_cluster_name,
                faunadb_check_deploy_mode,
                faunadb_check_replica,
                faunadb_check_address,
                faunadb_check_network_subnet,
                faunadb_check_address_in_subnet,
                faunadb_check_container,
                faunadb_check_network,
                faunadb_check_lb_address,
                faunadb_check_lb_container_name,
                faunadb_check_unique_addresses,
                faunadb_check_replica_type_keys,
                faunadb_check_replica_types,
                faunadb_check_data_log_replica,
                faunadb_check_data_log_replicas,
                faunadb_node_check_config_keys,
                faunadb_node_check_managed_keys,
                faunadb_node_check_paths,
                faunadb_node_check_tarball,
            )
        }
