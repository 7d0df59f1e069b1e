"""JWKS cache: key import, freshness, single flight, and the unknown-kid rate limit.

Reads are lock-free: the current key set is an immutable :class:`_KeySet`
published by a single attribute assignment, so any thread may read it while
the event loop that owns the cache replaces it. All writes happen on that
loop; other threads only *ask* for a refresh (``call_soon_threadsafe``).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import attrs

from . import telemetry
from ._arguments import number_field
from ._jwt_checks import ALLOWED_ALGORITHMS, KID_PATTERN, b64url_decode
from .errors import (
    ConfigurationError,
    RequestTimeoutError,
    TokenValidationError,
    TransportError,
    UnknownKeyError,
)

if TYPE_CHECKING:
    # joserfc and cryptography come in at the first key import (_crypto):
    # importing the SDK, or a client that has seen no key yet, needs neither.
    # asyncio: see _retry.
    import asyncio

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from joserfc.jwk import RSAKey
    from joserfc.jws import JWSRegistry

__all__ = ["JwksFetch", "JwksPolicy"]

_log = logging.getLogger("descope_keys.jwks")

JwksFetch = Callable[[float], Awaitable[tuple[object, str | None]]]
"""Fetch the project's JWKS: called with the timeout, returns ``(json_body,
cache_control_header)``; raises TransportError or ApiError."""

_MIN_RSA_BITS: Final = 2048
# Verification cost grows with the modulus: cap it so a JWKS cannot make
# every validation expensive.
_MAX_RSA_BITS: Final = 8192
_MAX_RSA_EXPONENT: Final = 2**32 - 1
_MAX_KEYS: Final = 32
# A server's max-age below this is ignored (unless ttl itself is lower), so
# "max-age=0" cannot turn into a JWKS request per validation.
_MIN_LIFETIME: Final = 30.0
# Refresh-ahead point, as a fraction of the lifetime.
_REFRESH_AHEAD: Final = 0.8
# After a failed fetch, on-demand fetches wait at most this long (and at
# most unknown_kid_cooldown) before trying again.
_MAX_FAILURE_BACKOFF: Final = 5.0
# While a stale key set still validates, consecutive failures back off
# exponentially up to this, so a fleet does not hammer a failing endpoint.
_MAX_STALE_BACKOFF: Final = 120.0
_MAX_AGE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?=,|$)", re.IGNORECASE)
_NO_STORE: Final = re.compile(r"(?:^|,)\s*no-(?:store|cache)\s*(?=,|=|$)", re.IGNORECASE)
_SECONDS: Final = number_field(minimum=0.0, unit="seconds")
_POSITIVE_SECONDS: Final = number_field(minimum=0.0, exclusive_minimum=True, unit="seconds")


class _Crypto(NamedTuple):
    """What key import and verification take from joserfc and cryptography."""

    #: joserfc's algorithm registry, restricted to what we accept.
    registry: JWSRegistry
    rsa_key: type[RSAKey]
    import_errors: tuple[type[Exception], ...]
    invalid_signature: type[Exception]
    pkcs1: AsymmetricPadding
    hashes: Mapping[str, hashes.HashAlgorithm]


@functools.cache
def _crypto() -> _Crypto:
    """Import joserfc and cryptography, once, at the first key import."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from joserfc.errors import JoseError
    from joserfc.jwk import RSAKey
    from joserfc.jws import JWSRegistry

    return _Crypto(
        registry=JWSRegistry(algorithms=sorted(ALLOWED_ALGORITHMS)),
        rsa_key=RSAKey,
        import_errors=(JoseError, TokenValidationError, ValueError, TypeError),
        invalid_signature=InvalidSignature,
        pkcs1=padding.PKCS1v15(),
        hashes={"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()},
    )


@attrs.frozen
class JwksPolicy:
    """How the JWKS (the project's public signing keys) is cached.

    Attributes:
        ttl: Longest time, in seconds, a fetched key set counts as fresh. A
            shorter ``Cache-Control: max-age`` from the server wins, but never
            below 30 s (or ``ttl`` if smaller). The set is refreshed in the
            background once 80% of its lifetime has passed, so validations
            with warm keys never wait on the network.
        unknown_kid_cooldown: Minimum seconds between refreshes forced by a
            token whose ``kid`` is not cached. Other such tokens fail fast
            with :class:`~descope_keys.UnknownKeyError`, so random ``kid``
            values cannot turn into a stream of JWKS requests.
        max_stale: How long past its lifetime the last good key set is still
            used while refreshes fail. After that, validation fails closed.
        timeout: Seconds allowed for one JWKS request.

    Raises:
        InvalidArgumentError: a value is not a number (bools are not), is
            negative, not finite, or zero where zero makes no sense (``ttl``,
            ``timeout``).
    """

    ttl: float = attrs.field(default=600.0, validator=_POSITIVE_SECONDS)
    unknown_kid_cooldown: float = attrs.field(default=30.0, validator=_SECONDS)
    max_stale: float = attrs.field(default=86400.0, validator=_SECONDS)
    timeout: float = attrs.field(default=5.0, validator=_POSITIVE_SECONDS)


@attrs.frozen(eq=False)
class VerifyKey:
    """One imported signing key. Compared by identity: the verified-token
    cache trusts a cached result only while this very object is in the set."""

    kid: str
    alg: str
    signature_size: int
    fingerprint: tuple[str, str, str]
    jwk: RSAKey
    _public: RSAPublicKey
    _hash: hashes.HashAlgorithm
    # Held per key rather than as module constants: cryptography is imported
    # with the first key, not with this module.
    _padding: AsymmetricPadding = attrs.field(repr=False)
    _invalid_signature: type[Exception] = attrs.field(repr=False)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Check a signature with this key's algorithm (the token's ``alg`` matched it)."""
        # joserfc's RSAAlgorithm.verify makes this same call after a key_ops
        # lookup per token; calling the key joserfc imported directly saves
        # that (see benchmarks/validation.py).
        try:
            self._public.verify(signature, signing_input, self._padding, self._hash)
        except self._invalid_signature:
            return False
        return True


@attrs.frozen
class _KeySet:
    """A published key set and its deadlines (monotonic times).

    The freshness rule, owned here: a set is usable until ``fresh_until``;
    while refreshes fail, :meth:`stale` republishes it usable until
    ``stale_until``. Lookups compare with ``usable_until`` only: they run on
    every validation, and a method call there would cost more than the check.
    """

    keys: Mapping[str, VerifyKey]  # never mutated once published
    refresh_at: float
    fresh_until: float
    stale_until: float
    usable_until: float = attrs.field(
        default=attrs.Factory(lambda self: self.fresh_until, takes_self=True)
    )

    def stale(self) -> _KeySet:
        """This set, usable up to ``stale_until``: its refreshes are failing."""
        return attrs.evolve(self, usable_until=self.stale_until)


def _import_jwk(item: object, previous: Mapping[str, VerifyKey]) -> VerifyKey | None:
    """Import one JWK, or None when it is not an acceptable signing key."""
    if not isinstance(item, dict) or item.get("kty") != "RSA":
        return None
    kid, alg, n, e = item.get("kid"), item.get("alg"), item.get("n"), item.get("e")
    key_ops = item.get("key_ops")
    if (
        item.get("use", "sig") != "sig"
        or (key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops))
        or not isinstance(alg, str)
        or alg not in ALLOWED_ALGORITHMS
        or not isinstance(kid, str)
        or not KID_PATTERN.fullmatch(kid)
        or not isinstance(n, str)
        or not isinstance(e, str)
    ):
        return None
    fingerprint = (alg, n, e)
    known = previous.get(kid)
    if known is not None and known.fingerprint == fingerprint:
        return known  # parsed once: a refresh keeps the same object
    crypto = _crypto()
    try:
        modulus = int.from_bytes(b64url_decode(n), "big")
        exponent = int.from_bytes(b64url_decode(e), "big")
        # Odd modulus of a sane size; a small odd exponent (a huge one would
        # make every verification as slow as signing).
        if (
            not _MIN_RSA_BITS <= modulus.bit_length() <= _MAX_RSA_BITS
            or not modulus & 1
            or not 3 <= exponent <= _MAX_RSA_EXPONENT
            or not exponent & 1
        ):
            return None
        # Only public members go in: a JWKS that leaks "d" must not make us
        # hold a private key.
        jwk = crypto.rsa_key.import_key(
            {"kty": "RSA", "n": n, "e": e, "alg": alg, "use": "sig", "kid": kid}
        )
        crypto.registry.get_alg(alg).check_key(jwk)
        public = jwk.public_key
    except crypto.import_errors:
        return None
    return VerifyKey(
        kid,
        alg,
        (public.key_size + 7) // 8,
        fingerprint,
        jwk,
        public,
        crypto.hashes[alg],
        crypto.pkcs1,
        crypto.invalid_signature,
    )


def parse_jwks(body: object, previous: Mapping[str, VerifyKey]) -> dict[str, VerifyKey]:
    """Import every acceptable key of a JWKS body (or of a single JWK)."""
    if isinstance(body, dict) and "keys" not in body and "kty" in body:
        body = {"keys": [body]}
    items = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise TransportError("the response is not a key set", operation="jwks")
    keys: dict[str, VerifyKey] = {}
    skipped = 0
    for item in items[:_MAX_KEYS]:
        key = _import_jwk(item, previous)
        if key is None or key.kid in keys:
            skipped += 1
        else:
            keys[key.kid] = key
    if skipped:
        _log.debug("JWKS: skipped %d key(s) that are not acceptable RSA signing keys", skipped)
    if not keys:
        raise TransportError("the key set has no usable signing key", operation="jwks")
    return keys


def load_pinned_keys(public_key: Mapping[str, Any] | str) -> dict[str, VerifyKey]:
    """Import keys given at construction (a JWK or JWKS, as a dict or JSON text)."""
    body: object = public_key
    if isinstance(public_key, str):
        try:
            body = json.loads(public_key)
        except (ValueError, RecursionError):  # the decoder recurses per nesting level
            raise ConfigurationError("public_key is not valid JSON") from None
    elif isinstance(public_key, Mapping):
        body = dict(public_key)
    try:
        return parse_jwks(body, {})
    except TransportError:
        raise ConfigurationError(
            "public_key holds no usable key "
            "(RSA of 2048+ bits, alg RS256/RS384/RS512, use sig, with a kid)"
        ) from None


def _lifetime(ttl: float, cache_control: str | None) -> float:
    if cache_control:
        max_age: float | None = None
        if _NO_STORE.search(cache_control):
            max_age = 0.0
        else:
            match = _MAX_AGE.search(cache_control)
            if match:
                max_age = float(match.group(1))
        if max_age is not None:
            return max(min(max_age, ttl), min(ttl, _MIN_LIFETIME))
    return ttl


class JwksCache:
    """The key set of one project: fetched lazily, refreshed ahead, served stale on errors.

    ``lookup`` may be called from any thread; ``refresh`` and ``aclose`` run on
    the event loop that owns the cache (the loop of the first fetch).
    """

    def __init__(
        self,
        fetch: JwksFetch | None,
        policy: JwksPolicy,
        pinned: Mapping[str, VerifyKey] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._fetch = fetch
        self._clock = clock
        self.snapshot: _KeySet | None = None
        if pinned is not None:
            self._fetch = None  # pinned keys never touch the network
            self.snapshot = _KeySet(dict(pinned), math.inf, math.inf, math.inf)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._loop_pid = os.getpid()
        self._task: asyncio.Task[None] | None = None
        self._fetching = False
        self._kick_pending = False
        self._last_attempt = -math.inf
        self._failing = False
        self._failures = 0
        self._retry_at = -math.inf
        self._last_error: BaseException | None = None
        self._closed = False

    @property
    def can_fetch(self) -> bool:
        """True unless keys are pinned or the cache is closed."""
        return self._fetch is not None and not self._closed

    # -- any thread -------------------------------------------------------

    def lookup(self, kid: str, may_fetch: bool) -> VerifyKey | None:
        """Return the key for ``kid``; None when the caller should ``await refresh()``.

        Raises:
            UnknownKeyError: ``kid`` is not in a usable key set and no refresh is allowed now.
            TransportError: no usable key set and none can be fetched now.
        """
        snap = self.snapshot
        now = self._clock()
        if snap is None or now >= snap.usable_until:
            if may_fetch and self._fetch is not None and not self._in_backoff(now):
                return None
            raise self._unavailable()
        key = snap.keys.get(kid)
        if key is not None:
            if now >= snap.refresh_at and not self._fetching and not self._in_backoff(now):
                self._request_refresh()
            return key
        if (
            may_fetch
            and self._fetch is not None
            and now >= self._last_attempt + self.policy.unknown_kid_cooldown
            and not self._in_backoff(now)
        ):
            return None
        raise UnknownKeyError("unknown_kid", "the token's signing key is not in the key set")

    def _usable(self, now: float) -> bool:
        snap = self.snapshot
        return snap is not None and now < snap.usable_until

    def _in_backoff(self, now: float) -> bool:
        return self._failing and now < self._retry_at

    def _unavailable(self) -> TransportError:
        if self._fetch is None and self.snapshot is None:  # pragma: no cover - ctor prevents it
            return TransportError("no keys configured", operation="jwks")
        detail = ""
        if self._last_error is not None:
            # Its str() starts with its own "jwks: " when it has the operation too.
            detail = "; last fetch: " + str(self._last_error).removeprefix("jwks: ")
        # No keys because the last fetch got no answer in time: a timeout too.
        timed_out = isinstance(self._last_error, RequestTimeoutError)
        error_class = RequestTimeoutError if timed_out else TransportError
        error = error_class(f"no usable key set{detail}", operation="jwks")
        error.__cause__ = self._last_error
        error.__suppress_context__ = True
        return error

    def _request_refresh(self) -> None:
        loop = self._loop
        if self._kick_pending or self._closed or loop is None or loop.is_closed():
            return
        if os.getpid() != self._loop_pid:
            # A forked child holds a copy of its parent's loop, which never runs
            # here: the next refresh() binds the child's own loop.
            return
        self._kick_pending = True
        if threading.get_ident() == self._loop_thread:
            self._kick()
            return
        try:
            loop.call_soon_threadsafe(self._kick)
        except RuntimeError:  # the loop closed in between; the next refresh() rebinds
            self._kick_pending = False

    # -- the owning loop --------------------------------------------------

    def _kick(self) -> None:
        self._kick_pending = False
        if self._closed or self._fetching or self.snapshot is None:
            return
        now = self._clock()
        if now >= self.snapshot.refresh_at and not self._in_backoff(now):
            self._start(now)

    def _bind(self) -> asyncio.AbstractEventLoop:
        import asyncio

        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # First use, or a new loop (e.g. a fresh portal after os.fork()):
            # a task of another loop cannot be awaited here.
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self._loop_pid = os.getpid()
            self._task = None
            self._fetching = False
            self._kick_pending = False
        return loop

    def _start(self, now: float) -> asyncio.Task[None]:
        assert self._loop is not None
        self._last_attempt = now
        self._fetching = True
        task = self._loop.create_task(self._run(now))
        self._task = task
        return task

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the key set unless a fetch is running (then wait for it) or not allowed now.

        ``force`` skips the unknown-kid cooldown (never the failure backoff):
        for a token the service itself just issued, whose kid is proof of a
        rotation rather than an attacker's guess.

        Never raises for a failed fetch: the caller looks the key up again and
        gets the stale set, an UnknownKeyError, or a TransportError.
        """
        import asyncio

        self._bind()
        task = self._task
        if task is None or task.done():
            if self._closed or self._fetch is None:
                return
            now = self._clock()
            if self._in_backoff(now):
                return
            if (
                not force
                and self._usable(now)
                and now < self._last_attempt + self.policy.unknown_kid_cooldown
            ):
                return  # the set is fine: only an unknown kid asks, and it must wait
            task = self._start(now)
        try:
            # shield: a cancelled waiter must not cancel the fetch others wait on.
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the waiter itself was cancelled
            # aclose() cancelled the fetch: the caller's lookup fails closed.

    async def _run(self, started: float) -> None:
        import asyncio

        assert self._fetch is not None
        timeout = self.policy.timeout
        try:
            with telemetry.Operation("jwks"):
                body, cache_control = await asyncio.wait_for(self._fetch(timeout), timeout)
                previous = self.snapshot.keys if self.snapshot is not None else {}
                keys = parse_jwks(body, previous)
        except asyncio.CancelledError:
            self._fetching = False
            raise
        except Exception as exc:  # any failure keeps the last good key set
            if isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, TransportError):
                # wait_for's own timeout. (The transport's is mapped already,
                # and from Python 3.11 on is an asyncio.TimeoutError too.)
                exc = RequestTimeoutError(f"request timed out after {timeout:g}s", operation="jwks")
            # Warn once per outage; the periodic retries log at debug level.
            (_log.debug if self._failing else _log.warning)("JWKS refresh failed: %s", exc)
            self._failing = True
            if self.snapshot is not None:
                self.snapshot = self.snapshot.stale()
            self._failures += 1
            now = self._clock()
            delay = min(self.policy.unknown_kid_cooldown, _MAX_FAILURE_BACKOFF)
            if self._usable(now):
                # Stale keys still validate: no hurry. Failing closed (no
                # usable set) keeps the short delay so service resumes fast.
                growth = 2.0 ** min(self._failures - 1, 16)
                delay = min(delay * growth, max(delay, _MAX_STALE_BACKOFF))
                # Half to full delay: processes that failed together spread out.
                delay *= 0.5 + random.random() / 2
            self._retry_at = now + delay
            self._last_error = exc
            self._fetching = False
            snap, stale_for = self.snapshot, None
            if snap is not None and snap.fresh_until <= now < snap.usable_until:
                stale_for = now - snap.fresh_until
            telemetry.jwks_fetched(exc, stale_for)
            return
        lifetime = _lifetime(self.policy.ttl, cache_control)
        fresh_until = started + lifetime
        self.snapshot = _KeySet(
            keys,
            refresh_at=started + lifetime * _REFRESH_AHEAD,
            fresh_until=fresh_until,
            stale_until=fresh_until + self.policy.max_stale,
        )
        self._failing = False
        self._failures = 0
        self._last_error = None
        self._fetching = False
        telemetry.jwks_fetched(None)

    async def aclose(self) -> None:
        """Cancel a running background refresh; idempotent."""
        import asyncio

        self._closed = True
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        running = asyncio.get_running_loop()
        if task.get_loop() is running:
            # wait() never re-raises the task's own CancelledError, only ours.
            await asyncio.wait({task})
