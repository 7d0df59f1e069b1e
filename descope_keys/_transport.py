"""HTTP transport: one aiohttp session per client, headers, auth, error mapping.

A single attempt lives here (:meth:`Transport.send`); whether and how to try
again is the retry module's business. Errors come out already mapped to the
SDK's exception tree, with ``request_sent`` telling the retry layer whether
the server may have acted on the request.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import aiohttp

from ._config import Settings
from ._version import __version__
from .errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)

__all__ = ["MAX_RESPONSE_BYTES", "SDK_NAME", "Response", "Transport", "parse_retry_after"]

SDK_NAME = "python-descope-keys"
# Access-key responses are a few KiB; a search over thousands of keys stays
# well below this. Anything larger is a misbehaving proxy, not Descope.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
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
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = datetime.now(timezone.utc).timestamp() if now is None else now
        seconds = when.timestamp() - current
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


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
        self._timeout = aiohttp.ClientTimeout(
            total=settings.timeout, sock_connect=min(settings.timeout, 10.0)
        )
        self._headers = {
            "Content-Type": "application/json",
            "x-descope-sdk-name": SDK_NAME,
            "x-descope-sdk-version": __version__,
            "x-descope-project-id": settings.project_id,
        }
        self._project_bearer = f"Bearer {settings.project_id}"

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._closed

    def bearer(self, secret: str | None) -> str:
        """``Authorization`` value: ``Bearer <projectId>[:<secret>]`` (docs/wire.md §2)."""
        if secret is None:
            return self._project_bearer
        return f"{self._project_bearer}:{secret}"

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this client is closed; create a new one")
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=self._limit, ttl_dns_cache=300
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=self._timeout,
                raise_for_status=False,
                auto_decompress=True,
                trust_env=False,
            )
            self._session, self._loop = session, loop
        elif self._loop is not loop:
            raise RuntimeError(
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
        authorization: str,
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
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout, sock_connect=timeout)
        started = time.perf_counter()
        unreadable: str | None = None
        try:
            async with session.request(
                method,
                self._base_url + path,
                data=data,
                params=params,
                headers={"Authorization": authorization},
                allow_redirects=False,
                **kwargs,
            ) as resp:
                raw = await self._read_capped(operation, resp)
                status, headers = resp.status, resp.headers
        except aiohttp.ConnectionTimeoutError as exc:
            # No connection was made, so nothing was sent: safe to repeat.
            raise TransportError(
                f"timed out connecting to {self._describe_host()}",
                operation=operation,
                request_sent=False,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(
                f"cannot connect to {self._describe_host()}: {exc.os_error.strerror or exc}",
                operation=operation,
                request_sent=False,
            ) from exc
        except asyncio.TimeoutError as exc:
            raise TransportError(
                "request timed out", operation=operation, request_sent=True
            ) from exc
        except aiohttp.ClientResponseError as exc:
            # Its request_info holds our request headers, Authorization
            # included: it must not be reachable as __cause__ or __context__,
            # so the error is raised below, outside this handler.
            unreadable = type(exc).__name__
        except aiohttp.ClientError as exc:
            # Reset, disconnect or truncated body after the request went out.
            raise TransportError(
                f"connection failed: {type(exc).__name__}", operation=operation
            ) from exc
        if unreadable is not None:
            raise TransportError(f"connection failed: {unreadable}", operation=operation)
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

    async def _read_capped(self, operation: str, resp: aiohttp.ClientResponse) -> bytes:
        length = resp.content_length
        # Content-Length counts compressed bytes: a compressed body is counted
        # as it is decompressed, so a small bomb cannot pass the cap.
        if length is not None and "Content-Encoding" not in resp.headers:
            if length > self._max_bytes:
                raise TransportError(
                    f"response body of {length} bytes exceeds the {self._max_bytes} byte cap",
                    operation=operation,
                )
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self._max_bytes:
                raise TransportError(
                    f"response body exceeds the {self._max_bytes} byte cap",
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

    def _describe_host(self) -> str:
        return self._base_url.split("://", 1)[-1]

    async def aclose(self) -> None:
        """Close the session (idempotent). Must run on the loop that owns it."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
