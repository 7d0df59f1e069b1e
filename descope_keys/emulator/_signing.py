"""RS256 signing keys of the emulator, the JWKS it publishes, and rotation.

Rotation has two phases, as a real identity provider does it: first the next
key is *published* (it appears in the JWKS but signs nothing), then the
emulator *switches* to it. The key that signed until then stays in the JWKS
("retired") so that tokens it signed stay valid until they expire.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

__all__ = ["MIN_RSA_BITS", "SigningKeys", "generate_rsa_key", "load_rsa_key"]

MIN_RSA_BITS = 2048
_RSA_BITS = 2048
# Enough for tokens of two quick rotations in a row to stay valid.
_MAX_RETIRED = 2


def generate_rsa_key() -> RSAKey:
    """Generate a new RSA-2048 private key."""
    key: RSAKey = RSAKey.generate_key(_RSA_BITS, private=True)
    return key


def load_rsa_key(pem: str | bytes) -> RSAKey:
    """Load a PEM RSA private key of at least 2048 bits.

    Raises:
        ValueError: The PEM is not an RSA private key, or the key is too small.
    """
    try:
        key: RSAKey = RSAKey.import_key(pem)
    except Exception as exc:  # joserfc raises several types for bad input
        raise ValueError("signing key is not a PEM RSA private key") from exc
    if not key.is_private:
        raise ValueError("signing key must be a private key (PEM), not a public key")
    if key.public_key.key_size < MIN_RSA_BITS:
        raise ValueError(f"signing key must have at least {MIN_RSA_BITS} bits")
    return key


def _kid(key: RSAKey) -> str:
    # The RFC 7638 thumbprint: stable for a key across restarts.
    return key.thumbprint()


def _public_jwk(key: RSAKey) -> dict[str, str]:
    public = key.as_dict(private=False)
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": _kid(key),
        "n": str(public["n"]),
        "e": str(public["e"]),
    }


class SigningKeys:
    """The current signing key, an optional published next key, and retired keys.

    Safe to use from any thread.
    """

    def __init__(self, current: RSAKey) -> None:
        """Start with ``current`` as the only key."""
        self._lock = threading.Lock()
        self._first = current
        self._current = current
        self._current_kid = _kid(current)
        self._next: RSAKey | None = None
        self._retired: list[RSAKey] = []
        self._jwks_body = b""
        self._refresh_jwks()

    @property
    def kid(self) -> str:
        """The ``kid`` of the key that signs new tokens."""
        return self._current_kid

    @property
    def next_kid(self) -> str | None:
        """The ``kid`` of the published next key, if one is published."""
        nxt = self._next
        return None if nxt is None else _kid(nxt)

    def current_pem(self) -> str:
        """The current private key as PEM (to persist it)."""
        with self._lock:
            return self._current.as_pem(private=True).decode("ascii")

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Sign ``claims`` into a compact RS256 JWT with ``kid`` and ``typ`` headers."""
        with self._lock:
            key, kid = self._current, self._current_kid
        header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
        return jwt.encode(header, dict(claims), key, algorithms=["RS256"])

    def jwks(self) -> dict[str, Any]:
        """The published key set as a JSON-ready dict."""
        loaded: dict[str, Any] = json.loads(self._jwks_body)
        return loaded

    def jwks_body(self) -> bytes:
        """The published key set, serialized once per change."""
        return self._jwks_body

    def publish_next(self, key: RSAKey | None = None) -> str:
        """Publish the next key in the JWKS (signing does not change yet).

        Idempotent while a next key is already published and no ``key`` is
        given. Returns the next key's ``kid``.
        """
        with self._lock:
            if key is None and self._next is not None:
                return _kid(self._next)
        new_key = key if key is not None else generate_rsa_key()
        with self._lock:
            self._next = new_key
            self._refresh_jwks()
            return _kid(new_key)

    def switch(self) -> str:
        """Sign with the published next key from now on; retire the current one.

        Raises:
            RuntimeError: No next key has been published.
        """
        with self._lock:
            if self._next is None:
                raise RuntimeError("publish the next signing key before switching to it")
            self._retired.insert(0, self._current)
            del self._retired[_MAX_RETIRED:]
            self._current, self._next = self._next, None
            self._current_kid = _kid(self._current)
            self._refresh_jwks()
            return self._current_kid

    def rotate(self, key: RSAKey | None = None) -> str:
        """Publish a next key and switch to it at once; returns the new ``kid``."""
        self.publish_next(key)
        return self.switch()

    def drop_retired(self) -> list[str]:
        """Remove retired keys from the JWKS; tokens they signed stop validating."""
        with self._lock:
            dropped = [_kid(k) for k in self._retired]
            self._retired.clear()
            self._refresh_jwks()
            return dropped

    def reset(self) -> str:
        """Go back to the key this set started with, alone in the JWKS; returns its ``kid``."""
        with self._lock:
            self._current, self._next = self._first, None
            self._current_kid = _kid(self._first)
            self._retired.clear()
            self._refresh_jwks()
            return self._current_kid

    def _refresh_jwks(self) -> None:
        # Caller holds the lock (or is __init__).
        keys = [self._current, *([self._next] if self._next is not None else []), *self._retired]
        body = {"keys": [_public_jwk(k) for k in keys]}
        self._jwks_body = json.dumps(body, separators=(",", ":")).encode("ascii")
