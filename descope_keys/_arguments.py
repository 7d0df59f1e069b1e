"""Argument checks that run before any I/O and name the offending argument."""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ._models import KeyTenant
from .errors import InvalidArgumentError

__all__ = [
    "check_claims",
    "check_expire_time",
    "check_id",
    "check_ids",
    "check_ips",
    "check_json_object",
    "check_optional_str",
    "check_role_names",
    "check_secret",
    "check_str",
    "check_strings",
    "check_tenants",
]

# Documented Descope limits on custom claims (docs/wire.md §5).
MAX_CLAIMS = 100
MAX_CLAIM_NAME = 60
MAX_CLAIM_VALUE = 500
# A single request is refused well before the server's own body limit.
MAX_IDS = 1000


def check_str(argument: str, value: object) -> str:
    """A non-empty string without surrounding whitespace only."""
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidArgumentError(argument, "must not be empty")
    return value


def check_secret(argument: str, value: object) -> str:
    """A secret for an HTTP header: non-empty, no whitespace or control characters.

    The message never shows the value.
    """
    secret = check_str(argument, value)
    if not secret.isprintable() or any(c.isspace() for c in secret):
        raise InvalidArgumentError(
            argument, "must not contain whitespace or control characters (a trailing newline?)"
        )
    return secret


def check_optional_str(argument: str, value: object) -> str | None:
    """``None`` or a string (which may be empty, e.g. to clear a description)."""
    if value is None or isinstance(value, str):
        return value
    raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")


def check_id(argument: str, value: object) -> str:
    """An access-key id: a non-empty string."""
    return check_str(argument, value)


def check_ids(argument: str, values: object) -> list[str]:
    """A non-empty collection of distinct-or-not key ids (order kept)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidArgumentError(argument, "must be a list of key ids, not a single string")
    ids = [check_id(f"{argument}[{i}]", v) for i, v in enumerate(values)]
    if not ids:
        raise InvalidArgumentError(argument, "must not be empty")
    if len(ids) > MAX_IDS:
        raise InvalidArgumentError(argument, f"must hold at most {MAX_IDS} ids per call")
    return ids


def check_strings(argument: str, values: object, *, what: str) -> list[str]:
    """A list (possibly empty) of non-empty strings, e.g. role names or tenant ids."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidArgumentError(argument, f"must be a list of {what}, not a single string")
    return [check_str(f"{argument}[{i}]", v) for i, v in enumerate(values)]


def check_role_names(argument: str, values: object) -> list[str]:
    """A list of role names (possibly empty)."""
    return check_strings(argument, values, what="role names")


def check_tenants(argument: str, values: object) -> list[dict[str, Any]]:
    """``KeyTenant`` values -> their wire form."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidArgumentError(argument, "must be a list of KeyTenant values")
    out = []
    for i, tenant in enumerate(values):
        if not isinstance(tenant, KeyTenant):
            raise InvalidArgumentError(f"{argument}[{i}]", "must be a KeyTenant")
        check_str(f"{argument}[{i}].tenant_id", tenant.tenant_id)
        roles = check_role_names(f"{argument}[{i}].role_names", tenant.role_names)
        out.append({"tenantId": tenant.tenant_id, "roleNames": roles})
    return out


def check_expire_time(argument: str, value: object, *, now: datetime | None = None) -> int:
    """An aware datetime or a timedelta from now -> epoch seconds; ``None`` -> 0 (never)."""
    if value is None:
        return 0
    current = now or datetime.now(timezone.utc)
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise InvalidArgumentError(argument, "must be a positive duration")
        value = current + value
    elif isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidArgumentError(
                argument, "must be timezone-aware (e.g. datetime.now(timezone.utc) + ...)"
            )
        if value <= current:
            raise InvalidArgumentError(argument, "must be in the future")
    else:
        raise InvalidArgumentError(
            argument, f"must be a datetime, a timedelta or None, not {type(value).__name__}"
        )
    # Round up so a key never expires before the requested instant.
    return math.ceil(value.timestamp())


def check_ips(argument: str, values: object) -> list[str]:
    """IPv4/IPv6 addresses or CIDR ranges, kept as the caller wrote them."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidArgumentError(argument, "must be a list of IP addresses or CIDR ranges")
    out = []
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise InvalidArgumentError(f"{argument}[{i}]", "must be a string")
        try:
            if "/" in value:
                ipaddress.ip_network(value, strict=False)
            else:
                ipaddress.ip_address(value)
        except ValueError:
            raise InvalidArgumentError(
                f"{argument}[{i}]", f"{value!r} is not an IP address or CIDR range"
            ) from None
        out.append(value)
    return out


def check_json_object(argument: str, value: object) -> dict[str, Any]:
    """A mapping with string keys whose values JSON can carry."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(argument, f"must be a mapping, not {type(value).__name__}")
    out = dict(value)
    for key in out:
        if not isinstance(key, str):
            raise InvalidArgumentError(argument, "keys must be strings")
    try:
        json.dumps(out, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(argument, f"must be JSON-serialisable ({exc})") from None
    return out


def check_claims(argument: str, value: object) -> dict[str, Any]:
    """Custom claims within Descope's limits: <=100 claims, names <=60, values <=500."""
    claims = check_json_object(argument, value)
    if len(claims) > MAX_CLAIMS:
        raise InvalidArgumentError(argument, f"must hold at most {MAX_CLAIMS} claims")
    for name, claim in claims.items():
        if not name:
            raise InvalidArgumentError(argument, "claim names must not be empty")
        if len(name) > MAX_CLAIM_NAME:
            raise InvalidArgumentError(
                argument, f"claim name {name[:20]!r}... exceeds {MAX_CLAIM_NAME} characters"
            )
        size = len(claim) if isinstance(claim, str) else len(json.dumps(claim))
        if size > MAX_CLAIM_VALUE:
            raise InvalidArgumentError(
                argument, f"value of claim {name!r} exceeds {MAX_CLAIM_VALUE} characters"
            )
    return claims
