"""Descope-style error bodies and request-body checks for the emulator.

Every error the emulator answers has the body
``{"errorCode", "errorDescription", "errorMessage"}`` (docs/wire.md §7). Codes
``E0110xx`` and ``E130429`` are Descope's; ``E900xxx`` codes are the
emulator's own, for cases whose real code is undocumented.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

__all__ = [
    "CLAIM_KEY_MAX",
    "CLAIM_VALUE_MAX",
    "CLAIMS_MAX",
    "RESERVED_CLAIMS",
    "ApiFailure",
    "bad_request",
    "check_claims",
    "check_permitted_ips",
    "error_body",
    "error_response",
    "invalid_argument",
    "missing_argument",
    "opt_dict",
    "opt_int",
    "opt_number",
    "opt_str",
    "opt_str_list",
    "opt_tenants",
    "parse_body",
    "req_id_list",
    "req_str",
    "validation_failure",
]

# Descope's codes (docs/wire.md §7).
BAD_REQUEST = "E011001"
MISSING_ARGUMENTS = "E011002"
VALIDATION_FAILURE = "E011003"
INVALID_ARGUMENT = "E011004"
RATE_LIMITED = "E130429"
# The emulator's own codes (the real ones are not documented).
UNAUTHORIZED = "E900401"
FORBIDDEN_IP = "E900403"
KEY_NOT_FOUND = "E900404"
METHOD_NOT_ALLOWED = "E900405"
PROJECT_NOT_FOUND = "E900406"
NO_SUCH_PATH = "E900410"
BODY_TOO_LARGE = "E900413"
INTERNAL_ERROR = "E900500"
INJECTED_FAULT = "E900503"

# Claim limits from Descope's docs (docs/wire.md §5).
CLAIM_KEY_MAX = 60
CLAIM_VALUE_MAX = 500
CLAIMS_MAX = 100
# Claims the emulator sets itself; a key's custom claims may not shadow them.
RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "dsub",
        "aud",
        "iat",
        "exp",
        "nbf",
        "jti",
        "roles",
        "permissions",
        "tenants",
        "dct",
        "nsec",
        "amr",
        "drn",
    }
)

_DESCRIPTIONS = {
    BAD_REQUEST: "Bad request",
    MISSING_ARGUMENTS: "Missing arguments",
    VALIDATION_FAILURE: "Request validation failed",
    INVALID_ARGUMENT: "Invalid argument",
    RATE_LIMITED: "Too many requests",
    UNAUTHORIZED: "Unauthorized",
    FORBIDDEN_IP: "Forbidden",
    KEY_NOT_FOUND: "Access key not found",
    METHOD_NOT_ALLOWED: "Method not allowed",
    PROJECT_NOT_FOUND: "Project not found",
    NO_SUCH_PATH: "Not found",
    BODY_TOO_LARGE: "Request body too large",
    INTERNAL_ERROR: "Internal error",
    INJECTED_FAULT: "Service unavailable",
}


def error_body(code: str, message: str) -> dict[str, str]:
    """The Descope error body for ``code``."""
    return {
        "errorCode": code,
        "errorDescription": _DESCRIPTIONS.get(code, "Error"),
        "errorMessage": message,
    }


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON error response with a Descope error body."""
    return web.json_response(error_body(code, message), status=status, headers=headers)


