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


class FilterModule:
    def filters(self):
        return {"faunadb_root_key_hash": faunadb_root_key_hash}
