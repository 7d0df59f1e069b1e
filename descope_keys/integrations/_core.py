"""The framework-independent half of the web integrations, written once.

Every adapter does the same four things and only translates headers and
responses: skip excluded paths, read exactly one ``Bearer`` credential,
validate it with the client, and check the required roles, permissions and
tenant. The outcome is either an :class:`~descope_keys.AccessKeyToken` or a
:class:`Denial` that describes the HTTP answer (status, headers, JSON body).

Stable error codes (the ``error`` member of every JSON body):

* ``invalid_token`` (401, ``WWW-Authenticate: Bearer error="invalid_token"``):
  no credential, a malformed ``Authorization`` header, or a token that failed
  validation. ``reason`` is ``missing_token``, ``malformed_authorization`` or
  the validator's :attr:`~descope_keys.errors.TokenValidationError.reason`.
* ``insufficient_scope`` (403, ``WWW-Authenticate: Bearer
  error="insufficient_scope"``): a valid token without a required role
  (``missing_role``), permission (``missing_permission``) or tenant
  (``tenant_not_allowed``). Which one is missing is not disclosed.
* ``jwks_unavailable`` (503, no ``WWW-Authenticate``): the key set could not
  be fetched, so the token was not judged at all; the client may retry.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from .._arguments import check_collection
from .._jwt_checks import MAX_TOKEN_CHARS
from .._tokens import AccessKeyToken
from ..errors import ApiError, InvalidArgumentError, TokenValidationError, TransportError

__all__ = [
    "AsyncTokenValidating",
    "Denial",
    "Guard",
    "Requirement",
    "SyncTokenValidating",
    "bearer_token",
    "check_client",
    "invalid_token",
    "moved_require",
]

_log: Final = logging.getLogger("descope_keys.integrations")

# Room for the scheme and stray whitespace around a token of the largest size
# the validator accepts; anything longer is rejected before it is split.
MAX_AUTHORIZATION_CHARS: Final = MAX_TOKEN_CHARS + 64

_REASON_PHRASES: Final = {401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}
_CHALLENGES: Final = {
    "invalid_token": 'Bearer error="invalid_token"',
    "insufficient_scope": 'Bearer error="insufficient_scope"',
}


class AsyncTokenValidating(Protocol):
    """What the aiohttp and ASGI adapters need: ``AsyncDescopeKeys`` fits."""

    async def validate_token(
        self, jwt: str, *, audience: str | None = None
    ) -> AccessKeyToken: ...  # pragma: no cover - protocol


class SyncTokenValidating(Protocol):
    """What the WSGI adapter needs: ``DescopeKeys`` fits."""

    def validate_token(
        self, jwt: str, *, audience: str | None = None
    ) -> AccessKeyToken: ...  # pragma: no cover - protocol


def check_client(client: object, *, asynchronous: bool) -> None:
    """Fail at start-up, not on every request, when the client does not fit the adapter."""
    validate = getattr(client, "validate_token", None)
    if not callable(validate):
        raise InvalidArgumentError("client", "must be a descope-keys client")
    if inspect.iscoroutinefunction(validate) != asynchronous:
        wanted = "an AsyncDescopeKeys" if asynchronous else "a DescopeKeys (synchronous)"
        raise InvalidArgumentError("client", f"must be {wanted} here")


class Denial:
    """An HTTP answer that refuses a request, ready for any framework.

    Attributes:
        status: 401, 403 or 503.
        error: The stable error code (``invalid_token`` …).
        reason: A stable, more specific code, safe to show to the caller.
        headers: Header name/value pairs, ``Content-Type`` and
            ``Content-Length`` included.
        body: The UTF-8 JSON body ``{"error": …, "reason": …}``.
    """

    __slots__ = ("body", "error", "headers", "reason", "status")

    def __init__(self, status: int, error: str, reason: str) -> None:
        self.status = status
        self.error = error
        self.reason = reason
        self.body = json.dumps({"error": error, "reason": reason}, separators=(",", ":")).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(self.body))),
            ("Cache-Control", "no-store"),
        ]
        challenge = _CHALLENGES.get(error)
        if challenge is not None:
            headers.append(("WWW-Authenticate", challenge))
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)

    def __repr__(self) -> str:
        return f"Denial({self.status}, {self.error!r}, {self.reason!r})"

    @property
    def status_line(self) -> str:
        """The WSGI status string, e.g. ``"401 Unauthorized"``."""
        return f"{self.status} {_REASON_PHRASES[self.status]}"

    @property
    def payload(self) -> dict[str, str]:
        """The JSON body as a dict (for frameworks that render their own)."""
        return {"error": self.error, "reason": self.reason}


@functools.lru_cache(maxsize=64)
def invalid_token(reason: str) -> Denial:
    """The 401 answer for a missing or rejected credential (``reason`` is a stable code)."""
    return Denial(401, "invalid_token", reason)


MISSING_TOKEN: Final = invalid_token("missing_token")
MALFORMED_AUTHORIZATION: Final = invalid_token("malformed_authorization")
OVERSIZED: Final = invalid_token("oversized")
MISSING_ROLE: Final = Denial(403, "insufficient_scope", "missing_role")
MISSING_PERMISSION: Final = Denial(403, "insufficient_scope", "missing_permission")
TENANT_NOT_ALLOWED: Final = Denial(403, "insufficient_scope", "tenant_not_allowed")
JWKS_UNAVAILABLE: Final = Denial(503, "jwks_unavailable", "jwks_unavailable")


def bearer_token(values: Sequence[str]) -> str | Denial:
    """The JWT of the ``Authorization`` header values, or the 401 to answer.

    Exactly one header, of the form ``Bearer <token>`` (scheme in any case,
    any whitespace around), is accepted; the token is not inspected here.
    """
    if len(values) != 1:
        return MISSING_TOKEN if not values else MALFORMED_AUTHORIZATION
    value = values[0]
    if len(value) > MAX_AUTHORIZATION_CHARS:
        return OVERSIZED
    parts = value.split()
    if not parts:
        return MISSING_TOKEN
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return MALFORMED_AUTHORIZATION
    return parts[1]


def _rejected(exc: TokenValidationError) -> Denial:
    _log.debug("bearer token rejected: %s", exc.reason)
    return invalid_token(exc.reason)


def _unavailable(exc: TransportError | ApiError) -> Denial:
    # The message names the failure (SDK text or the server's error fields), never a token.
    _log.warning("bearer token not judged, the JWKS is unavailable: %s", exc)
    return JWKS_UNAVAILABLE


def _names(argument: str, values: Iterable[str]) -> tuple[str, ...]:
    names: list[str] = []
    for name in check_collection(argument, values, what="strings"):
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(argument, "must hold non-empty strings")
        names.append(name)
    return tuple(names)


class Requirement:
    """Roles and permissions that must all be granted, at project level or in one tenant.

    With ``tenant=None`` they are checked against the token's project-level
    ``roles``/``permissions``. With a tenant id the token must belong to that
    tenant (its ``tenants`` claim, or ``dct`` when ``tenants`` is absent) and
    they are checked within it; project-level grants do not count there.
    """

    __slots__ = ("_empty", "permissions", "roles", "tenant")

    def __init__(
        self,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        tenant: str | None = None,
    ) -> None:
        if tenant is not None and (not isinstance(tenant, str) or not tenant):
            raise InvalidArgumentError("tenant", "must be a non-empty string or None")
        self.roles = _names("roles", roles)
        self.permissions = _names("permissions", permissions)
        self.tenant = tenant
        self._empty = not self.roles and not self.permissions and tenant is None

    def __repr__(self) -> str:
        return (
            f"Requirement(roles={self.roles!r}, permissions={self.permissions!r}, "
            f"tenant={self.tenant!r})"
        )

    def judge(self, token: AccessKeyToken | None) -> Denial | None:
        """None when ``token`` meets the requirement, else the answer: 403, or 401 without one.

        A missing token (None: nothing validated one for this request) never
        meets a requirement, even an empty one.
        """
        if token is None:
            return MISSING_TOKEN
        if self._empty:
            return None
        tenant = self.tenant
        if tenant is not None and tenant not in token.tenants:
            denial = TENANT_NOT_ALLOWED
        elif not all(token.has_role(role, tenant) for role in self.roles):
            denial = MISSING_ROLE
        elif not all(token.has_permission(p, tenant) for p in self.permissions):
            denial = MISSING_PERMISSION
        else:
            return None
        _log.debug("bearer token of key %s refused: %s", token.key_id, denial.reason)
        return denial


def _has_dot_segment(path: str) -> bool:
    return "/." in path and any(s in (".", "..") for s in path.split("/"))


def _prefixes(exclude: Iterable[str]) -> tuple[str, ...]:
    prefixes = []
    for prefix in _names("exclude", exclude):
        if not prefix.startswith("/"):
            raise InvalidArgumentError("exclude", f"{prefix!r} must start with '/'")
        trimmed = prefix.rstrip("/")
        if not trimmed:
            raise InvalidArgumentError("exclude", "'/' would leave every path open")
        if _has_dot_segment(trimmed) or "//" in trimmed:
            raise InvalidArgumentError("exclude", f"{prefix!r} is not a normalized path")
        prefixes.append(trimmed)
    return tuple(prefixes)


class Guard:
    """One middleware's policy: open paths, audience, and the requirement to meet.

    Args:
        roles: Roles the token must all grant.
        permissions: Permissions the token must all grant.
        tenant: Check ``roles``/``permissions`` within this tenant (see
            :class:`Requirement`).
        exclude: Path prefixes served without a token. Matching is by whole
            segments and case-sensitive: ``"/health"`` opens ``/health`` and
            ``/health/live`` but not ``/healthz``; a trailing ``/`` changes
            nothing. Paths holding ``.``/``..`` segments or ``//`` are never
            excluded (fails closed).
        audience: When given, tokens must carry it in ``aud``.
        latin1_paths: Match against PEP 3333 paths (UTF-8 bytes decoded as
            Latin-1), as WSGI servers present them.

    Raises:
        InvalidArgumentError: an unusable argument (e.g. a bare string for ``roles``).
    """

    __slots__ = ("_exclude", "audience", "requirement")

    def __init__(
        self,
        *,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        tenant: str | None = None,
        exclude: Iterable[str] = (),
        audience: str | None = None,
        latin1_paths: bool = False,
    ) -> None:
        if audience is not None and (not isinstance(audience, str) or not audience):
            raise InvalidArgumentError("audience", "must be a non-empty string or None")
        self.requirement = Requirement(roles, permissions, tenant)
        prefixes = _prefixes(exclude)
        if latin1_paths:
            prefixes = tuple(p.encode("utf-8").decode("latin-1") for p in prefixes)
        self._exclude = prefixes
        self.audience = audience

    def is_excluded(self, path: str) -> bool:
        """Whether ``path`` (already percent-decoded, without query) is left open."""
        for prefix in self._exclude:
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                return "//" not in path and not _has_dot_segment(path)
        return False

    async def authenticate(
        self, client: AsyncTokenValidating, authorization: Sequence[str]
    ) -> AccessKeyToken | Denial:
        """Validate the bearer credential of ``authorization`` and apply the requirement."""
        jwt = bearer_token(authorization)
        if isinstance(jwt, Denial):
            return jwt
        try:
            token = await client.validate_token(jwt, audience=self.audience)
        except TokenValidationError as exc:
            return _rejected(exc)
        except (TransportError, ApiError) as exc:
            return _unavailable(exc)
        return self.requirement.judge(token) or token

    def authenticate_sync(
        self, client: SyncTokenValidating, authorization: Sequence[str]
    ) -> AccessKeyToken | Denial:
        """:meth:`authenticate` for a synchronous client, in the calling thread."""
        jwt = bearer_token(authorization)
        if isinstance(jwt, Denial):
            return jwt
        try:
            token = client.validate_token(jwt, audience=self.audience)
        except TokenValidationError as exc:
            return _rejected(exc)
        except (TransportError, ApiError) as exc:
            return _unavailable(exc)
        return self.requirement.judge(token) or token


def moved_require(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``require``, which moved from ``old`` to ``new``.

    It imports ``new`` (and so its framework) only when ``require`` is asked
    for, and warns where the caller asked.
    """

    def __getattr__(name: str) -> Any:
        if name != "require":
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        require = importlib.import_module(new).require
        warnings.warn(
            f"{old}.require moved to {new}.require; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return require

    return __getattr__
