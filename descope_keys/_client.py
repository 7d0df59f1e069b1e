"""AsyncDescopeKeys: the async core client and the source of truth for the API surface."""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from . import _endpoints
from ._access_keys import AsyncAccessKeys
from ._arguments import check_claims, check_leeway, check_secret, check_str, configuration_errors
from ._call import Caller
from ._config import ENV_PUBLIC_KEY, Settings
from ._credentials import AsyncAccessKeyCredentials, RefreshPolicy, credentials_exchange
from ._jwks import JwksPolicy
from ._reconcile import CreateLedger, PendingCleanup
from ._retry import RetryPolicy, Safety, exchange_policy
from ._retry_budget import RetryBudget
from ._secret import Secret, conceal
from ._tokens import AccessKeyToken, TokenValidator
from ._transport import Response, Transport
from .errors import ClientClosedError, ConfigurationError, DescopeError, TransportError

__all__ = ["AsyncDescopeKeys"]

_EXCHANGE = "exchange_access_key"


def _session_jwt(response: Response) -> Secret:
    # Parsed inside the attempt, so the bare body never reaches a caller's locals.
    jwt = response.body.get("sessionJwt") if isinstance(response.body, Mapping) else None
    if not isinstance(jwt, str) or not jwt:
        raise TransportError("the exchange response carries no sessionJwt", operation=_EXCHANGE)
    return Secret(jwt)


