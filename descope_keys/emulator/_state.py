"""The state one running emulator serves from, and the checks every route shares."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import secrets
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from descope_keys.emulator._hooks import Clock, Faults, RateLimiter
from descope_keys.emulator._signing import SigningKeys
from descope_keys.emulator._store import MemoryStore
from descope_keys.emulator._values import check_values
from descope_keys.emulator._wire import BODY_TOO_LARGE, UNAUTHORIZED, ApiFailure, parse_body

__all__ = ["BODY_TIMEOUT", "SIGNING_KEY_META", "EmulatorState", "IPNetwork", "random_id"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Seconds a client may take to send a request body once its headers are in.
BODY_TIMEOUT = 10.0
_REQUEST_TIMEOUT = "E900408"

SIGNING_KEY_META = "signing_key_pem"
_ALNUM = string.ascii_letters + string.digits


def random_id(prefix: str, length: int) -> str:
    """``prefix`` followed by ``length`` random letters and digits."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    try:
        token.encode("utf-8")  # undecodable header bytes arrive as lone surrogates
    except UnicodeEncodeError:
        token = ""
    if scheme.lower() != "bearer" or not token:
        raise ApiFailure(401, UNAUTHORIZED, "missing or malformed Authorization header")
    return token


@dataclass
class EmulatorState:
    """Everything the routes of one emulator read and change.

    Only the event-loop thread touches ``store``; the hook objects lock
    themselves, so the thread-backed emulator may change them from outside.
    """

    project_id: str
    management_key: str
    store: MemoryStore
    signing: SigningKeys
    clock: Clock
    role_permissions: Mapping[str, Sequence[str]]
    session_ttl: int
    trust_forwarded_for: bool
    persist_signing_key: bool
    #: Proxies whose X-Forwarded-For hops are believed; None: the socket peer only.
    trusted_proxies: tuple[IPNetwork, ...] | None = None
    created_by: str = "management-key"
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)
    faults: Faults = field(default_factory=Faults)
    request_counts: Counter[str] = field(default_factory=Counter)
    # Test hook: key id -> the session lifetime of that key's tokens.
    key_session_ttls: dict[str, int] = field(default_factory=dict)

    def require_management(self, request: web.Request) -> None:
        """Check ``Bearer <projectId>:<managementKey>`` in constant time, or answer 401."""
        project_id, _, key = _bearer(request).partition(":")
        good_project = hmac.compare_digest(project_id.encode(), self.project_id.encode())
        good_key = hmac.compare_digest(key.encode(), self.management_key.encode())
        if not (good_project and good_key):
            raise ApiFailure(401, UNAUTHORIZED, "invalid project id or management key")

    def access_key_secret(self, request: web.Request) -> str:
        """The secret of ``Bearer <projectId>:<secret>[:...]``, or answer 401.

        The official SDK appends ``:<authManagementKey>`` when one is
        configured; that part is not needed here and is ignored.
        """
        parts = _bearer(request).split(":")
        if len(parts) < 2 or parts[0] != self.project_id or not parts[1]:
            raise ApiFailure(401, UNAUTHORIZED, "invalid project id or access key")
        return parts[1]

    def permissions_of(self, roles: Sequence[str]) -> list[str]:
        """The permissions the role map grants to ``roles``, first-seen order, no repeats."""
        granted: dict[str, None] = {}
        for role in roles:
            for permission in self.role_permissions.get(role, ()):
                granted[permission] = None
        return list(granted)

    def session_ttl_of(self, key_id: str) -> int:
        """The lifetime of the session tokens issued to ``key_id`` (the hook's, or the default)."""
        return self.key_session_ttls.get(key_id, self.session_ttl)

    def reset_signing_keys(self) -> str:
        """Sign with the first key again, alone in the JWKS (persisted as a switch is)."""
        kid = self.signing.reset()
        if self.persist_signing_key:
            self.store.set_meta(SIGNING_KEY_META, self.signing.current_pem())
        return kid

    def switch_signing_key(self) -> str:
        """Sign with the published next key from now on; returns its ``kid``.

        The new key is persisted when the emulator owns its key and has a file,
        so a restart keeps signing with it.
        """
        kid = self.signing.switch()
        if self.persist_signing_key:
            self.store.set_meta(SIGNING_KEY_META, self.signing.current_pem())
        return kid

    def stored_keys(self) -> list[dict[str, Any]]:
        """Every stored key as wire AccessKey JSON (copies, no secrets)."""
        return [key.copy().data for key in self.store.all()]


async def read_json(request: web.Request, *, limit: int | None = None) -> dict[str, Any]:
    """The request body as a JSON object (``{}`` when empty), or answer 400/408/413.

    ``limit`` caps the body below the application's ``client_max_size``; a
    body must arrive within :data:`BODY_TIMEOUT` seconds (a slow sender
    would hold its connection and handler otherwise). Every value in it is
    checked (depth, finite numbers, 64-bit integers, epoch ranges) before any
    route sees it: see ``_values``.
    """
    try:
        raw = await asyncio.wait_for(_read(request, limit), BODY_TIMEOUT)
    except asyncio.TimeoutError:
        raise ApiFailure(408, _REQUEST_TIMEOUT, "request body not received in time") from None
    body = parse_body(raw)
    check_values(body)
    return body


async def _read(request: web.Request, limit: int | None) -> bytes:
    if limit is None:
        return await request.read()
    if request.content_length is not None and request.content_length > limit:
        raise ApiFailure(413, BODY_TOO_LARGE, f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiFailure(413, BODY_TOO_LARGE, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
