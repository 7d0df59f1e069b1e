"""Credentials that stay fresh: an access key's session JWT, cached and refreshed ahead of expiry.

The machine that holds an access key exchanges it for a short-lived session
JWT and sends that JWT on every call to the application.
:class:`AsyncAccessKeyCredentials` does the exchange once, keeps the validated
token, and replaces it before it expires: in the background while the
current token still has a comfortable margin (the advisory window), with the
callers waiting only when it is about to become unusable (the mandatory
window). However many callers ask at once, one exchange runs. A refresh that
fails while the current token is valid fails nobody; it is retried with
backoff, on demand (nothing runs while nobody asks for a token).

The refresh numbers are in :class:`RefreshPolicy`; README.md ("Calling an API
with an access key") explains them next to botocore's, google-auth's and
azure-identity's.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final

import attrs

from . import telemetry
from ._arguments import check_claims, check_secret, check_str, configuration_errors, number_field
from ._secret import Secret, conceal
from ._tokens import AccessKeyToken
from .errors import (
    ClientClosedError,
    ConfigurationError,
    ExpiredTokenError,
    InvalidArgumentError,
    RateLimitError,
    ServerError,
    TransportError,
)

if TYPE_CHECKING:
    import asyncio  # imported where used: see _retry

__all__ = ["ENV_ACCESS_KEY", "AsyncAccessKeyCredentials", "RefreshPolicy"]

_log = logging.getLogger("descope_keys")

#: Where ``credentials()`` finds the access key when none is given.
ENV_ACCESS_KEY: Final = "DESCOPE_ACCESS_KEY"

# Descope's iat and exp are whole seconds: a token issued at 12.9 s says
# iat=12. Its true age on arrival is between that truncation and the round
# trip, which is what the skew correction below allows for.
_IAT_RESOLUTION = 1.0
# A local clock further than this from the issuer's is worth one warning.
_SKEW_WARNING = 30.0


_FRACTION = number_field(minimum=0.0, maximum=1.0, exclusive_maximum=True)
_SECONDS = number_field(minimum=0.0, exclusive_minimum=True, unit="seconds")


@attrs.frozen
class RefreshPolicy:
    """When credentials replace their token, and how they wait after a failed exchange.

    Both windows are measured back from the token's expiry and scale with its
    lifetime ``L`` (``exp - iat``), capped in seconds, so that they suit a
    five-minute token as well as a twelve-hour one:

    * **advisory**: once the time left falls to ``min(advisory_fraction * L,
      advisory_max)``, scaled down by a random factor in ``[1 - jitter, 1]``
      drawn per token (never below the mandatory window), one background
      exchange replaces the token; callers keep getting the current one at
      once. The jitter spreads the refreshes of a fleet started together.
    * **mandatory**: once the time left falls to ``min(mandatory_fraction * L,
      mandatory_max)``, callers wait for the exchange, at most until the
      current token expires; if the exchange fails they still get the
      current token while it is valid.

    After a failed exchange no new one starts for ``retry_initial * 2**(n-1)``
    seconds (``n`` failures in a row, at most ``retry_max``, jittered down by
    up to a half); a 429's ``Retry-After`` is honoured up to ``retry_max``. An
    error that retrying cannot fix (a dead key: 401, 403, 400, a token that
    fails validation) waits ``retry_max`` at once. While no exchange may
    start, callers get the current token if it is valid, else the error of
    the last exchange: a dead key never becomes a retry loop.

    Attributes:
        advisory_fraction: Start of the background refresh, as a fraction of L.
        advisory_max: Cap of the advisory window, in seconds.
        mandatory_fraction: Start of the blocking refresh, as a fraction of L.
        mandatory_max: Cap of the mandatory window, in seconds.
        jitter: How much of the advisory window the random factor may take off.
        retry_initial: Wait after the first failed exchange, in seconds.
        retry_max: Longest wait between exchange attempts, in seconds.

    Raises:
        InvalidArgumentError: a value is out of range (the field is named).
    """

    advisory_fraction: float = attrs.field(default=0.25, validator=_FRACTION)
    advisory_max: float = attrs.field(default=900.0, validator=_SECONDS)
    mandatory_fraction: float = attrs.field(default=0.1, validator=_FRACTION)
    mandatory_max: float = attrs.field(default=60.0, validator=_SECONDS)
    jitter: float = attrs.field(default=0.5, validator=_FRACTION)
    retry_initial: float = attrs.field(default=1.0, validator=_SECONDS)
    retry_max: float = attrs.field(default=30.0, validator=_SECONDS)

    def __attrs_post_init__(self) -> None:
        if self.mandatory_fraction > self.advisory_fraction:
            raise InvalidArgumentError("mandatory_fraction", "must not exceed advisory_fraction")
        if self.retry_initial > self.retry_max:
            raise InvalidArgumentError("retry_initial", "must not exceed retry_max")

    def _windows(self, lifetime: float, draw: float) -> tuple[float, float]:
        """``(advisory, mandatory)``: seconds before expiry for a token living ``lifetime``.

        ``draw`` is a uniform random number in ``[0, 1)``, the token's jitter.
        """
        mandatory = min(self.mandatory_fraction * lifetime, self.mandatory_max)
        advisory = min(self.advisory_fraction * lifetime, self.advisory_max)
        return max(advisory * (1.0 - self.jitter * draw), mandatory), mandatory

    def _retry_delay(self, failures: int, error: BaseException, draw: float) -> float:
        """Seconds before the next exchange may start after ``failures`` failed in a row."""
        if not isinstance(error, (TransportError, ServerError, RateLimitError)):
            return self.retry_max  # a dead key or a misconfiguration: retrying cannot help soon
        delay = min(self.retry_max, self.retry_initial * 2.0 ** min(failures - 1, 32))
        delay *= 1.0 - 0.5 * draw
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > delay:
            delay = min(float(retry_after), self.retry_max)
        return delay


class _Fresh:
    """One cached token and its schedule, on the monotonic clock.

    Replaced whole, never mutated: a reader in another thread (the sync
    twin's fast path) sees the old state or the new one, never a mix.
    """

    __slots__ = ("expires_at", "header", "mandatory_at", "refresh_at", "token")

    def __init__(
        self, token: AccessKeyToken, refresh_at: float, mandatory_at: float, expires_at: float
    ) -> None:
        self.token = token
        self.header = f"Bearer {token.jwt}"
        self.refresh_at = refresh_at
        self.mandatory_at = mandatory_at
        self.expires_at = expires_at


def resolve_access_key(access_key: str | Secret | None) -> Secret:
    """The access key given, else env ``DESCOPE_ACCESS_KEY``; checked, wrapped, never echoed.

    Raises:
        ConfigurationError: neither is set, or the variable holds an unusable value.
        InvalidArgumentError: the given key is unusable.
    """
    access_key = conceal(access_key)
    if access_key is not None:
        return check_secret("access_key", access_key)
    value = conceal(os.environ.get(ENV_ACCESS_KEY))
    if not value:
        raise ConfigurationError(f"no access key: pass access_key or set {ENV_ACCESS_KEY}")
    with configuration_errors():
        return check_secret(ENV_ACCESS_KEY, value)


class AsyncAccessKeyCredentials:
    """An access key's session token, cached and refreshed ahead of expiry.

    Built by ``AsyncDescopeKeys.credentials()``; it lives as long as its
    client, and closing the client stops its refreshes. Every exchange sends
    the same options (custom claims, tenant, audience). One exchange runs at
    a time however many callers ask; a refresh that fails while the current
    token is valid fails no caller (see :class:`RefreshPolicy`). The secret
    and the JWT never appear in ``repr``, logs or errors.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_error",
        "_error_tb",
        "_exchange",
        "_failures",
        "_flight",
        "_policy",
        "_project_id",
        "_retry_at",
        "_selected_tenant",
        "_skew_warned",
        "_state",
    )

    def __init__(
        self,
        exchange: Callable[[], Awaitable[AccessKeyToken]],
        *,
        project_id: str,
        selected_tenant: str | None,
        policy: RefreshPolicy,
    ) -> None:
        """Built by the client; ``exchange`` runs one exchange with the fixed options."""
        if not isinstance(policy, RefreshPolicy):
            raise InvalidArgumentError("refresh", "must be a RefreshPolicy")
        self._exchange = exchange
        self._project_id = project_id
        self._selected_tenant = selected_tenant
        self._policy = policy
        self._state: _Fresh | None = None
        self._flight: asyncio.Task[_Fresh | Exception] | None = None
        self._retry_at = 0.0  # monotonic time before which no exchange starts
        self._failures = 0
        self._error: Exception | None = None
        self._error_tb: TracebackType | None = None
        self._skew_warned = False
        self._closed = False

    def __repr__(self) -> str:
        state = self._state
        status = "closed" if self._closed else "empty" if state is None else "cached"
        selected = self._selected_tenant
        tenant = "" if selected is None else f", selected_tenant={selected!r}"
        key = "" if state is None else f", key_id={state.token.key_id!r}"
        return f"{type(self).__name__}(project_id={self._project_id!r}{tenant}{key}, {status})"

    async def token(self) -> AccessKeyToken:
        """The current token, validated locally, with time left before its ``exp``.

        Exchanges on first use and near expiry (see :class:`RefreshPolicy`);
        otherwise no I/O.

        Raises:
            AuthenticationError: the key is invalid, deactivated, expired or
                rotated away, and no valid token is left.
            TransportError: the exchange failed and no valid token is left
                (``RateLimitError`` and other ``ApiError`` likewise).
            ClientClosedError: the client was closed.
        """
        state = self._state
        if state is not None and time.monotonic() < state.refresh_at:
            return state.token
        return (await self._current()).token

    async def authorization(self) -> str:
        """The ``Authorization`` header value for the current token: ``"Bearer <jwt>"``.

        Raises:
            AuthenticationError: as for ``token()``.
            TransportError: as for ``token()``.
            ClientClosedError: the client was closed.
        """
        state = self._state
        if state is not None and time.monotonic() < state.refresh_at:
            return state.header
        return (await self._current()).header

    def invalidate(self, authorization: str | None = None) -> None:
        """Drop the cached token, so that the next call exchanges again (after a 401).

        Args:
            authorization: The ``Authorization`` value (or bare JWT) that was
                refused. When given, the token is dropped only if it is still
                the current one, so that many requests refused with the same
                old token cost one exchange, not one each.

        Raises:
            InvalidArgumentError: ``authorization`` is not a string.
        """
        if authorization is not None:
            check_str("authorization", authorization)
        state = self._state
        if state is None:
            return
        if authorization is None or authorization in (state.header, state.token.jwt):
            self._state = None

    # -- the slow path (on the client's loop) ------------------------------

    async def _current(self) -> _Fresh:
        import asyncio

        while True:
            if self._closed:
                raise ClientClosedError("the client of these credentials is closed")
            now = time.monotonic()
            state = self._state
            if state is not None:
                if now < state.refresh_at:
                    return state
                if now >= state.expires_at:
                    state = self._state = None
            flight = self._flight
            if flight is None and now >= self._retry_at:
                flight = self._start()
            if state is not None and (flight is None or now < state.mandatory_at):
                # Advisory window (the refresh runs in the background), or a
                # backoff after a failed refresh: the current token is valid.
                return state
            if flight is None:
                # No valid token and backing off: the last exchange's error, without I/O.
                error = self._error
                if error is None:  # pragma: no cover - a backoff always follows an error
                    raise TransportError("no token and no exchange allowed yet")
                # The original traceback each time: re-raising one instance must not grow it.
                raise error.with_traceback(self._error_tb)
            timeout = None if state is None else state.expires_at - now
            # wait(), not wait_for(): a caller giving up must not cancel the
            # exchange that the other callers share.
            done, _ = await asyncio.wait((flight,), timeout=timeout)
            if done:
                if flight.cancelled():
                    raise ClientClosedError("the client of these credentials was closed")
                outcome = flight.result()
                if isinstance(outcome, _Fresh):
                    return outcome
            # Failed or still running at the token's expiry: decide again.

    def _start(self) -> asyncio.Task[_Fresh | Exception]:
        import asyncio

        task = asyncio.get_running_loop().create_task(
            self._refresh(), name="descope-keys credentials refresh"
        )
        # An eager task factory may have finished it already.
        self._flight = None if task.done() else task
        return task

    async def _refresh(self) -> _Fresh | Exception:
        """One exchange; never raises (but for cancellation), so no error goes unretrieved."""
        import asyncio

        try:
            sent = time.monotonic()
            try:
                token = await self._exchange()
                fresh = self._schedule(token, sent)
            except Exception as exc:
                telemetry.refreshed(exc)
                return self._failed(exc)
            telemetry.refreshed(None)
            if not self._closed:
                self._state = fresh
            self._failures = 0
            self._retry_at = 0.0
            self._error = self._error_tb = None
            return fresh
        finally:
            if self._flight is asyncio.current_task():
                self._flight = None

    def _schedule(self, token: AccessKeyToken, sent: float) -> _Fresh:
        received, wall = time.monotonic(), time.time()
        exp = token.expires_at.timestamp()
        iat = None if token.issued_at is None else token.issued_at.timestamp()
        if iat is None or not iat < exp:
            lifetime = left = exp - wall
        else:
            lifetime = exp - iat
            # The token's age on arrival: by our clock when it agrees with the
            # issuer's (within iat's resolution and the round trip), else the
            # most it can be. Our clock's error then cannot stretch the token,
            # nor make a fresh one look expired.
            bound = _IAT_RESOLUTION + (received - sent)
            age = wall - iat
            if not 0.0 <= age <= bound:
                if abs(age) > _SKEW_WARNING and not self._skew_warned:
                    self._skew_warned = True
                    _log.warning(
                        "the local clock is %.0f s off the token issuer's; "
                        "refreshes are timed from the token's lifetime instead",
                        age,
                    )
                age = bound
            left = lifetime - age
        if left <= 0:
            raise ExpiredTokenError("expired", "the exchange returned a token with no time left")
        advisory, mandatory = self._policy._windows(lifetime, random.random())
        expires_at = received + left
        return _Fresh(token, expires_at - advisory, expires_at - mandatory, expires_at)

    def _failed(self, error: Exception) -> Exception:
        self._failures += 1
        delay = self._policy._retry_delay(self._failures, error, random.random())
        self._retry_at = time.monotonic() + delay
        self._error, self._error_tb = error, error.__traceback__
        state = self._state
        serving = state is not None and time.monotonic() < state.expires_at
        # A warning only while the failure is hidden behind a valid token;
        # otherwise the callers get the error itself and report it as they see fit.
        _log.log(
            logging.WARNING if serving else logging.DEBUG,
            "refreshing the access-key session token failed (%s: %s); %s; next attempt in %.1f s",
            type(error).__name__,
            error,
            "the current token is still served" if serving else "no valid token is left",
            delay,
        )
        return error

    def _stop(self) -> None:
        """The client is closing: drop the token and cancel the exchange in flight."""
        self._closed = True
        self._state = None
        flight, self._flight = self._flight, None
        if flight is not None:
            flight.cancel()


def credentials_exchange(
    exchange: Callable[..., Awaitable[AccessKeyToken]],
    access_key: str | Secret | None,
    *,
    custom_claims: Mapping[str, Any] | None,
    selected_tenant: str | None,
    audience: str | None,
) -> Callable[[], Awaitable[AccessKeyToken]]:
    """Check the options now (before any I/O) and bind them to ``exchange`` for every refresh.

    A closure rather than a ``functools.partial``: a partial's repr would show the secret.
    """
    access_key = conceal(access_key)
    secret = resolve_access_key(access_key)
    claims = (
        None
        if custom_claims is None
        else MappingProxyType(check_claims("custom_claims", custom_claims))
    )
    if selected_tenant is not None:
        check_str("selected_tenant", selected_tenant)
    if audience is not None:
        check_str("audience", audience)

    def exchange_once() -> Awaitable[AccessKeyToken]:
        return exchange(
            secret,
            custom_claims=None if claims is None else dict(claims),
            selected_tenant=selected_tenant,
            audience=audience,
        )

    return exchange_once
