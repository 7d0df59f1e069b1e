"""descope-keys: a typed, async-first SDK for Descope access keys.

``AsyncDescopeKeys`` is the asyncio client; ``DescopeKeys`` is its generated
synchronous twin. Both manage access keys, exchange them for session JWTs and
validate those JWTs locally against a cached JWKS.
"""

from __future__ import annotations

import typing as _typing
from typing import Any

import attrs as _attrs

from ._models import AccessKey, AccessKeyStatus, CreatedAccessKey, KeyTenant
from ._secret import Secret
from .errors import (
    AmbiguousResultError,
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    DescopeError,
    ExpiredTokenError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TokenValidationError,
    TransportError,
    UnknownKeyError,
    WrongEventLoopError,
)

if _typing.TYPE_CHECKING:
    from ._access_keys import AsyncAccessKeys
    from ._client import AsyncDescopeKeys
    from ._credentials import AsyncAccessKeyCredentials, RefreshPolicy
    from ._jwks import JwksPolicy
    from ._retry import RetryPolicy
    from ._sync import AccessKeyCredentials, AccessKeys, DescopeKeys
    from ._tokens import AccessKeyToken, TenantClaims

# The clients, policies and tokens are imported on first access (PEP 562):
# a process that only needs the errors and models (the CLI's --help, a
# handler that catches NotFoundError) skips the client machinery.
_LAZY = {
    "AccessKeyCredentials": "._sync",
    "AccessKeyToken": "._tokens",
    "AccessKeys": "._sync",
    "AsyncAccessKeyCredentials": "._credentials",
    "AsyncAccessKeys": "._access_keys",
    "AsyncDescopeKeys": "._client",
    "DescopeKeys": "._sync",
    "JwksPolicy": "._jwks",
    "PendingCleanup": "._reconcile",
    "RefreshPolicy": "._credentials",
    "RetryPolicy": "._retry",
    "TenantClaims": "._tokens",
}

__all__ = [
    "AccessKey",
    "AccessKeyCredentials",
    "AccessKeyStatus",
    "AccessKeyToken",
    "AccessKeys",
    "AmbiguousResultError",
    "ApiError",
    "AsyncAccessKeyCredentials",
    "AsyncAccessKeys",
    "AsyncDescopeKeys",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "CreatedAccessKey",
    "DescopeError",
    "DescopeKeys",
    "ExpiredTokenError",
    "InvalidArgumentError",
    "JwksPolicy",
    "KeyTenant",
    "NotFoundError",
    "PendingCleanup",
    "PermissionDeniedError",
    "RateLimitError",
    "RefreshPolicy",
    "RequestTimeoutError",
    "RetryPolicy",
    "Secret",
    "ServerError",
    "TenantClaims",
    "TokenValidationError",
    "TransportError",
    "UnknownKeyError",
    "WrongEventLoopError",
]


def _publish(obj: Any) -> None:
    """Users see descope_keys.NotFoundError, not a private module path.

    attrs classes resolve their annotations first: that needs their real module.
    """
    if getattr(obj, "__module__", "").startswith("descope_keys."):
        if _attrs.has(obj):
            _attrs.resolve_types(obj)
        obj.__module__ = __name__


for _name in __all__:
    if _name not in _LAZY:
        _publish(globals()[_name])
del _name


def __getattr__(name: str) -> Any:
    """Import the client side on first access to any of its names; serve ``__version__``.

    The client modules import one another, so all of them come in together,
    and every lazy name is published before anyone sees it. ``__version__``
    comes from its module: importing the package reads no metadata.
    """
    if name in _LAZY:
        import importlib

        for other, module in _LAZY.items():
            value = getattr(importlib.import_module(module, __name__), other)
            _publish(value)
            globals()[other] = value
        return globals()[name]
    if name == "__version__":
        from ._version import __version__

        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
