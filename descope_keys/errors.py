"""The one exception tree of descope-keys.

Every error the SDK raises is a :class:`DescopeError`::

    DescopeError
    ├── ConfigurationError          bad client constructor input / missing credentials
    ├── ClientClosedError           the client was closed (also a RuntimeError)
    ├── WrongEventLoopError         an async client used on another loop (also a RuntimeError)
    ├── InvalidArgumentError        bad call or value input, before any I/O (also a ValueError)
    ├── TransportError              connect/read failures, timeouts (after retries)
    │   ├── RequestTimeoutError     no answer in time (also a TimeoutError)
    │   └── AmbiguousResultError    a non-idempotent call may or may not have happened
    ├── ApiError                    .status, .error_code, .description, .message, .retry_after
    │   ├── BadRequestError (400)
    │   ├── AuthenticationError (401)
    │   ├── PermissionDeniedError (403)
    │   ├── NotFoundError (404)
    │   ├── RateLimitError (429)
    │   └── ServerError (5xx)
    └── TokenValidationError        .reason: a stable short code
        ├── ExpiredTokenError
        └── UnknownKeyError

Which one bad input raises: the clients' constructors (``AsyncDescopeKeys``,
``DescopeKeys``) raise :class:`ConfigurationError`; everything else, from
``RetryPolicy``, ``JwksPolicy`` and ``KeyTenant`` to every method, raises
:class:`InvalidArgumentError`. Either message starts with the offending
name, and numbers are checked by one rule (no bools, no NaN or infinity,
bounds stated), so ``timeout=0`` reads ``timeout: must be a finite number
of seconds > 0, not 0``.

Messages never contain a management key, an access-key secret or a JWT: they
are built only from values the SDK controls or the server's error fields.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AmbiguousResultError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "DescopeError",
    "ExpiredTokenError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "TokenValidationError",
    "TransportError",
    "UnknownKeyError",
    "WrongEventLoopError",
]


class DescopeError(Exception):
    """Base class of every error raised by descope-keys."""


class ConfigurationError(DescopeError):
    """The client is missing or was given unusable configuration.

    Raised at construction (no project id, malformed base URL) and by
    management calls on a client built without a management key, always
    before any network I/O.
    """


class ClientClosedError(DescopeError, RuntimeError):
    """The client (async or sync) was closed; create a new one.

    Also a :class:`RuntimeError`, which is what using a closed resource
    raises elsewhere in Python.
    """


class WrongEventLoopError(DescopeError, RuntimeError):
    """An :class:`~descope_keys.AsyncDescopeKeys` was used on another event loop.

    The async client binds to the loop of its first call (its connection
    pool lives there). Create one client per event loop, or share a
    :class:`~descope_keys.DescopeKeys` between threads. Also a
    :class:`RuntimeError`, which is what it was before it had a class.
    """


class InvalidArgumentError(DescopeError, ValueError):
    """A call argument is invalid; raised before any network I/O.

    Attributes:
        argument: The name of the offending parameter, as in the signature.
    """

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        self.problem = problem
        super().__init__(f"{argument}: {problem}")


class TransportError(DescopeError):
    """The request failed below HTTP: connect error, reset, timeout, bad body.

    Attributes:
        operation: The SDK operation that failed (``"access_keys.load"`` …).
        attempts: How many attempts were made before giving up.
        request_sent: ``False`` when the request certainly never reached the
            server (connection refused, DNS failure), so nothing happened
            there; ``True`` when it may have been received and acted on.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        attempts: int = 1,
        request_sent: bool = True,
    ) -> None:
        self.operation = operation
        self.attempts = attempts
        self.request_sent = request_sent
        self._message = message
        super().__init__(message)

    def __str__(self) -> str:
        prefix = f"{self.operation}: " if self.operation else ""
        suffix = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{prefix}{self._message}{suffix}"


class RequestTimeoutError(TransportError, TimeoutError):
    """No answer came in time: one attempt's timeout, or the retry deadline.

    Also a :class:`TimeoutError`, so ``except TimeoutError`` catches it.
    ``request_sent`` is ``False`` when the connection itself timed out.
    """


class AmbiguousResultError(TransportError):
    """A call ended without a result after an attempt that may have taken effect.

    Raised where a caller would draw the wrong conclusion from a plain error:
    a create that may have made a key, a rotate that may have revoked the old
    secret, a delete that may have deleted. The message says what to do.

    Attributes:
        candidate_ids: Ids of keys that the call may have created; inspect or
            delete them. Empty when none were found.
        key_ids: Ids of the existing keys the call acted on (rotate, delete),
            whose state is now unknown.
        last_error: The error of the call's last attempt (also ``__cause__``),
            or ``None`` when the call itself found the outcome undecidable.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        attempts: int = 1,
        candidate_ids: Sequence[str] = (),
        key_ids: Sequence[str] = (),
        last_error: DescopeError | None = None,
    ) -> None:
        self.candidate_ids = tuple(candidate_ids)
        self.key_ids = tuple(key_ids)
        self.last_error = last_error
        super().__init__(message, operation=operation, attempts=attempts)


class ApiError(DescopeError):
    """The Descope API answered with an error status.

    Attributes:
        status: The HTTP status code.
        error_code: Descope's ``errorCode`` (e.g. ``"E011003"``), if any.
        description: Descope's ``errorDescription``, if any.
        message: Descope's ``errorMessage``, if any.
        retry_after: Seconds the server asked us to wait (429/503), if any.
        request_id: The server's request id header, if any.
        operation: The SDK operation that failed.
        attempts: How many attempts were made before giving up.
    """

    def __init__(
        self,
        status: int,
        *,
        error_code: str | None = None,
        description: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        operation: str = "",
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.description = description
        self.message = message
        self.retry_after = retry_after
        self.request_id = request_id
        self.operation = operation
        self.attempts = attempts
        super().__init__(self._summary())

    def _summary(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.operation:
            parts.insert(0, f"{self.operation}:")
        if self.error_code:
            parts.append(f"[{self.error_code}]")
        detail = " - ".join(p for p in (self.description, self.message) if p)
        if detail:
            parts.append(detail)
        if self.retry_after is not None:
            parts.append(f"(retry after {self.retry_after:g}s)")
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)

    def __str__(self) -> str:
        # Recomputed so that operation/attempts set after construction show up.
        return self._summary()


class BadRequestError(ApiError):
    """HTTP 400: the server rejected the request's content."""


class AuthenticationError(ApiError):
    """HTTP 401: bad management key, or an unknown/inactive/expired access key."""


class PermissionDeniedError(ApiError):
    """HTTP 403: authenticated but not allowed (e.g. caller IP not permitted)."""


class NotFoundError(ApiError):
    """HTTP 404: the access key (or path) does not exist."""


class RateLimitError(ApiError):
    """HTTP 429: rate limited; ``retry_after`` says for how long, when known."""


class ServerError(ApiError):
    """HTTP 5xx: the service or an edge proxy failed."""


class TokenValidationError(DescopeError):
    """A JWT failed local validation.

    Attributes:
        reason: A stable short code (``"bad_signature"``, ``"expired"`` …)
            that is safe to log and to return to clients.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason)


class ExpiredTokenError(TokenValidationError):
    """The JWT's ``exp`` is in the past (beyond the allowed leeway)."""


class UnknownKeyError(TokenValidationError):
    """The JWT's ``kid`` is not in the key set, even after a permitted refresh."""
