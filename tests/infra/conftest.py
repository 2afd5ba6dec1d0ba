"""Shared by the testinfra checks that molecule's verifiers run (one file per scenario)."""

import pytest

# faunadb.yml keys of the current release (shared/docs/faunadb-surface.md):
# FaunaDB refuses any other, so a rendered config must stay inside this set.
FAUNADB_CONFIG_KEYS = frozenset({
    "auth_root_key", "auth_root_key_hash", "cluster_name", "network_broadcast_address",
    "network_listen_address", "network_host_id", "network_coordinator_http_address",
    "network_coordinator_http_port", "network_admin_http_address", "network_admin_http_port",
    "network_peer_port", "network_peer_secure_port", "storage_data_path", "log_path",
    "peer_encryption_level", "peer_encryption_key_file", "peer_encryption_password",
    "shutdown_grace_period_seconds",
})  # fmt: skip


@pytest.fixture(scope="session")
def faunadb_config_keys():
    return FAUNADB_CONFIG_KEYS
