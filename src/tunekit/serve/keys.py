"""API keys: created once, stored hashed in a local SQLite file, scoped, revocable, with an optional rate limit.

A key reads ``tk_<prefix>_<secret>``. Only the prefix (to find the row and name the key in listings) and the
SHA-256 of the whole key are stored; the key itself is shown once, at creation. Verification looks the row up by
prefix and compares hashes with `hmac.compare_digest`, so timing reveals nothing about the secret.

A store remembers the keys it verified (by hash) until the file changes: one ``PRAGMA data_version`` per request
tells whether any other connection (another worker, `tunekit keys revoke`) committed since, which costs about a
third of the lookup it replaces, and revocation still takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tunekit.errors import TunekitError

Scope = Literal["predict", "explain", "admin"]
SCOPES: tuple[str, ...] = ("predict", "explain", "admin")
STORE_ENV = "TUNEKIT_KEY_STORE"  # overrides the default store path
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    prefix TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    rate_limit_per_minute INTEGER,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


@dataclass(frozen=True)
class ApiKey:
    """A stored key's public record (never the secret)."""

    prefix: str
    name: str
    scope: str
    rate_limit_per_minute: int | None
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """An admin key may call every route; other keys only routes of their own scope."""
        return self.scope == "admin" or self.scope == scope


def default_store_path() -> Path:
    """``$TUNEKIT_KEY_STORE``, else ``~/.tunekit/keys.sqlite``."""
    return Path(os.environ.get(STORE_ENV) or Path.home() / ".tunekit" / "keys.sqlite")


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The SQLite key table. Thread-safe; WAL mode so a running server sees `keys revoke` at once."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self._lock = threading.Lock()
        self._connection = self._open()
        self._verified: dict[str, ApiKey] = {}  # SHA-256 of a key → its active record, while the file is unchanged
        self._data_version: int | None = None

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)  # key hashes are not secrets, but names and scopes are nobody else's business
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise TunekitError(f"cannot open the API key store {self.path}: {exc}",
                               "pass a writable path with --store, or set TUNEKIT_KEY_STORE") from None
        return connection

    def create(self, name: str, scope: str, rate_limit_per_minute: int | None = None) -> str:
        """Store a new key and return it; this is the only time the key itself is available.

        Raises:
            TunekitError: an unknown scope, an empty name or a non-positive rate limit.
        """
        if scope not in SCOPES:
            raise TunekitError(f"unknown scope {scope!r}", f"use one of: {', '.join(SCOPES)}")
        if not name.strip():
            raise TunekitError("a key needs a name", "pass --name, e.g. --name billing-service")
        if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
            raise TunekitError("--rate-limit must be at least 1 request per minute", "omit it for no limit")
        prefix = secrets.token_hex(4)
        key = f"tk_{prefix}_{secrets.token_urlsafe(32)}"
        with self._lock:
            self._connection.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (prefix, name, scope, _sha256(key), rate_limit_per_minute, time.time()))
        return key

    def verify(self, key: str) -> ApiKey | None:
        """The active key record matching ``key``, or None (unknown, malformed or revoked)."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "tk":
            return None
        digest = _sha256(key)
        with self._lock:
            # Changes committed by other connections bump data_version; this connection's own clear the cache.
            data_version = self._connection.execute("PRAGMA data_version").fetchone()[0]
            if data_version != self._data_version:
                self._verified.clear()
                self._data_version = data_version
            record = self._verified.get(digest)  # only hashes of keys already verified: nothing to time-attack
            if record is not None:
                return record
            row = self._connection.execute(
                "SELECT prefix, name, scope, rate_limit_per_minute, created_at, revoked_at, key_sha256 "
                "FROM api_keys WHERE prefix = ?", (parts[1],)).fetchone()
            if row is None or not hmac.compare_digest(row[6], digest):
                return None
            record = ApiKey(*row[:6])
            if not record.active:
                return None
            self._verified[digest] = record
        return record

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT prefix, name, scope, rate_limit_per_minute, created_at, revoked_at "
                "FROM api_keys ORDER BY created_at").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, name_or_prefix: str) -> list[ApiKey]:
        """Revoke the active keys with this name or prefix; returns what was revoked.

        Raises:
            TunekitError: no active key has that name or prefix.
        """
        revoked = [k for k in self.list() if k.active and name_or_prefix in (k.name, k.prefix)]
        if not revoked:
            raise TunekitError(f"no active key is named or prefixed {name_or_prefix!r}",
                               "see the keys with `tunekit keys list`")
        with self._lock:
            self._connection.executemany("UPDATE api_keys SET revoked_at = ? WHERE prefix = ?",
                                         [(time.time(), k.prefix) for k in revoked])
            self._verified.clear()  # this connection's own writes leave its data_version unchanged
        return revoked

    def close(self) -> None:
        self._connection.close()
