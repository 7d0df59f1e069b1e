"""Local validation of access-key session JWTs into :class:`AccessKeyToken` values.

The hot path (a warm key set) takes no lock, does no I/O and needs no event
loop, so the sync facade runs it in the caller's thread. Work that does not
depend on the token is done once: keys are imported at fetch time, header
segments are parsed once (a small bounded cache), and a token already
verified is served from a bounded cache keyed by its exact string, with its
time claims and its key's presence re-checked on every hit.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Final, TypeVar

import attrs

from . import telemetry
from ._arguments import check_leeway, configuration_errors
from ._jwks import JwksCache, JwksFetch, JwksPolicy, VerifyKey, load_pinned_keys
from ._jwt_checks import (
    MAX_TOKEN_CHARS,
    FrozenClaims,
    audience_of,
    b64url_decode,
    check_audience,
    check_depth,
    check_issuer,
    check_times,
    fail,
    json_object,
    parse_header,
    split_token,
    string_tuple,
    time_claims,
)
from .errors import (
    ConfigurationError,
    ExpiredTokenError,
    InvalidArgumentError,
    TokenValidationError,
    TransportError,
    UnknownKeyError,
)

__all__ = ["AccessKeyToken", "TenantClaims", "TokenValidator"]

_HEADER_CACHE_SIZE: Final = 64
_VERIFIED_CACHE_SIZE: Final = 1024
_NO_TENANTS: Final[Mapping[str, TenantClaims]] = MappingProxyType({})
_UTC: Final = timezone.utc
_fromtimestamp: Final = datetime.fromtimestamp
_NO_CLAIMS: Final[Mapping[str, Any]] = MappingProxyType({})
# Counted on every validation: the plain counter telemetry reports (see there).
_VALIDATED: Final = telemetry.VALIDATED
# Longer tokens are checked for shape before the verified-token cache is asked:
# hashing them for the lookup would cost more than rejecting a malformed one.
_SHAPE_FIRST_CHARS: Final = 8 * 1024
_K = TypeVar("_K")
_V = TypeVar("_V")


@attrs.frozen
class TenantClaims:
    """The roles and permissions a token grants within one tenant."""

    roles: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()


@attrs.frozen
class AccessKeyToken:
    """A validated access-key session JWT and its claims. Everything is read-only.

    Attributes:
        jwt: The token itself (hidden from ``repr``: it is a bearer credential).
        key_id: The access key id (``dsub`` when present, else ``sub``).
        project_id: The Descope project that issued the token.
        issued_at: ``iat`` as an aware UTC datetime, None when absent.
        expires_at: ``exp`` as an aware UTC datetime.
        roles: Project-level roles.
        permissions: Project-level permissions.
        tenants: Per-tenant roles and permissions. When the token has no
            ``tenants`` claim but a current tenant (``dct``), the top-level
            roles and permissions describe that tenant.
        nsec: Claims the *caller* passed at exchange time. Whoever holds the
            access key chooses them freely: never base an authorization
            decision on them. Trusted custom claims (set on the key by an
            operator) are top-level entries of ``claims``.
        claims: Every claim, as a read-only mapping (JSON arrays are tuples).
        current_tenant: The ``dct`` claim (the selected tenant), if any.
    """

    jwt: str = attrs.field(repr=False)
    key_id: str = attrs.field(hash=False)
    project_id: str = attrs.field(hash=False)
    issued_at: datetime | None = attrs.field(hash=False)
    expires_at: datetime = attrs.field(hash=False)
    roles: tuple[str, ...] = attrs.field(hash=False)
    permissions: tuple[str, ...] = attrs.field(hash=False)
    tenants: Mapping[str, TenantClaims] = attrs.field(hash=False)
    nsec: Mapping[str, Any] = attrs.field(hash=False)
    claims: Mapping[str, Any] = attrs.field(hash=False)
    current_tenant: str | None = attrs.field(default=None, hash=False)

    def has_role(self, role: str, tenant: str | None = None) -> bool:
        """Whether the token grants ``role``, at project level or in ``tenant``."""
        if tenant is None:
            return role in self.roles
        if not isinstance(tenant, str):  # a list would not even hash
            raise InvalidArgumentError("tenant", f"must be a string, not {type(tenant).__name__}")
        claims = self.tenants.get(tenant)
        return claims is not None and role in claims.roles

    def has_permission(self, permission: str, tenant: str | None = None) -> bool:
        """Whether the token grants ``permission``, at project level or in ``tenant``."""
        if tenant is None:
            return permission in self.permissions
        if not isinstance(tenant, str):  # a list would not even hash
            raise InvalidArgumentError("tenant", f"must be a string, not {type(tenant).__name__}")
        claims = self.tenants.get(tenant)
        return claims is not None and permission in claims.permissions


# A cached verification: the token and what must be re-checked on every hit
# (its key object, exp, nbf, iat, aud). A tuple: cheapest to build.
_Verified = tuple[
    AccessKeyToken, VerifyKey, float, "float | None", "float | None", "tuple[str, ...] | None"
]


def _remember(cache: dict[_K, _V], key: _K, value: _V, limit: int) -> None:
    """Insert into a bounded dict, evicting the oldest entry; safe without a lock."""
    if len(cache) >= limit:
        # Another thread may evict or resize concurrently: one eviction is enough.
        with contextlib.suppress(StopIteration, KeyError, RuntimeError):
            del cache[next(iter(cache))]
    cache[key] = value


def _tenants(
    claims: dict[str, Any], roles: tuple[str, ...], permissions: tuple[str, ...]
) -> tuple[Mapping[str, TenantClaims], str | None]:
    dct = claims.get("dct")
    if dct is not None and (type(dct) is not str or not dct):
        fail("bad_claim", "the token dct claim is malformed")
    raw = claims.get("tenants")
    if raw is None:
        if dct is None:
            return _NO_TENANTS, None
        return MappingProxyType({dct: TenantClaims(roles, permissions)}), dct
    if type(raw) is not dict:
        fail("bad_claim", "the token tenants claim is malformed")
    tenants: dict[str, TenantClaims] = {}
    for tenant_id, entry in raw.items():
        if type(entry) is not dict:
            fail("bad_claim", "the token tenants claim is malformed")
        tenants[tenant_id] = TenantClaims(
            string_tuple(entry, "roles"), string_tuple(entry, "permissions")
        )
    return MappingProxyType(tenants), dct


class TokenValidator:
    """Validates session JWTs of one project against its (cached) JWKS.

    Args:
        project_id: The project whose tokens are accepted (checked against ``iss``).
        fetch: Fetches the JWKS; None only with ``public_key``.
        policy: JWKS caching policy.
        leeway: Seconds of clock skew tolerated for ``exp``, ``nbf`` and ``iat``,
            from 0 to 3600.
        public_key: Pinned keys (a JWK or JWKS, as a dict or JSON text). With
            it, nothing is ever fetched.
        issuer: When given, ``iss`` must be exactly this string; otherwise
            the project id, or any URL whose last path segment is it.

    Raises:
        ConfigurationError: no usable pinned key, neither ``fetch`` nor
            ``public_key``, an empty project id or issuer, or a bad leeway.
    """

    def __init__(
        self,
        project_id: str,
        *,
        fetch: JwksFetch | None,
        policy: JwksPolicy = JwksPolicy(),
        leeway: float = 5.0,
        public_key: Mapping[str, Any] | str | None = None,
        issuer: str | None = None,
    ) -> None:
        if not isinstance(project_id, str) or not project_id:
            raise ConfigurationError("a project id is required to validate tokens")
        if issuer is not None and (type(issuer) is not str or not issuer):
            raise ConfigurationError("issuer must be a non-empty string")
        with configuration_errors():
            checked_leeway = check_leeway(leeway)
        pinned = load_pinned_keys(public_key) if public_key is not None else None
        if pinned is None and fetch is None:
            raise ConfigurationError("either a JWKS fetcher or a public_key is required")
        self._project_id = project_id
        self._issuer = issuer
        self._leeway = checked_leeway
        self._cache = JwksCache(fetch, policy, pinned)
        self._headers: dict[str, tuple[str, str]] = {}
        self._verified: dict[str, _Verified] = {}

    @property
    def policy(self) -> JwksPolicy:
        """The JWKS caching policy in force."""
        return self._cache.policy

    async def validate(self, jwt: str, *, audience: str | None = None) -> AccessKeyToken:
        """Validate ``jwt``, fetching the key set first when it must.

        Args:
            jwt: A compact session JWT.
            audience: When given, the token's ``aud`` must name it.

        Returns:
            The validated token.

        Raises:
            TokenValidationError: the token is rejected; ``reason`` says why
                (:class:`ExpiredTokenError`, :class:`UnknownKeyError` included).
            TransportError: no usable key set could be obtained (fails closed).
        """
        try:
            token = self._check(jwt, audience, may_fetch=True)
            if token is None:
                await self._cache.refresh()
                token = self._check(jwt, audience, may_fetch=False)
                if token is None:  # pragma: no cover - lookup raises instead when may_fetch=False
                    raise TransportError("no usable key set", operation="jwks")
        except TokenValidationError as exc:
            telemetry.rejected(exc.reason)
            raise
        next(_VALIDATED)
        return token

    async def validate_issued(self, jwt: str, *, audience: str | None = None) -> AccessKeyToken:
        """Validate a JWT the service has just issued to us (an exchange response).

        Like :meth:`validate`, except that an unknown ``kid`` triggers one
        refresh even inside the unknown-kid cooldown: the token came straight
        from the service, so its new ``kid`` means the signing key rotated.
        """
        try:
            return await self.validate(jwt, audience=audience)
        except UnknownKeyError:
            if not self._cache.can_fetch:
                raise
        await self._cache.refresh(force=True)
        return await self.validate(jwt, audience=audience)

    def validate_local(self, jwt: str, *, audience: str | None = None) -> AccessKeyToken | None:
        """Validate ``jwt`` without I/O, from any thread; never blocks.

        Returns:
            The validated token, or None when the key set must be fetched
            first (cold cache, expired set, or an unknown ``kid`` whose
            refresh is allowed now): then await :meth:`validate` on the loop.

        Raises:
            TokenValidationError: the token is rejected.
            TransportError: no usable key set, and a fetch is not allowed yet.
        """
        try:
            token = self._check(jwt, audience, may_fetch=True)
        except TokenValidationError as exc:
            telemetry.rejected(exc.reason)
            raise
        if token is not None:
            next(_VALIDATED)
        return token

    async def aclose(self) -> None:
        """Stop background refreshes; idempotent."""
        await self._cache.aclose()

    def _check(self, jwt: str, audience: str | None, *, may_fetch: bool) -> AccessKeyToken | None:
        if type(jwt) is not str:
            if not isinstance(jwt, str):
                fail("malformed", "the token is not a string")
            # A str subclass could redefine __eq__/__hash__: the cache keys on plain text.
            jwt = str.__str__(jwt)
        size = len(jwt)
        if size > MAX_TOKEN_CHARS:
            fail("oversized", "the token is too large")
        if audience is not None and not isinstance(audience, str):
            raise InvalidArgumentError("audience", "must be a string")
        parts = split_token(jwt) if size > _SHAPE_FIRST_CHARS else None

        hit = self._verified.get(jwt)
        if hit is not None:
            token, verified_key, exp, nbf, iat, aud = hit
            key = self._cache.lookup(verified_key.kid, may_fetch)
            if key is None:
                return None
            if key is verified_key:
                try:
                    check_times(exp, nbf, iat, time.time(), self._leeway)
                except ExpiredTokenError:
                    self._verified.pop(jwt, None)
                    raise
                check_audience(aud, audience)
                return token
            self._verified.pop(jwt, None)  # a new key under that kid: verify again

        header_segment, payload_segment, signature_segment = parts or split_token(jwt)
        header = self._headers.get(header_segment)
        if header is None:
            header = parse_header(header_segment)
            _remember(self._headers, header_segment, header, _HEADER_CACHE_SIZE)
        kid, alg = header

        key = self._cache.lookup(kid, may_fetch)
        if key is None:
            return None
        if alg != key.alg:
            fail("alg_mismatch", "the token algorithm does not match its key")
        signature = b64url_decode(signature_segment)  # small: split_token capped it
        # The signature covers the segments as sent (RFC 7515 §5.2): verify it
        # first, so an unsigned payload is never decoded, let alone parsed.
        # (split_token refused any non-ASCII token.)
        signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
        if len(signature) != key.signature_size or not key.verify(signing_input, signature):
            fail("bad_signature", "the token signature is not valid")
        payload = b64url_decode(payload_segment)
        claims = json_object(payload, "payload")
        check_depth(payload, claims)
        token, verified = self._token(jwt, key, claims, audience)
        _remember(self._verified, jwt, verified, _VERIFIED_CACHE_SIZE)
        return token

    def _token(
        self, jwt: str, key: VerifyKey, claims: dict[str, Any], audience: str | None
    ) -> tuple[AccessKeyToken, _Verified]:
        # Runs for every distinct token, right after an RSA verify has evicted
        # the interpreter's caches: kept to few calls on purpose.
        get = claims.get
        exp, nbf, iat = time_claims(get("exp"), get("nbf"), get("iat"))
        check_times(exp, nbf, iat, time.time(), self._leeway)
        iss = get("iss")
        issuer = self._issuer
        if issuer is not None:
            if iss != issuer:
                fail("bad_issuer", "the token was not issued by the pinned issuer")
        elif iss != self._project_id:
            check_issuer(iss, self._project_id)
        key_id = get("dsub")
        if key_id is None:
            key_id = get("sub")
        if type(key_id) is not str or not key_id:
            fail("missing_sub", "the token has no subject")
        aud = get("aud")
        if aud is not None or audience is not None:
            aud = audience_of(aud)
            check_audience(aud, audience)
        roles = string_tuple(claims, "roles")
        permissions = string_tuple(claims, "permissions")
        tenants, current_tenant = _tenants(claims, roles, permissions)
        if current_tenant is not None and get("tenants") is None:
            # docs/wire.md §5: without `tenants`, the top-level roles and permissions
            # are the dct tenant's, not the project's.
            roles = permissions = ()
        nsec = get("nsec")
        if nsec is None:
            nsec = _NO_CLAIMS
        elif type(nsec) is dict:
            nsec = FrozenClaims(nsec)
        else:
            fail("bad_claim", "the token nsec claim is malformed")
        # Positional: measurably cheaper than keywords on this path; the
        # order is AccessKeyToken's field order (a test pins it).
        token = AccessKeyToken(
            jwt,
            key_id,
            self._project_id,
            None if iat is None else _fromtimestamp(iat, _UTC),
            _fromtimestamp(exp, _UTC),
            roles,
            permissions,
            tenants,
            nsec,
            FrozenClaims(claims),
            current_tenant,
        )
        return token, (token, key, exp, nbf, iat, aud)
