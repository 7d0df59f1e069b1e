"""One clear line per failure: what went wrong and, where known, how to fix it."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any

from ..errors import (
    AmbiguousResultError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    DescopeError,
    ExpiredTokenError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TokenValidationError,
    TransportError,
    UnknownKeyError,
)
from ._parser import UsageError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "Context",
    "describe",
    "error_document",
    "looks_like_secret",
    "redact",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# SDK argument names -> the flags a CLI user typed.
_FLAGS = {
    "name": "--name",
    "description": "--description",
    "role_names": "--role",
    "key_tenants": "--tenant",
    "tenant_ids": "--tenant",
    "permitted_ips": "--ip",
    "custom_claims": "--claim",
    "expire_time": "--expires-in/--expires-at",
    "user_id": "--user",
    "bound_user_id": "--bound-user",
    "creating_user": "--created-by",
    "key_id": "ID",
    "key_ids": "ID",
    "access_key": "SECRET",
    "selected_tenant": "--tenant",
    "audience": "--audience",
}


# Descope key ids are a letter and 27 letters or digits. An ID argument much
# longer than that, or with a character no id has (a cleartext may carry "."
# or ":"), is most likely a secret pasted in the wrong place.
_ID_CHARACTERS = re.compile(r"[A-Za-z0-9_-]*")
_LONGEST_ID = 40
_SHORTEST_SECRET = 16

# Machine-readable names of failures, for the --json error object: the most
# specific class first.
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (UsageError, "usage"),
    (InvalidArgumentError, "invalid_argument"),
    (ConfigurationError, "configuration"),
    (AuthenticationError, "authentication"),
    (PermissionDeniedError, "permission_denied"),
    (NotFoundError, "not_found"),
    (RateLimitError, "rate_limited"),
    (ServerError, "server_error"),
    (BadRequestError, "bad_request"),
    (ApiError, "api_error"),
    (ExpiredTokenError, "token_expired"),
    (UnknownKeyError, "token_unknown_key"),
    (TokenValidationError, "token_invalid"),
    (AmbiguousResultError, "ambiguous_result"),
    (TransportError, "transport"),
    (DescopeError, "error"),
)


def looks_like_secret(value: str) -> bool:
    """Whether an ID argument is shaped like an access key's cleartext rather than an id."""
    if len(value) > _LONGEST_ID:
        return True
    return len(value) >= _SHORTEST_SECRET and not _ID_CHARACTERS.fullmatch(value)


class Context(enum.Enum):
    """Which credential a failed call used: it decides what a 401/403 means."""

    MANAGEMENT = "management"
    EXCHANGE = "exchange"
    VALIDATE = "validate"


def _flag(argument: str) -> str:
    base = argument.split("[", 1)[0].split(".", 1)[0]
    return _FLAGS.get(base, argument)


def _detail(exc: ApiError) -> str:
    text = " - ".join(p for p in (exc.description, exc.message) if p)
    return f": {text}" if text else ""


def _api(exc: ApiError, context: Context, key_id: str | None) -> str:
    status = f"HTTP {exc.status}"
    if isinstance(exc, AuthenticationError):
        if context is Context.EXCHANGE:
            return (
                f"the access key was refused ({status}): it is unknown, deactivated, "
                "expired or was rotated, or not a key of DESCOPE_PROJECT_ID"
            )
        return (
            f"the management key was refused ({status}): check DESCOPE_MANAGEMENT_KEY "
            "and DESCOPE_PROJECT_ID"
        )
    if isinstance(exc, PermissionDeniedError):
        if context is Context.EXCHANGE:
            return f"this machine's IP address may not exchange this access key ({status})"
        return f"the management key may not do this ({status}{_detail(exc)})"
    if isinstance(exc, NotFoundError):
        if key_id is not None and looks_like_secret(key_id):
            return (
                f"no access key with that id ({status}): the ID given looks like an access "
                f"key's secret ({len(key_id)} characters, not shown), not a key id; list ids "
                "with `descope-keys keys search`"
            )
        if key_id is not None:
            return (
                f"no access key with id {key_id} ({status}): "
                "list ids with `descope-keys keys search`"
            )
        return f"not found ({status}): check DESCOPE_BASE_URI"
    if isinstance(exc, RateLimitError):
        wait = f", retry after {exc.retry_after:g}s" if exc.retry_after is not None else ""
        return f"rate limited by Descope ({status}{wait}): wait, or lower --concurrency"
    if isinstance(exc, ServerError):
        return f"the Descope service failed ({status}{_detail(exc)}): try again later"
    if isinstance(exc, BadRequestError):
        return f"the request was rejected ({status}{_detail(exc)})"
    return f"the request failed ({status}{_detail(exc)})"


def _token(exc: TokenValidationError) -> str:
    if isinstance(exc, ExpiredTokenError):
        return "the token has expired: exchange the access key for a fresh one"
    if isinstance(exc, UnknownKeyError):
        return (
            "the token was signed by a key this project does not publish: "
            "check DESCOPE_PROJECT_ID and DESCOPE_BASE_URI"
        )
    if exc.reason == "bad_issuer":
        return "the token was issued for another project: check DESCOPE_PROJECT_ID"
    return f"the token is invalid ({exc.reason}): {exc}"


def describe(exc: BaseException, context: Context, *, key_id: str | None = None) -> tuple[int, str]:
    """The exit code and the one-line message for a failure."""
    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, InvalidArgumentError):
        return EXIT_USAGE, f"{_flag(exc.argument)}: {exc.problem}"
    if isinstance(exc, ConfigurationError):
        return EXIT_USAGE, f"{exc} (check the DESCOPE_* environment variables and flags)"
    if isinstance(exc, ApiError):
        return EXIT_FAILURE, _api(exc, context, key_id)
    if isinstance(exc, TokenValidationError):
        return EXIT_FAILURE, _token(exc)
    if isinstance(exc, AmbiguousResultError) and exc.key_ids:
        return EXIT_FAILURE, str(exc)  # a rotate or delete: it names the keys and what to do
    if isinstance(exc, AmbiguousResultError):
        ids = ", ".join(exc.candidate_ids)
        maybe = f" (possible ids: {ids})" if ids else ""
        return EXIT_FAILURE, (
            f"{exc}: the key may or may not have been created{maybe}; "
            "check with `descope-keys keys search`"
        )
    if isinstance(exc, TransportError):
        return EXIT_FAILURE, f"{exc}: check DESCOPE_BASE_URI (or --base-url) and the network"
    if isinstance(exc, DescopeError):
        return EXIT_FAILURE, str(exc)
    return EXIT_FAILURE, f"unexpected {type(exc).__name__}: {exc} (rerun with --debug)"


def error_document(exc: BaseException, message: str) -> dict[str, Any]:
    """The ``--json`` error object: ``{"error": {"code", "message"[, "status"]}}``.

    ``code`` is one of a fixed set of names (``not_found``, ``authentication``,
    ``transport``, ...; ``unexpected`` for a bug); ``status`` is the HTTP status
    of an API error. ``message`` is the stderr line, secrets masked.
    """
    code = next((name for kind, name in _CODES if isinstance(exc, kind)), "unexpected")
    error: dict[str, Any] = {"code": code, "message": message}
    if isinstance(exc, ApiError):
        error["status"] = exc.status
    return {"error": error}


def redact(text: str, secrets: Iterable[str]) -> str:
    """Belt and braces: mask any secret the CLI holds, should a message ever echo one."""
    for secret in secrets:
        # Very short values would mask ordinary words; real secrets are long.
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text
