"""HTTP transport: one aiohttp session per client, headers, auth, error mapping.

A single attempt lives here (:meth:`Transport.send`); whether and how to try
again is the retry module's business. Errors come out already mapped to the
SDK's exception tree, with ``request_sent`` telling the retry layer whether
the server may have acted on the request.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._config import Settings
from ._http_date import parse_http_date
from ._secret import Secret, without_tracebacks
from ._version import __version__
from .errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    WrongEventLoopError,
)

if TYPE_CHECKING:
    # Imported on first network use (Transport._get_session): aiohttp and
    # yarl cost more at import than the rest of the SDK, and a client that
    # only validates with pinned keys never sends a request. asyncio too:
    # see _retry.
    import asyncio

    import aiohttp

__all__ = ["MAX_RESPONSE_BYTES", "SDK_NAME", "Response", "Transport", "parse_retry_after"]

SDK_NAME = "python-descope-keys"
# Access-key responses are a few KiB; a search over thousands of keys stays
# well below this. Anything larger is a misbehaving proxy, not Descope.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Smaller caps for answers whose size is known, checked before anything is
# parsed: 16 MiB of "{}" items decode into some 450 MB of dicts. A key set is
# at most 32 keys of 8192 bits (about 1.5 KiB each, 4 KiB with a certificate
# chain); an exchange answer is one JWT of at most MAX_TOKEN_CHARS (176 KiB)
# and two short fields; one access key holds at most 100 claims of about 3.4 KiB
# each (JSON-escaped worst case), attributes, roles and tenants. Lists of keys
# (search) keep the general cap.
_RESPONSE_CAPS: Final = {
    "jwks": 256 * 1024,
    "exchange_access_key": 512 * 1024,
    **dict.fromkeys(
        ("access_keys.create", "access_keys.load", "access_keys.update", "access_keys.rotate"),
        2 * 1024 * 1024,
    ),
}
_REQUEST_ID_HEADERS = ("x-request-id", "x-descope-request-id", "cf-ray")

_log = logging.getLogger("descope_keys")

_STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


class Response:
    """A successful response: status, headers and the parsed JSON body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        when = parse_http_date(value)
        if when is None:
            return None
        seconds = when - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class _Rule(NamedTuple):
    """How one aiohttp failure (or a subclass of it) becomes ours."""

    source: type[BaseException]
    error: type[TransportError]
    #: False when the request certainly never left: safe to repeat anything.
    request_sent: bool
    #: The message, from the failure's class or OS error and the host: what
    #: a log may show (a response error's text can quote the request line).
    message: Callable[[BaseException, str], str]
    #: Whether the failure becomes ``__cause__``. Not for ClientResponseError:
    #: its request_info holds our request headers, Authorization included.
    chain: bool = True


def _cannot_connect(exc: BaseException, host: str) -> str:
    import aiohttp

    os_error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else None
    return f"cannot connect to {host}: {(os_error and os_error.strerror) or exc}"


def _connection_failed(exc: BaseException, host: str) -> str:
    return f"connection failed: {type(exc).__name__}"


@functools.cache
def _rules() -> tuple[_Rule, ...]:
    """The error table, built with aiohttp's classes at the first failure that needs it.

    The first rule whose source matches wins, so the most specific come
    first: a ConnectionTimeoutError is an asyncio.TimeoutError and a
    ClientError too. In the manner of httpx's map_httpcore_exceptions, as a
    table rather than a chain of except clauses.
    """
    import asyncio

    import aiohttp

    return (
        # No connection was made, so nothing was sent: safe to repeat.
        _Rule(
            aiohttp.ConnectionTimeoutError,
            RequestTimeoutError,
            False,
            lambda exc, host: f"timed out connecting to {host}",
        ),
        _Rule(aiohttp.ClientConnectorError, TransportError, False, _cannot_connect),
        _Rule(
            asyncio.TimeoutError, RequestTimeoutError, True, lambda exc, host: "request timed out"
        ),
        _Rule(aiohttp.ClientResponseError, TransportError, True, _connection_failed, chain=False),
        # Reset, disconnect or truncated body after the request went out.
        _Rule(aiohttp.ClientError, TransportError, True, _connection_failed),
    )


@functools.cache
def _mapped() -> tuple[type[BaseException], ...]:
    """The failures :func:`_map_error` maps (an ``except`` clause evaluates it only on one)."""
    return tuple(rule.source for rule in _rules())


def _map_error(exc: BaseException, operation: str, host: str) -> TransportError:
    """Our error for an aiohttp failure (one of :func:`_mapped`), its cause set where safe.

    The caller raises it outside its ``except`` clause: raised inside, the
    failure would still be reachable as ``__context__``, whatever ``from``
    says.
    """
    rule = next(rule for rule in _rules() if isinstance(exc, rule.source))
    error = rule.error(rule.message(exc, host), operation=operation, request_sent=rule.request_sent)
    if rule.chain:
        # Without its traceback: aiohttp's frames hold the request headers,
        # Authorization included, as locals, which error reporters record.
        # Its class, message and own chain still say what failed.
        error.__cause__ = without_tracebacks(exc)  # (also suppresses the context)
    return error


