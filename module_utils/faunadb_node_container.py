"""Container mode's part of a node's lifecycle: create a container from a spec, remove it and
its named volumes.

faunadb_node state=present creates the container from the spec (what the
role's _faunadb_node_container holds), and recreates it when the spec label
(org.faunalab.spec: a hash of the spec) differs from the one the container
carries, the way docker_container recreates on a difference; state=absent
removes it. What is pure (the spec's hash, the Docker API's create request)
is a plain function here; DockerNodeOps in faunadb_node_ops makes the calls.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible.module_utils.faunadb_common import FaunaDBError

# The label that records which spec a container was made from: equal labels,
# nothing to do; another (or none), the container is recreated.
SPEC_LABEL = "org.faunalab.spec"
# The named volumes state=absent removes unless keep_data: the role's names.
DATA_VOLUMES = ("data", "log")

SPEC_OPTIONS = dict(
    image=dict(type="str", required=True),
    command=dict(type="list", elements="str"),
    hostname=dict(type="str"),
    networks=dict(
        type="list",
        elements="dict",
        options=dict(
            name=dict(type="str", required=True),
            ipv4_address=dict(type="str"),
            aliases=dict(type="list", elements="str"),
        ),
    ),
    network_mode=dict(type="str"),
    restart_policy=dict(type="str", choices=["no", "always", "on-failure", "unless-stopped"]),
    memory=dict(type="str"),
    cpus=dict(type="float"),
    volumes=dict(type="list", elements="str"),
    env=dict(type="dict"),
    labels=dict(type="dict"),
)

_MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def data_volumes(container):
    """The named volumes of a node's data and logs, as the role names them."""
    return [f"{container}-{suffix}" for suffix in DATA_VOLUMES]


def parse_memory(value):
    """Bytes of a memory limit such as 4g or 512m (1024-based, as docker and docker_container)."""
    match = _MEMORY_RE.match(str(value).strip())
    if not match:
        raise FaunaDBError(f"spec.memory {value!r} is not a size such as 4g or 512m")
    number, unit = match.groups()
    return int(float(number) * _MEMORY_UNITS[unit.lower()])


def spec_hash(spec):
    """The hash of a spec, for a caller that gives no spec label of its own."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def wanted_labels(spec):
    """The labels the container is created with: the spec's, with its spec label."""
    labels = {k: str(v) for k, v in (spec.get("labels") or {}).items()}
    labels.setdefault(SPEC_LABEL, spec_hash(spec))
    return labels


def check_spec(spec):
    """Refuse, before anything changes, what the engine would refuse half way through."""
    if spec.get("memory") not in (None, ""):
        parse_memory(spec["memory"])
    if spec.get("cpus") is not None and spec["cpus"] <= 0:
        raise FaunaDBError(f"spec.cpus must be more than 0, got {spec['cpus']}")
    for volume in spec.get("volumes") or []:
        if ":" not in volume:
            raise FaunaDBError(f"spec.volumes: {volume!r} is not source:path[:mode]")
    names = [n["name"] for n in spec.get("networks") or []]
    if len(set(names)) != len(names):
        raise FaunaDBError(f"spec.networks names a network twice: {names}")


def _endpoint(network):
    endpoint = {}
    if network.get("ipv4_address"):
        endpoint["IPAMConfig"] = {"IPv4Address": network["ipv4_address"]}
    if network.get("aliases"):
        endpoint["Aliases"] = list(network["aliases"])
    return endpoint


def create_request(name, spec):
    """(create_container kwargs, networks to connect after) for the Docker API.

    The engine attaches a container to one network at create time: the first
    of spec.networks (with its fixed address) when it is network_mode, the
    others are connected after, as `docker run --network` then
    `docker network connect --ip` do.
    """
    networks = list(spec.get("networks") or [])
    mode = spec.get("network_mode") or (networks[0]["name"] if networks else None)
    host_config = {}
    if spec.get("volumes"):
        host_config["Binds"] = list(spec["volumes"])
    if mode:
        host_config["NetworkMode"] = mode
    if spec.get("restart_policy"):
        host_config["RestartPolicy"] = {"Name": spec["restart_policy"]}
    if spec.get("memory") not in (None, ""):
        host_config["Memory"] = parse_memory(spec["memory"])
    if spec.get("cpus") is not None:
        host_config["NanoCpus"] = int(round(spec["cpus"] * 1e9))
    kwargs = dict(
        image=spec["image"],
        name=name,
        host_config=host_config,
        labels=wanted_labels(spec),
    )
    if spec.get("command"):
        kwargs["command"] = list(spec["command"])
    if spec.get("hostname"):
        kwargs["hostname"] = spec["hostname"]
    if spec.get("env"):
        kwargs["environment"] = [f"{k}={v}" for k, v in sorted(spec["env"].items())]
    later = networks
    if networks and networks[0]["name"] == mode:
        kwargs["networking_config"] = {"EndpointsConfig": {mode: _endpoint(networks[0])}}
        later = networks[1:]
    return kwargs, later


def connect_args(network):
    """(kwargs of connect_container_to_network, the docker CLI's flags) for one more network."""
    kwargs, flags = {}, ""
    if network.get("ipv4_address"):
        kwargs["ipv4_address"] = network["ipv4_address"]
        flags += f" --ip {network['ipv4_address']}"
    for alias in network.get("aliases") or []:
        flags += f" --alias {alias}"
    if network.get("aliases"):
        kwargs["aliases"] = list(network["aliases"])
    return kwargs, flags


def create(ops, spec):
    """Create ops' container from spec (not started: its files go in first) and attach its
    further networks. Named volumes in spec.volumes are created by the engine."""
    api = ops._client.api
    kwargs, later = create_request(ops.name, spec)
    ops._do(f"docker create --name {ops.name} {spec['image']}", "docker create",
            api.create_container, **kwargs)  # fmt: skip
    for network in later:
        extra, flags = connect_args(network)
        ops._do(
            f"docker network connect{flags} {network['name']} {ops.name}",
            "docker network connect", api.connect_container_to_network, ops.name,
            network["name"], **extra,
        )  # fmt: skip


def remove(ops):
    """Remove ops' container, killing it if it runs; its volumes stay (remove_volume)."""
    ops._do(f"docker rm --force {ops.name}", "docker rm", ops._client.api.remove_container,
            ops.name, force=True)  # fmt: skip


def remove_volume(ops, volume):
    ops._do(f"docker volume rm {volume}", "docker volume rm", ops._client.api.remove_volume,
            volume)  # fmt: skip


def present_volumes(ops, names):
    """Those of the named volumes that exist."""
    api = ops._client.api
    return [n for n in names if ops._optional("docker volume inspect", api.inspect_volume, n)]
