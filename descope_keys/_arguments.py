"""Argument checks that run before any I/O and name the offending argument.

Every check raises :class:`~descope_keys.InvalidArgumentError`. The clients'
constructors promise :class:`~descope_keys.ConfigurationError` for bad input
instead: they run their checks inside :func:`configuration_errors`.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ._jwt_checks import MAX_EPOCH
from ._models import KeyTenant
from ._secret import Secret, conceal
from .errors import ConfigurationError, InvalidArgumentError

if TYPE_CHECKING:
    import attrs

__all__ = [
    "MAX_LEEWAY",
    "check_claims",
    "check_collection",
    "check_expire_time",
    "check_id",
    "check_ids",
    "check_ips",
    "check_json_object",
    "check_leeway",
    "check_number",
    "check_optional_str",
    "check_role_names",
    "check_secret",
    "check_str",
    "check_strings",
    "check_tenants",
    "configuration_errors",
    "number_field",
]

# Documented Descope limits on custom claims (docs/wire.md §5).
MAX_CLAIMS = 100
MAX_CLAIM_NAME = 60
MAX_CLAIM_VALUE = 500
# A single request is refused well before the server's own body limit.
MAX_IDS = 1000
# Clock skew beyond an hour is a broken clock, not skew: tolerating it would
# accept tokens long expired.
MAX_LEEWAY = 3600.0


def check_number(
    argument: str,
    value: object,
    *,
    minimum: float,
    exclusive_minimum: bool = False,
    maximum: float = math.inf,
    exclusive_maximum: bool = False,
    integer: bool = False,
    unit: str = "",
) -> float:
    """A numeric setting: an int or float (never a bool), finite, within bounds.

    Args:
        argument: The setting's name, as the caller wrote it.
        value: What the caller gave.
        minimum: The lowest allowed value (excluded with ``exclusive_minimum``).
        exclusive_minimum: ``minimum`` itself is out (a zero timeout makes no sense).
        maximum: The highest allowed value (excluded with ``exclusive_maximum``).
        exclusive_maximum: ``maximum`` itself is out (a fraction of a whole).
        integer: Only ints are allowed (a count, not a duration).
        unit: Named in the message (``"seconds"``).

    Returns:
        The value, as a float unless ``integer``.
    """
    kind = "an integer" if integer else "a finite number"
    if unit:
        kind += f" of {unit}"
    low = f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}"
    high = f"< {maximum:g}" if exclusive_maximum else f"<= {maximum:g}"
    expected = f"{kind} {low}" if maximum == math.inf else f"{kind} {low} and {high}"
    # bool is an int, but True seconds or attempts is a mistake, not a number.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
    ):
        raise InvalidArgumentError(argument, f"must be {expected}, not {type(value).__name__}")
    number: float = value
    if not integer:
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
    below = number <= minimum if exclusive_minimum else number < minimum
    above = number >= maximum if exclusive_maximum else number > maximum
    # NaN compares false with everything: it is caught by isfinite, not the bounds.
    if below or above or not (integer or math.isfinite(number)):
        shown = repr(value)
        if len(shown) > 32:  # an int of hundreds of digits: they say nothing
            shown = "a number that large"
        raise InvalidArgumentError(argument, f"must be {expected}, not {shown}")
    return number


def number_field(
    *,
    minimum: float,
    exclusive_minimum: bool = False,
    maximum: float = math.inf,
    exclusive_maximum: bool = False,
    integer: bool = False,
    unit: str = "",
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """An attrs validator that runs :func:`check_number` under the field's name."""

    def validate(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_number(
            attribute.name,
            value,
            minimum=minimum,
            exclusive_minimum=exclusive_minimum,
            maximum=maximum,
            exclusive_maximum=exclusive_maximum,
            integer=integer,
            unit=unit,
        )

    return validate


def check_leeway(value: object) -> float:
    """The clock-skew leeway, the one rule for both clients and the validator."""
    return check_number("leeway", value, minimum=0.0, maximum=MAX_LEEWAY, unit="seconds")


@contextlib.contextmanager
def configuration_errors() -> Iterator[None]:
    """Turn the argument errors of a client constructor into ConfigurationError.

    The constructors promise ConfigurationError for any bad input (API.md);
    the message is the argument error's own, so it names the setting too.
    """
    try:
        yield
    except InvalidArgumentError as exc:
        raise ConfigurationError(str(exc)) from None


def check_collection(argument: str, values: object, *, what: str) -> Iterable[object]:
    """``values`` when it is an iterable other than a string.

    A bare string is iterable too, and would silently become one item per
    character: ``role_names="admin"`` must not mean five roles.
    """
    if isinstance(values, (str, bytes)):
        raise InvalidArgumentError(argument, f"must be a list of {what}, not a single string")
    if not isinstance(values, Iterable):
        raise InvalidArgumentError(
            argument, f"must be a list of {what}, not {type(values).__name__}"
        )
    return values


def check_str(argument: str, value: object) -> str:
    """A non-empty string without surrounding whitespace only."""
    if not isinstance(value, str):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidArgumentError(argument, "must not be empty")
    return value


def check_secret(argument: str, value: object) -> Secret:
    """A secret for an HTTP header, wrapped: non-empty, no whitespace or control characters.

    Takes a bare string or a :class:`Secret`. The message never shows the
    value, and no local of this frame holds it bare.
    """
    value = conceal(value)
    if not isinstance(value, Secret):
        raise InvalidArgumentError(argument, f"must be a string, not {type(value).__name__}")
    if not value.reveal().strip():
        raise InvalidArgumentError(argument, "must not be empty")
    if not value.reveal().isprintable() or any(c.isspace() for c in value.reveal()):
        raise InvalidArgumentError(
            argument, "must not contain whitespace or control characters (a trailing newline?)"
        )
    return value


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
    items = check_collection(argument, values, what="key ids")
    ids = [check_id(f"{argument}[{i}]", v) for i, v in enumerate(items)]
    if not ids:
        raise InvalidArgumentError(argument, "must not be empty")
    if len(ids) > MAX_IDS:
        raise InvalidArgumentError(argument, f"must hold at most {MAX_IDS} ids per call")
    return ids


def check_strings(argument: str, values: object, *, what: str) -> list[str]:
    """A list (possibly empty) of non-empty strings, e.g. role names or tenant ids."""
    items = check_collection(argument, values, what=what)
    return [check_str(f"{argument}[{i}]", v) for i, v in enumerate(items)]


def check_role_names(argument: str, values: object) -> list[str]:
    """A list of role names (possibly empty)."""
    return check_strings(argument, values, what="role names")


def check_tenants(argument: str, values: object) -> list[dict[str, Any]]:
    """``KeyTenant`` values -> their wire form."""
    out = []
    for i, tenant in enumerate(check_collection(argument, values, what="KeyTenant values")):
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
        try:
            value = current + value
        except OverflowError:
            raise InvalidArgumentError(argument, _EXPIRE_RANGE) from None
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
    epoch = math.ceil(value.timestamp())
    if epoch > MAX_EPOCH:
        # Checked before any I/O: the server would store it, and every later
        # read of the key would carry a time no client can use.
        raise InvalidArgumentError(argument, _EXPIRE_RANGE)
    return epoch


_EXPIRE_RANGE = "must be no later than 2999-12-31T23:59:59Z (None means never)"


def check_ips(argument: str, values: object) -> list[str]:
    """IPv4/IPv6 addresses or CIDR ranges, kept as the caller wrote them."""
    import ipaddress  # only a create or update with permitted IPs needs it

    out = []
    items = check_collection(argument, values, what="IP addresses or CIDR ranges")
    for i, value in enumerate(items):
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
