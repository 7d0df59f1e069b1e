"""The state one running emulator serves from, and the checks every route shares."""

from __future__ import annotations

import hmac
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
from descope_keys.emulator._wire import UNAUTHORIZED, ApiFailure, parse_body

__all__ = ["SIGNING_KEY_META", "EmulatorState", "random_id"]

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
    created_by: str = "management-key"
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)
    faults: Faults = field(default_factory=Faults)
    request_counts: Counter[str] = field(default_factory=Counter)

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


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (``{}`` when empty), or answer 400/413.

    Every value in it is checked (depth, finite numbers, 64-bit integers,
    epoch ranges) before any route sees it: see ``_values``.
    """
    body = parse_body(await request.read())
    check_values(body)
    return body
