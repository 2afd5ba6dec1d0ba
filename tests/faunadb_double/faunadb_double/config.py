"""faunadb.yml loading with FaunaDB's key names, defaults and fatal errors."""

from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

# Any key outside KNOWN_KEYS is fatal at start-up, exactly like the real server,
# so a template that still carries 2.x keys (replica_name, ...) fails here too.
from .config_keys import KNOWN_KEYS

# The server dies at start when this file's directory is missing (server.py).
DEFAULT_FLAGS_PATH = "/etc/feature-flag-periodic.d/feature-flags.json"

ENCRYPTION_LEVELS = ("none", "dc", "all")


class ConfigError(Exception):
    """A configuration problem; str() is the message FaunaDB prints."""


@dataclass(frozen=True)
class Config:
    path: str
    root_key: str | None
    root_key_hash: str | None
    cluster_name: str
    broadcast_address: str
    listen_address: str
    host_label: str
    coordinator_address: str
    coordinator_port: int
    admin_address: str
    admin_port: int
    peer_port: int
    peer_secure_port: int
    data_path: str
    log_path: str
    peer_encryption_level: str
    shutdown_grace_period_seconds: int
    flags_path: str
    stall_restart_period_seconds: int = 30
    stall_restart_enable: bool = True


def read_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(
            f"Error: could not read configuration file {path}: {exc.strerror}"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Error: could not parse configuration file {path}: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"Error: configuration file {path} must contain a mapping.")
    return raw


def _int(raw: dict, key: str, default: int) -> int:
    value = raw.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"`{key}`: Invalid value {value!r}.") from exc


def _bool(raw: dict, key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ConfigError(f"`{key}`: Invalid value {value!r}.")


def parse_config(raw: dict, path: str = "<memory>") -> Config:
    for key in raw:
        if key not in KNOWN_KEYS:
            raise ConfigError(f"`{key}`: Unrecognized setting.")
    root_key = raw.get("auth_root_key")
    root_hash = raw.get("auth_root_key_hash")
    if not root_key and not root_hash:
        raise ConfigError("Error: auth_root_key or auth_root_key_hash must be set.")
    broadcast = raw.get("network_broadcast_address")
    if not broadcast:
        raise ConfigError("Error: network_broadcast_address must be set.")
    broadcast = str(broadcast)
    listen = str(raw.get("network_listen_address") or broadcast)
    level = str(raw.get("peer_encryption_level", "none"))
    if level not in ENCRYPTION_LEVELS:
        raise ConfigError(f"`peer_encryption_level`: Invalid value {level!r}.")
    if level != "none" and not raw.get("peer_encryption_key_file"):
        raise ConfigError(
            f"Error: peer_encryption_key_file must be set when peer_encryption_level is {level}."
        )
    return Config(
        path=path,
        root_key=str(root_key) if root_key else None,
        root_key_hash=str(root_hash) if root_hash else None,
        cluster_name=str(raw.get("cluster_name", "fauna")),
        broadcast_address=broadcast,
        listen_address=listen,
        host_label=str(raw.get("network_host_id") or broadcast),
        coordinator_address=str(raw.get("network_coordinator_http_address") or listen),
        coordinator_port=_int(raw, "network_coordinator_http_port", 8443),
        admin_address=str(raw.get("network_admin_http_address") or "127.0.0.1"),
        admin_port=_int(raw, "network_admin_http_port", 8444),
        peer_port=_int(raw, "network_peer_port", 7500),
        peer_secure_port=_int(raw, "network_peer_secure_port", 7501),
        data_path=str(raw.get("storage_data_path") or "/var/lib/faunadb"),
        log_path=str(raw.get("log_path") or "/var/log/faunadb"),
        peer_encryption_level=level,
        shutdown_grace_period_seconds=_int(raw, "shutdown_grace_period_seconds", 30),
        flags_path=str(raw.get("flags_path") or DEFAULT_FLAGS_PATH),
        stall_restart_period_seconds=_int(raw, "consensus_stall_restart_period_seconds", 30),
        stall_restart_enable=_bool(raw, "consensus_stall_restart_period_enable", True),
    )


def load_config(path: str) -> Config:
    return parse_config(read_yaml(path), os.path.abspath(path))
