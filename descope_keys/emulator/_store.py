"""Where the emulator keeps access keys: in memory, optionally written through to SQLite.

Reads are always served from memory. With a database file every change is
also written, in one transaction per API call, before the call answers; the
file is read back at start-up. Every method is synchronous and is called from
the event-loop thread only, so a request's read-modify-write never interleaves
with another request's (there is no ``await`` inside one).

Secrets are never stored: only a random salt and ``sha256(salt + secret)``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MemoryStore",
    "SqliteStore",
    "StoreError",
    "StoredKey",
    "hash_secret",
    "open_store",
]

_SALT_BYTES = 16


class StoreError(RuntimeError):
    """The database file cannot be used (in use elsewhere, not an emulator file)."""


def hash_secret(salt: bytes, secret: str) -> bytes:
    """Return ``sha256(salt + secret)``.

    A fast hash is right here (unlike for passwords): the secrets are 256 bits
    of server-generated randomness, so there is nothing to brute-force, and a
    slow hash would only slow every exchange down.
    """
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


@dataclass
class StoredKey:
    """One access key: its wire JSON (``data``) and the salted hash of its secret."""

    data: dict[str, Any]
    salt: bytes = field(default=b"", repr=False)
    digest: bytes = field(default=b"", repr=False)

    @property
    def id(self) -> str:
        """The key id."""
        return str(self.data["id"])

    def set_secret(self, secret: str) -> None:
        """Replace the stored hash with one of ``secret`` under a fresh salt."""
        self.salt = secrets.token_bytes(_SALT_BYTES)
        self.digest = hash_secret(self.salt, secret)

    def secret_matches(self, secret: str) -> bool:
        """Compare ``secret`` with the stored hash in constant time."""
        return hmac.compare_digest(hash_secret(self.salt, secret), self.digest)

    def copy(self) -> StoredKey:
        """A deep copy, to change and then :meth:`MemoryStore.put` back."""
        return StoredKey(copy.deepcopy(self.data), self.salt, self.digest)


class MemoryStore:
    """Access keys in a dict, in creation order, plus a few named settings."""

    def __init__(self) -> None:
        self._keys: dict[str, StoredKey] = {}
        self._meta: dict[str, str] = {}

    def get(self, key_id: str) -> StoredKey | None:
        """The key with this id, or ``None``. Do not change it in place."""
        return self._keys.get(key_id)

    def all(self) -> list[StoredKey]:
        """Every key, oldest first."""
        return list(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, *keys: StoredKey) -> None:
        """Insert or replace keys, all in one transaction."""
        self._persist(keys)
        for key in keys:
            self._keys[key.id] = key

    def delete(self, key_ids: Iterable[str]) -> None:
        """Remove keys (ids that are absent are ignored), all in one transaction."""
        ids = [k for k in dict.fromkeys(key_ids) if k in self._keys]
        self._remove(ids)
        for key_id in ids:
            del self._keys[key_id]

    def get_meta(self, name: str) -> str | None:
        """A named setting, or ``None``."""
        return self._meta.get(name)

    def set_meta(self, name: str, value: str) -> None:
        """Store a named setting."""
        self._persist_meta(name, value)
        self._meta[name] = value

    def close(self) -> None:
        """Release resources (nothing to do in memory)."""

    # Persistence hooks: a no-op in memory. They run before memory changes, so
    # a failed write leaves memory as it was.
    def _persist(self, keys: Iterable[StoredKey]) -> None:
        return None

    def _remove(self, key_ids: list[str]) -> None:
        return None

    def _persist_meta(self, name: str, value: str) -> None:
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS emulator_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS access_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL,
    salt BLOB NOT NULL,
    digest BLOB NOT NULL
);
"""


class SqliteStore(MemoryStore):
    """A :class:`MemoryStore` written through to one SQLite file.

    The file is locked exclusively while open, so two emulators can never
    share (and diverge on) one file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open (or create) the database at ``path`` and load its keys."""
        super().__init__()
        self._path = os.fspath(path)
        try:
            # timeout=0: a file held by another emulator fails at once.
            self._conn = sqlite3.connect(self._path, timeout=0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open emulator database {self._path!r}: {exc}") from exc
        try:
            self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._conn.execute("BEGIN EXCLUSIVE")
            self._conn.executescript(_SCHEMA)  # commits, and keeps the exclusive lock
            self._load()
        except sqlite3.Error as exc:
            self._conn.close()
            if "locked" in str(exc):
                msg = f"emulator database {self._path!r} is in use by another process"
            else:
                msg = f"{self._path!r} is not a usable emulator database: {exc}"
            raise StoreError(msg) from exc
        with contextlib.suppress(OSError):
            os.chmod(self._path, 0o600)  # it holds the signing key

    def _load(self) -> None:
        for name, value in self._conn.execute("SELECT name, value FROM emulator_meta"):
            self._meta[name] = value
        rows = self._conn.execute("SELECT data, salt, digest FROM access_keys ORDER BY seq")
        for data, salt, digest in rows:
            key = StoredKey(json.loads(data), bytes(salt), bytes(digest))
            self._keys[key.id] = key

    def close(self) -> None:
        """Close the database file (releasing its lock)."""
        self._conn.close()

    def _persist(self, keys: Iterable[StoredKey]) -> None:
        rows = [(k.id, json.dumps(k.data), k.salt, k.digest) for k in keys]
        with self._transaction():
            self._conn.executemany(
                "INSERT INTO access_keys (id, data, salt, digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data=excluded.data, salt=excluded.salt, "
                "digest=excluded.digest",
                rows,
            )

    def _remove(self, key_ids: list[str]) -> None:
        with self._transaction():
            self._conn.executemany("DELETE FROM access_keys WHERE id = ?", [(k,) for k in key_ids])

    def _persist_meta(self, name: str, value: str) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO emulator_meta (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                (name, value),
            )

    def _transaction(self) -> sqlite3.Connection:
        # isolation_level=None (autocommit): open the transaction explicitly so
        # that `with` commits or rolls back the whole batch.
        self._conn.execute("BEGIN")
        return self._conn


def open_store(db: str | os.PathLike[str] | None) -> MemoryStore:
    """A SQLite-backed store for ``db``, or an in-memory one when ``db`` is ``None``."""
    return MemoryStore() if db is None else SqliteStore(db)
