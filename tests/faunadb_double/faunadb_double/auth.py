"""Root-key checks for the admin and client APIs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

import bcrypt

from .config import Config

_CACHE_LIMIT = 64


class KeyChecker:
    def __init__(self, cfg: Config):
        self.key = cfg.root_key
        self.hash = cfg.root_key_hash.encode() if cfg.root_key_hash else None
        # bcrypt is deliberately slow (~0.1-0.3 s); cache verdicts by a digest of
        # the secret so that repeated calls (every query, every status) stay cheap.
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()

    def check(self, secret: str | None) -> bool:
        if not secret:
            return False
        if self.key is not None:
            return hmac.compare_digest(secret.encode(), self.key.encode())
        digest = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            if digest in self._cache:
                return self._cache[digest]
        try:
            ok = bcrypt.checkpw(secret.encode(), self.hash)
        except ValueError:
            ok = False
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = ok
        return ok

    def check_header(self, header: str | None) -> bool:
        return self.check(secret_from_header(header))


def secret_from_header(header: str | None) -> str | None:
    """Bearer SECRET, or Basic base64(SECRET:) as FaunaDB accepts both."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0]
    return None


def hash_key(key: str) -> str:
    return bcrypt.hashpw(key.encode(), bcrypt.gensalt()).decode()
