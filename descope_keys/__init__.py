"""descope-keys: a typed, async-first SDK for Descope access keys.

``AsyncDescopeKeys`` is the asyncio client; ``DescopeKeys`` is its generated
synchronous twin. Both manage access keys, exchange them for session JWTs and
validate those JWTs locally against a cached JWKS.
"""

from __future__ import annotations

from typing import Any

import attrs as _attrs

from ._access_keys import AsyncAccessKeys
from ._client import AsyncDescopeKeys
from ._credentials import AsyncAccessKeyCredentials, RefreshPolicy
from ._jwks import JwksPolicy
from ._models import AccessKey, AccessKeyStatus, CreatedAccessKey, KeyTenant
from ._reconcile import PendingCleanup
from ._retry import RetryPolicy
from ._sync import AccessKeyCredentials, AccessKeys, DescopeKeys
from ._tokens import AccessKeyToken, TenantClaims
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
    "ServerError",
    "TenantClaims",
    "TokenValidationError",
    "TransportError",
    "UnknownKeyError",
    "WrongEventLoopError",
]

# Users see descope_keys.NotFoundError, not a private module path. attrs
# classes resolve their annotations first: that needs their real module.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("descope_keys."):
        if _attrs.has(_obj):
            _attrs.resolve_types(_obj)
        _obj.__module__ = __name__
del _name, _obj


def __getattr__(name: str) -> Any:
    """Serve ``__version__`` lazily, so that importing the package reads no metadata."""
    if name == "__version__":
        from ._version import __version__

        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