class ApiFailure(Exception):
    """Raised by handlers and checks; the middleware answers it as an error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status} {code}: {message}")

    def response(self) -> web.Response:
        """The error response for this failure."""
        return error_response(self.status, self.code, self.message)


def bad_request(message: str) -> ApiFailure:
    """400 E011001: the body is not usable at all (malformed JSON, not an object)."""
    return ApiFailure(400, BAD_REQUEST, message)


def missing_argument(name: str) -> ApiFailure:
    """400 E011002: a required field is missing, null or empty."""
    return ApiFailure(400, MISSING_ARGUMENTS, f"{name} is required")


def invalid_argument(name: str, expected: str) -> ApiFailure:
    """400 E011004: a field has the wrong JSON type."""
    return ApiFailure(400, INVALID_ARGUMENT, f"{name} must be {expected}")


def validation_failure(message: str) -> ApiFailure:
    """400 E011003: well-typed input that breaks a rule."""
    return ApiFailure(400, VALIDATION_FAILURE, message)


def parse_body(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object; empty means ``{}``."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("request body is not valid JSON") from exc
    except RecursionError as exc:
        raise bad_request("request body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    try:
        # JSON may escape lone surrogates ("\ud800"): text that could never be
        # signed into a token or sent back as UTF-8. Refuse it up front.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise bad_request("request body has invalid Unicode (a lone surrogate)") from exc
    except RecursionError as exc:
        raise bad_request("request body is nested too deeply") from exc
    return body


def req_str(body: Mapping[str, Any], name: str) -> str:
    """A required non-empty string field."""
    value = body.get(name)
    if value is None or value == "":
        raise missing_argument(name)
    if not isinstance(value, str):
        raise invalid_argument(name, "a string")
    return value


def opt_str(body: Mapping[str, Any], name: str) -> str | None:
    """An optional string field: ``None`` when absent or null."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_argument(name, "a string or null")
    return value


def opt_int(body: Mapping[str, Any], name: str) -> int | None:
    """An optional integer field (an integral float such as ``1.7e9`` is accepted)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(name, "an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise invalid_argument(name, "an integer")
        value = int(value)
    return value


def opt_number(body: Mapping[str, Any], name: str) -> float | None:
    """An optional number (of seconds, usually): ``None`` when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(name, "a number")
    return float(value)


def opt_str_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    """An optional list of strings: ``None`` when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_argument(name, "a list of strings")
    return list(value)


def opt_dict(body: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """An optional JSON object field: ``None`` when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_argument(name, "an object")
    return dict(value)


def req_id_list(body: Mapping[str, Any], name: str = "ids") -> list[str]:
    """A required, non-empty list of non-empty id strings."""
    ids = opt_str_list(body, name)
    if not ids:
        raise missing_argument(name)
    if any(not i for i in ids):
        raise validation_failure(f"{name} must not contain empty ids")
    return ids


def opt_tenants(body: Mapping[str, Any], name: str = "keyTenants") -> list[dict[str, Any]] | None:
    """An optional ``keyTenants`` list, normalized to wire AccessKey form."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid_argument(name, "a list of {tenantId, roleNames} objects")
    tenants: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(item, dict):
            raise invalid_argument(where, "an object with tenantId and roleNames")
        tenant_id = item.get("tenantId")
        if tenant_id is None or tenant_id == "":
            raise missing_argument(f"{where}.tenantId")
        if not isinstance(tenant_id, str):
            raise invalid_argument(f"{where}.tenantId", "a string")
        if tenant_id in seen:
            raise validation_failure(f"tenant {tenant_id!r} appears twice in {name}")
        seen.add(tenant_id)
        roles = item.get("roleNames") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise invalid_argument(f"{where}.roleNames", "a list of strings")
        tenants.append({"tenantId": tenant_id, "roleNames": roles, "tenantName": ""})
    return tenants


def check_permitted_ips(ips: list[str]) -> None:
    """Every entry must be an IPv4/IPv6 address or CIDR range."""
    for entry in ips:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError as exc:
            raise validation_failure(
                f"permittedIps entry {entry!r} is not an IP address or CIDR range"
            ) from exc


def check_claims(claims: Mapping[str, Any], name: str, *, reserved: bool) -> None:
    """Descope's claim limits; with ``reserved``, refuse names the emulator sets itself."""
    if len(claims) > CLAIMS_MAX:
        raise validation_failure(f"{name} has more than {CLAIMS_MAX} claims")
    for key, value in claims.items():
        if not key or len(key) > CLAIM_KEY_MAX:
            raise validation_failure(f"{name} keys must be 1-{CLAIM_KEY_MAX} characters")
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > CLAIM_VALUE_MAX:
            raise validation_failure(f"{name}[{key!r}] is longer than {CLAIM_VALUE_MAX} characters")
        if reserved and key in RESERVED_CLAIMS:
            raise validation_failure(f"{name} may not set the reserved claim {key!r}")
