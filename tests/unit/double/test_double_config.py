"""faunadb.yml loading: real key names, defaults and FaunaDB's fatal messages."""

import os
import subprocess

import pytest
from faunadb_double.config import ConfigError, load_config, parse_config
from faunadb_double.config_keys import CORE_CONFIG_KEYS, KNOWN_KEYS
from faunadb_double.testing import FAUNADB_BIN, REPO_ROOT, launcher_env, port_open

# The source of the key list (shared docs, next to the repository on the
# project's machines); the double carries a copy because it must not read it.
KEYS_DOC = os.path.join(REPO_ROOT, "..", "shared", "docs", "faunadb-config-keys.txt")

MINIMAL = {"auth_root_key": "secret", "network_broadcast_address": "10.0.0.5"}


def test_defaults_follow_faunadb():
    cfg = parse_config(dict(MINIMAL))
    assert cfg.cluster_name == "fauna"
    assert cfg.listen_address == "10.0.0.5"
    assert cfg.host_label == "10.0.0.5"
    assert (cfg.coordinator_address, cfg.coordinator_port) == ("10.0.0.5", 8443)
    assert (cfg.admin_address, cfg.admin_port) == ("127.0.0.1", 8444)
    assert (cfg.peer_port, cfg.peer_secure_port) == (7500, 7501)
    assert cfg.data_path == "/var/lib/faunadb"
    assert cfg.log_path == "/var/log/faunadb"
    assert cfg.peer_encryption_level == "none"
    assert cfg.shutdown_grace_period_seconds == 30
    assert cfg.flags_path == "/etc/feature-flag-periodic.d/feature-flags.json"


def test_listen_address_drives_coordinator_address():
    cfg = parse_config({**MINIMAL, "network_listen_address": "0.0.0.0"})
    assert cfg.coordinator_address == "0.0.0.0"
    assert cfg.broadcast_address == "10.0.0.5"


@pytest.mark.parametrize("key", ["replica_name", "network_datacenter_name",
                                 "storage_transaction_log_nodes", "typo_key"])
def test_unknown_key_is_fatal(key):
    with pytest.raises(ConfigError) as err:
        parse_config({**MINIMAL, key: "x"})
    assert str(err.value) == f"`{key}`: Unrecognized setting."


def test_the_release_keys_are_all_known():
    assert len(CORE_CONFIG_KEYS) == 209
    assert KNOWN_KEYS == CORE_CONFIG_KEYS | {"network_broadcast_address"}
    if not os.path.exists(KEYS_DOC):
        pytest.skip(f"{KEYS_DOC} not here")
    with open(KEYS_DOC, encoding="utf-8") as fh:
        documented = {line.strip() for line in fh if line.strip() and line[0] != "#"}
    assert documented == CORE_CONFIG_KEYS


def test_server_starts_with_keys_it_does_not_act_on(make_node):
    node = make_node(log_level="INFO", log_rotate_count=5, runtime_processors=2,
                     storage_memtable_size_mb=64, sstableDiskAccessMode="mmap",
                     health_check_timeout_ms=500, consensus_stall_restart_period_enable="true",
                     http_ssl_key_file="/nonexistent.pem")
    node.start()
    assert node.process.poll() is None and port_open(node.address, 8444)


def test_server_refuses_a_key_the_release_does_not_know(make_node):
    # The same start, one key a release does not accept: it stops before the admin port.
    node = make_node(log_level="INFO", storage_memtable_size_mbs=64)
    with pytest.raises(AssertionError, match="server exited"):
        node.start()
    assert not port_open(node.address, 8444)


def test_root_key_required():
    with pytest.raises(ConfigError) as err:
        parse_config({"network_broadcast_address": "10.0.0.5"})
    assert str(err.value) == "Error: auth_root_key or auth_root_key_hash must be set."


def test_hash_alone_is_enough():
    cfg = parse_config({"auth_root_key_hash": "$2b$04$abc", "network_broadcast_address": "h"})
    assert cfg.root_key is None and cfg.root_key_hash == "$2b$04$abc"


def test_broadcast_address_required():
    with pytest.raises(ConfigError) as err:
        parse_config({"auth_root_key": "secret"})
    assert "network_broadcast_address" in str(err.value)


def test_encryption_needs_key_file():
    with pytest.raises(ConfigError):
        parse_config({**MINIMAL, "peer_encryption_level": "all"})
    with pytest.raises(ConfigError):
        parse_config({**MINIMAL, "peer_encryption_level": "bogus"})


def test_load_from_file(tmp_path):
    path = tmp_path / "faunadb.yml"
    path.write_text("auth_root_key: secret\nnetwork_broadcast_address: 10.1.1.1\n"
                    "network_coordinator_http_port: 9443\n")
    cfg = load_config(str(path))
    assert cfg.coordinator_port == 9443 and cfg.path == str(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("auth_root_key: s\nnetwork_broadcast_address: 1.2.3.4\nreplica_name: r1\n",
         "`replica_name`: Unrecognized setting."),
        ("network_broadcast_address: 1.2.3.4\n",
         "Error: auth_root_key or auth_root_key_hash must be set."),
        ("auth_root_key: s\n", "Error: network_broadcast_address must be set."),
    ],
)
def test_server_exits_1_with_message(tmp_path, body, message):
    path = tmp_path / "faunadb.yml"
    path.write_text(body)
    proc = subprocess.run([FAUNADB_BIN, "-c", str(path)], capture_output=True, text=True,
                          timeout=20, env=launcher_env(GC_LOG_PATH=str(tmp_path)))
    assert proc.returncode == 1
    assert message in proc.stderr
