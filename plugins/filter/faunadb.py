# Apache-2.0, like the rest of the project.
"""Filters of the FaunaDB roles."""

from __future__ import annotations

import base64
import hashlib

from ansible.errors import AnsibleFilterError

try:
    import bcrypt

    HAS_BCRYPT = True
except ImportError:
    HAS_BCRYPT = False

# bcrypt's own base64 alphabet, for a salt made of arbitrary bytes.
_STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def faunadb_root_key_hash(key, salt_seed, rounds=10):
    """bcrypt hash of the root key for auth_root_key_hash in faunadb.yml.

    The salt comes from salt_seed (the cluster name), not from the key and
    not at random: the same key then gives the same hash on every run, so
    faunadb.yml does not change (and restart nodes) on each run, and the salt
    reveals nothing about the key. `$2a$` is the prefix FaunaDB's
    `faunadb-admin hash-key` writes.
    """
    if not HAS_BCRYPT:
        raise AnsibleFilterError("faunadb_root_key_hash needs the bcrypt Python package")
    if not key:
        raise AnsibleFilterError("faunadb_root_key_hash: the root key is empty")
    digest = hashlib.sha256(f"faunalab-root-key-salt:{salt_seed}".encode()).digest()[:16]
    salt22 = base64.b64encode(digest).translate(bytes.maketrans(_STD, _BCRYPT))[:22]
    salt = b"$2a$%02d$" % int(rounds) + salt22
    return bcrypt.hashpw(str(key).encode(), salt).decode()


def faunadb_host_vars(hosts, hostvars, defaults):
    """Each host's values of the variables named in defaults, as its roles see them.

    hostvars[] of another host holds its inventory values and facts, not role
    defaults: a variable it does not set has the default (the roles' value,
    given by the caller), as on the host itself. The defaults are the caller's
    values, so only those that do not depend on the host belong here. One dict
    per host, in order, with its name as inventory_hostname."""
    found = []
    for host in hosts:
        values = hostvars[host]
        row = {
            name: values[name] if name in values else default for name, default in defaults.items()
        }
        row["inventory_hostname"] = host
        found.append(row)
    return found


class FilterModule:
    def filters(self):
        return {
            "faunadb_root_key_hash": faunadb_root_key_hash,
            "faunadb_host_vars": faunadb_host_vars,
        }
