"""Human and JSON rendering: aligned tables, local times with relative expiry."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from .._models import AccessKey, CreatedAccessKey, KeyTenant
from .._tokens import AccessKeyToken

__all__ = [
    "SECRET_WARNING",
    "abbreviate",
    "created_json",
    "key_json",
    "key_rows",
    "key_table",
    "local_time",
    "plain",
    "relative",
    "rows",
    "table",
    "tenants_text",
    "token_json",
    "token_rows",
    "write_json",
]

SECRET_WARNING = (
    "warning: the secret is shown only this once and cannot be retrieved again: "
    "store it now (e.g. in your CI secret store)"
)
# Claims every access-key JWT has; the rest are custom claims worth showing.
_STANDARD_CLAIMS = frozenset(
    {"iss", "sub", "dsub", "iat", "exp", "nbf", "aud", "jti", "roles", "permissions"}
    | {"tenants", "dct", "nsec", "amr", "drn"}
)
_UNITS = (("second", 60, 1), ("minute", 60, 60), ("hour", 48, 3600), ("day", 730, 86400))
_YEAR = 365.25 * 86400


def now_utc() -> datetime:
    """The current time, aware (one place to read the clock)."""
    return datetime.now(timezone.utc)


def relative(when: datetime, now: datetime) -> str:
    """``in 30 days`` / ``3 hours ago`` / ``now``, rounded to the nearest unit."""
    seconds = (when - now).total_seconds()
    size = abs(seconds)
    if size < 1:
        return "now"
    count, unit = round(size / _YEAR), "year"
    for name, limit, unit_seconds in _UNITS:
        if round(size / unit_seconds) < limit:
            count, unit = round(size / unit_seconds), name
            break
    text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def local_time(when: datetime) -> str:
    """An aware time in the machine's local zone, to the minute."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M %Z").rstrip()


def expiry_text(when: datetime | None, now: datetime) -> str:
    """``2030-01-01 12:00 CET (in 29 days)``, ``... (expired 2 days ago)`` or ``never``."""
    if when is None:
        return "never"
    rel = relative(when, now)
    return f"{local_time(when)} ({'expired ' + rel if when <= now else rel})"


def abbreviate(secret: str, keep: int = 8) -> str:
    """The first characters of a secret and its length, for demos."""
    return f"{secret[:keep]}... ({len(secret)} characters)"


def _names(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "-"


def tenants_text(tenants: Sequence[KeyTenant]) -> str:
    """``acme: deployer, viewer; beta: -``."""
    if not tenants:
        return "-"
    return "; ".join(f"{t.tenant_id}: {_names(t.role_names)}" for t in tenants)


def table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces, header first."""
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *body)
    ]


def rows(pairs: Sequence[tuple[str, str]], indent: str = "") -> list[str]:
    """``label  value`` lines with the values aligned."""
    width = max((len(label) for label, _ in pairs), default=0)
    return [f"{indent}{label.ljust(width)}  {value}".rstrip() for label, value in pairs]


def key_rows(key: AccessKey, now: datetime) -> list[tuple[str, str]]:
    """A key as label/value pairs; optional fields only when set."""
    pairs = [
        ("id", key.id),
        ("name", key.name),
        ("status", str(key.status)),
        ("roles", _names(key.role_names)),
        ("tenants", tenants_text(key.key_tenants)),
        ("expires", expiry_text(key.expire_time, now)),
    ]
    created = local_time(key.created_time) if key.created_time else "-"
    pairs.append(("created", f"{created} by {key.created_by}" if key.created_by else created))
    optional = (
        ("bound user", key.bound_user_id),
        ("description", key.description),
        ("permitted IPs", ", ".join(key.permitted_ips)),
        ("custom claims", json.dumps(plain(key.custom_claims)) if key.custom_claims else ""),
        ("attributes", json.dumps(plain(key.custom_attributes)) if key.custom_attributes else ""),
    )
    pairs.extend((label, value) for label, value in optional if value)
    return pairs


def key_table(keys: Sequence[AccessKey], now: datetime) -> list[str]:
    """Keys as an aligned table, one row each."""
    body = [
        [
            k.id,
            k.name,
            str(k.status),
            _names(k.role_names),
            tenants_text(k.key_tenants),
            expiry_text(k.expire_time, now),
        ]
        for k in keys
    ]
    return table(["ID", "NAME", "STATUS", "ROLES", "TENANTS", "EXPIRES"], body)


def token_rows(token: AccessKeyToken, now: datetime) -> list[tuple[str, str]]:
    """A validated token's claims as label/value pairs (never the JWT itself)."""
    pairs = [
        ("key id", token.key_id),
        ("project", token.project_id),
        ("issued", local_time(token.issued_at) if token.issued_at else "-"),
        ("expires", expiry_text(token.expires_at, now)),
        ("roles", _names(token.roles)),
        ("permissions", _names(token.permissions)),
    ]
    for tenant_id, claims in token.tenants.items():
        pairs.append(
            (
                f"tenant {tenant_id}",
                f"roles: {_names(claims.roles)}; permissions: {_names(claims.permissions)}",
            )
        )
    if token.current_tenant:
        pairs.append(("current tenant", token.current_tenant))
    custom = {k: v for k, v in token.claims.items() if k not in _STANDARD_CLAIMS}
    if custom:
        pairs.append(("custom claims", json.dumps(plain(custom), sort_keys=True)))
    if token.nsec:
        pairs.append(("nsec (untrusted)", json.dumps(plain(token.nsec), sort_keys=True)))
    return pairs


def plain(value: Any) -> Any:
    """Read-only mappings and tuples (as tokens hold claims) -> JSON-ready dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def key_json(key: AccessKey) -> dict[str, Any]:
    """A key with the wire's field names."""
    from .._converter import converter  # cattrs: only the commands that print keys need it

    out: dict[str, Any] = converter.unstructure(key)
    return out


def created_json(created: CreatedAccessKey) -> dict[str, Any]:
    """``{"key": {...}, "cleartext": "..."}`` as create/rotate answer on the wire."""
    return {"key": key_json(created.key), "cleartext": created.cleartext}


def token_json(token: AccessKeyToken) -> dict[str, Any]:
    """``{"jwt": ..., "keyId": ..., "claims": {...}}``."""
    return {"jwt": token.jwt, "keyId": token.key_id, "claims": plain(token.claims)}


def write_json(stream: TextIO, document: Any) -> None:
    """One indented JSON document and a newline."""
    stream.write(json.dumps(document, indent=2) + "\n")