class AsyncDescopeKeys:
    """The asyncio client for Descope access keys.

    Construction does no I/O and needs no running loop; the HTTP session is
    opened on first use and closed by ``await client.aclose()`` or
    ``async with``. One client serves one event loop.

    Args:
        project_id: The Descope project id (default: env ``DESCOPE_PROJECT_ID``).
        management_key: Needed only for ``access_keys`` calls (default: env
            ``DESCOPE_MANAGEMENT_KEY``).
        base_url: API base URL (default: env ``DESCOPE_BASE_URI``, then the
            Descope host for the project id).
        timeout: Seconds one HTTP attempt may take.
        retry: When and how failed requests are retried.
        jwks: How the JWKS used for local validation is cached and refreshed.
        leeway: Seconds of clock skew tolerated for ``exp``/``nbf``/``iat``.
        public_key: A JWK or JWKS dict (or its JSON) to pin; default: env
            ``DESCOPE_PUBLIC_KEY``. When set, keys are never fetched.
        issuer: When given, a token's ``iss`` must be exactly this string
            (Descope issues ``https://api.descope.com/<projectId>``, or the
            host of your custom domain; older tokens carry the bare project
            id). By default the project id, or any URL whose last path
            segment is the project id, is accepted.

    Raises:
        ConfigurationError: no project id, or an unusable setting.
    """

    def __init__(
        self,
        project_id: str | None = None,
        management_key: str | Secret | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
        jwks: JwksPolicy = JwksPolicy(),
        leeway: float = 5.0,
        public_key: Mapping[str, Any] | str | None = None,
        issuer: str | None = None,
    ) -> None:
        management_key = conceal(management_key)  # before anything can fail
        self._settings = Settings.resolve(project_id, management_key, base_url, timeout)
        if not isinstance(retry, RetryPolicy):
            raise ConfigurationError("retry must be a RetryPolicy")
        if not isinstance(jwks, JwksPolicy):
            raise ConfigurationError("jwks must be a JwksPolicy")
        with configuration_errors():
            leeway = check_leeway(leeway)
        self._transport = Transport(self._settings)
        # One budget per client: when the service is down, this client's
        # calls stop retrying and fail fast instead of multiplying the load.
        self._api = Caller(self._transport, retry, RetryBudget(), self._transport.bearer(None))
        # Management calls ride out a bad minute; the exchange stays quick.
        self._exchange_api = self._api.with_policy(exchange_policy(retry))
        pinned = public_key if public_key is not None else os.environ.get(ENV_PUBLIC_KEY) or None
        try:
            self._validator = TokenValidator(
                self._settings.project_id,
                fetch=None if pinned is not None else self._fetch_jwks,
                policy=jwks,
                leeway=float(leeway),
                public_key=pinned,
                issuer=issuer,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"public_key is unusable: {exc}") from None
        management_key = self._settings.management_key
        self._creates = CreateLedger()
        self._access_keys = AsyncAccessKeys(
            None if management_key is None else self._api.authorized(management_key),
            self._creates.reconciler,
        )
        # Weak: credentials nobody holds any more need no stopping at close.
        self._credentials: weakref.WeakSet[AsyncAccessKeyCredentials] = weakref.WeakSet()

    def __repr__(self) -> str:
        # Total: a constructor that raised leaves a half-built object behind,
        # and error reporters that capture locals format it.
        settings = getattr(self, "_settings", None)
        if settings is None:
            return f"{type(self).__name__}(<not configured>)"
        return (
            f"{type(self).__name__}(project_id={settings.project_id!r}, "
            f"base_url={settings.base_url!r})"
        )

    @property
    def project_id(self) -> str:
        """The Descope project id this client works on."""
        return self._settings.project_id

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._settings.base_url

    @property
    def access_keys(self) -> AsyncAccessKeys:
        """The client's :class:`AsyncAccessKeys`: key management (needs the management key)."""
        return self._access_keys

    @property
    def pending_cleanups(self) -> tuple[PendingCleanup, ...]:
        """Create cleanups that their calls could not finish, oldest first.

        A create whose answer was lost may have made a key whose secret nobody
        holds; when its call cannot find and delete that key before its
        deadline, it raises ``AmbiguousResultError`` and the client keeps
        trying, in the background with backoff and once more in ``aclose()``.
        One it abandons is logged at WARNING on the ``descope_keys`` logger,
        naming the key ids (or the name and time window). Empty normally.
        """
        return self._creates.cleanups.pending

    async def exchange_access_key(
        self,
        access_key: str | Secret,
        *,
        custom_claims: Mapping[str, Any] | None = None,
        selected_tenant: str | None = None,
        audience: str | None = None,
    ) -> AccessKeyToken:
        """Exchange an access key's cleartext for a session JWT, validated locally.

        Args:
            access_key: The key's cleartext secret (a ``str`` or a :class:`Secret`).
            custom_claims: Claims to add under ``nsec`` (caller-supplied, so
                never to be trusted for authorization).
            selected_tenant: The tenant to put in the token's ``dct`` claim.
            audience: When given, the returned token must carry this ``aud``.

        Returns:
            The validated token; its JWT is at ``.jwt``.

        Raises:
            AuthenticationError: unknown, inactive, expired or rotated-away key.
            PermissionDeniedError: the caller's IP is not permitted.
            ApiError: the API refused the exchange otherwise.
            TokenValidationError: the returned JWT failed local validation.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent, for the exchange or the JWKS.
        """
        access_key = conceal(access_key)  # before anything can fail
        secret = check_secret("access_key", access_key)
        options: dict[str, Any] = {}
        if custom_claims is not None:
            options["customClaims"] = check_claims("custom_claims", custom_claims)
        if selected_tenant is not None:
            options["selectedTenant"] = check_str("selected_tenant", selected_tenant)
        if audience is not None:
            check_str("audience", audience)
        operation = _EXCHANGE
        jwt = await self._exchange_api.authorized(secret).call(
            operation,
            "POST",
            _endpoints.EXCHANGE,
            safety=Safety.IDEMPOTENT,
            body={"loginOptions": options},
            parse=_session_jwt,
        )
        try:
            return await self._validator.validate_issued(jwt.reveal(), audience=audience)
        except DescopeError as exc:
            error = exc
        # The validator's frames hold the bare JWT: the error leaves without
        # them (raised out here, it gets no context).
        raise error.with_traceback(None)

    def credentials(
        self,
        access_key: str | Secret | None = None,
        *,
        custom_claims: Mapping[str, Any] | None = None,
        selected_tenant: str | None = None,
        audience: str | None = None,
        refresh: RefreshPolicy = RefreshPolicy(),
    ) -> AsyncAccessKeyCredentials:
        """Credentials for an access key: its session token, cached and refreshed ahead of expiry.

        No I/O here: the first ``token()`` or ``authorization()`` exchanges.
        Every refresh sends the same options. Closing this client stops the
        credentials' refreshes.

        Args:
            access_key: The key's cleartext secret (default: env
                ``DESCOPE_ACCESS_KEY``).
            custom_claims: As for ``exchange_access_key``.
            selected_tenant: As for ``exchange_access_key``.
            audience: As for ``exchange_access_key``.
            refresh: When the token is refreshed and how failed refreshes back off.

        Raises:
            ConfigurationError: no access key given and none in the environment.
            InvalidArgumentError: an unusable argument.
            ClientClosedError: this client is closed.
        """
        access_key = conceal(access_key)  # before anything can fail
        if self._transport.closed:
            raise ClientClosedError("this client is closed; create a new one")
        exchange = credentials_exchange(
            self.exchange_access_key,
            access_key,
            custom_claims=custom_claims,
            selected_tenant=selected_tenant,
            audience=audience,
        )
        creds = AsyncAccessKeyCredentials(
            exchange,
            project_id=self._settings.project_id,
            selected_tenant=selected_tenant,
            policy=refresh,
        )
        self._credentials.add(creds)
        return creds

    async def validate_token(self, jwt: str, *, audience: str | None = None) -> AccessKeyToken:
        """Validate a session JWT locally against the cached JWKS.

        With warm keys this does no I/O. Keys are fetched on first use, on TTL
        expiry (in the background) and, rate-limited, for an unknown ``kid``.

        Args:
            jwt: The compact JWT (without a ``Bearer`` prefix).
            audience: When given, the token's ``aud`` must contain it.

        Raises:
            TokenValidationError: the token is invalid; ``.reason`` says why.
            TransportError: the JWKS is needed (first use, or an unknown ``kid``)
                and cannot be fetched, with no usable cached key set.
        """
        try:
            return await self._validator.validate(jwt, audience=audience)
        except DescopeError as exc:
            error = exc
        # Without the validator's frames and this one's ``jwt``, which hold
        # the bare token: error reporters record every frame's locals.
        del jwt
        raise error.with_traceback(None)

    async def _fetch_jwks(self, timeout: float) -> tuple[object, str | None]:
        # One attempt: the JWKS cache owns failure handling (stale-if-error,
        # cooldowns), and a validation must not wait out a retry schedule.
        path = _endpoints.jwks(self._settings.project_id)
        response = await self._api.send_once("jwks", "GET", path, timeout=timeout)
        return response.body, response.headers.get("Cache-Control")

    async def aclose(self) -> None:
        """Close the HTTP session and stop background key refreshes (idempotent).

        Pending create cleanups (see ``pending_cleanups``) get one more
        attempt first, within the retry deadline; what is left is abandoned
        with a WARNING.
        """
        for credentials in list(self._credentials):
            credentials._stop()
        await self._creates.cleanups.aclose(self._api.policy.deadline)
        await self._validator.aclose()
        await self._api.aclose()

    async def __aenter__(self) -> AsyncDescopeKeys:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