def _error_fields(body: bytes) -> dict[str, str]:
    """Descope's error fields from a body, or nothing if it is not Descope JSON."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        k: v
        for k in ("errorCode", "errorDescription", "errorMessage")
        if isinstance(v := data.get(k), str) and v
    }


def _api_error(operation: str, status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    fields = _error_fields(body)
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else ApiError)
    description = fields.get("errorDescription")
    if not fields and body:
        # A proxy's HTML page: say what it was, never echo it (it may be huge).
        ctype = headers.get("Content-Type", "unknown content type")
        description = f"non-JSON error body ({ctype}, {len(body)} bytes)"
    request_id = next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
    return cls(
        status,
        error_code=fields.get("errorCode"),
        description=description,
        message=fields.get("errorMessage"),
        retry_after=parse_retry_after(headers.get("Retry-After")),
        request_id=request_id,
        operation=operation,
    )


class Transport:
    """Owns the aiohttp session and performs single HTTP attempts.

    The session is created lazily, inside the running loop, on first use; the
    client is bound to that loop from then on.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        connection_limit: int = 100,
    ) -> None:
        self._settings = settings
        self._max_bytes = max_response_bytes
        self._limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._base_url = settings.base_url
        self._host = settings.base_url.split("://", 1)[-1]  # for messages
        self._headers = {
            "Content-Type": "application/json",
            "x-descope-sdk-name": SDK_NAME,
            "x-descope-sdk-version": __version__,
            "x-descope-project-id": settings.project_id,
        }
        self._project_bearer = f"Bearer {settings.project_id}"
        self._project_authorization = Secret(self._project_bearer)

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._base_url

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._closed

    def bearer(self, secret: Secret | None) -> Secret:
        """``Authorization`` value: ``Bearer <projectId>[:<secret>]`` (docs/wire.md §2)."""
        if secret is None:
            return self._project_authorization
        return Secret(f"{self._project_bearer}:{secret.reveal()}")

    def _get_session(self) -> aiohttp.ClientSession:
        import asyncio

        if self._closed:
            raise ClientClosedError("this client is closed; create a new one")
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None:
            import aiohttp

            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=self._limit, ttl_dns_cache=300
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(
                    total=self._settings.timeout, sock_connect=min(self._settings.timeout, 10.0)
                ),
                raise_for_status=False,
                auto_decompress=True,
                trust_env=False,
            )
            self._session, self._loop = session, loop
        elif self._loop is not loop:
            raise WrongEventLoopError(
                "this client is bound to the event loop it was first used on; "
                "create one AsyncDescopeKeys per event loop (or use DescopeKeys)"
            )
        return session

    async def send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        authorization: Secret,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Perform one HTTP attempt and return the parsed 2xx response.

        Raises:
            ApiError: a subclass by status for any non-2xx answer.
            TransportError: no usable answer; ``request_sent`` says whether the
                server may have received the request.
        """
        session = self._get_session()
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            import aiohttp  # loaded by _get_session already

            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout, sock_connect=timeout)
        started = time.perf_counter()
        try:
            async with session.request(
                method,
                self._base_url + path,
                data=data,
                params=params,
                # Unwrapped here and nowhere else, into no local of ours.
                headers={"Authorization": authorization.reveal()},
                allow_redirects=False,
                **kwargs,
            ) as resp:
                raw = await self._read_capped(operation, resp)
                status, headers = resp.status, resp.headers
        except _mapped() as exc:
            error = _map_error(exc, operation, self._host)
        else:
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug(
                    "%s %s %s -> %d in %.1f ms",
                    operation,
                    method,
                    path,
                    status,
                    (time.perf_counter() - started) * 1000,
                )
            if not 200 <= status < 300:
                raise _api_error(operation, status, headers, raw)
            return Response(status, headers, self._parse(operation, raw))
        raise error  # outside the except clause: see _map_error

    async def _read_capped(self, operation: str, resp: aiohttp.ClientResponse) -> bytes:
        cap = min(self._max_bytes, _RESPONSE_CAPS.get(operation, self._max_bytes))
        length = resp.content_length
        # Content-Length counts compressed bytes: a compressed body is counted
        # as it is decompressed, so a small bomb cannot pass the cap.
        if length is not None and "Content-Encoding" not in resp.headers:
            if length > cap:
                raise TransportError(
                    f"response body of {length} bytes exceeds the {cap} byte cap",
                    operation=operation,
                )
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > cap:
                raise TransportError(
                    f"response body exceeds the {cap} byte cap",
                    operation=operation,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _parse(operation: str, raw: bytes) -> Any:
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise TransportError(
                f"the server answered with a non-JSON body ({len(raw)} bytes)",
                operation=operation,
            ) from None

    async def aclose(self) -> None:
        """Close the session (idempotent). Must run on the loop that owns it."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
