"""Access-key values, as attrs classes (frozen: they are values)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from .errors import InvalidArgumentError

__all__ = ["AccessKey", "AccessKeyStatus", "CreatedAccessKey", "KeyTenant"]


class AccessKeyStatus(str, enum.Enum):
    """Whether an access key can be exchanged for tokens.

    A status this SDK does not know yet (from a newer server) is kept as a
    pseudo-member whose ``value`` is the server's string, so parsing never
    fails and the value round-trips.
    """

    ACTIVE = "active"
    INACTIVE = "inactive"

    @classmethod
    def _missing_(cls, value: object) -> AccessKeyStatus | None:
        if not isinstance(value, str):
            raise InvalidArgumentError("status", f"must be a string, not {type(value).__name__}")
        # A pseudo-member, cached so identity comparisons stay stable.
        member = cls._value2member_map_.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = value.upper()
            member._value_ = value
            cls._value2member_map_[value] = member
        return member  # type: ignore[return-value]

    def __str__(self) -> str:
        return self.value


def _tuple_of_str(argument: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable):
        raise InvalidArgumentError(
            argument, f"must be a list of strings, not {type(value).__name__}"
        )
    return tuple(value)


def _frozen_mapping(argument: str, value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is not None and not isinstance(value, Mapping):
        raise InvalidArgumentError(argument, f"must be a mapping, not {type(value).__name__}")
    return dict(value or {})


# Named converters, one per field: attrs passes a converter the value only,
# and an error must name its field. (Constructing a value raises only
# DescopeErrors, like everything else in the package.) Their parameter
# annotations are what __init__'s signature shows (pydoc, help(), the docs).
def _role_names(value: Iterable[str] | None) -> tuple[str, ...]:
    return _tuple_of_str("role_names", value)


def _permitted_ips(value: Iterable[str] | None) -> tuple[str, ...]:
    return _tuple_of_str("permitted_ips", value)


def _key_tenants(value: Iterable[KeyTenant]) -> tuple[KeyTenant, ...]:
    given: object = value  # checked as it comes: callers are not all type-checked
    if not isinstance(given, Iterable) or isinstance(given, (str, bytes)):
        raise InvalidArgumentError("key_tenants", "must be a list of KeyTenant values")
    return tuple(value)


def _custom_claims(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return _frozen_mapping("custom_claims", value)


def _custom_attributes(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return _frozen_mapping("custom_attributes", value)


@attrs.frozen
class KeyTenant:
    """A tenant an access key belongs to, with the key's roles in it.

    Attributes:
        tenant_id: The tenant's id.
        role_names: Roles the key holds in that tenant.
        tenant_name: The tenant's display name (set by the server in responses).
    """

    tenant_id: str
    role_names: tuple[str, ...] = attrs.field(default=(), converter=_role_names)
    tenant_name: str | None = None


@attrs.frozen
class AccessKey:
    """An access key as the management API describes it (never its secret).

    Attributes:
        id: The key id (the ``sub`` of the JWTs it is exchanged for).
        name: Human name of the key.
        status: ``AccessKeyStatus.ACTIVE`` or ``INACTIVE`` (or a newer value).
        role_names: Project-level roles.
        key_tenants: Tenants with per-tenant roles.
        created_time: When it was created (aware UTC), or ``None`` if unknown.
        expire_time: When it expires (aware UTC), ``None`` for never.
        created_by: Who created it.
        client_id: The key's client id.
        bound_user_id: The user the key is bound to, if any.
        custom_claims: Claims added to every JWT of this key.
        description: Free text (``""`` when unset).
        permitted_ips: IPs/CIDRs allowed to exchange the key (empty = any).
        custom_attributes: Custom attributes for search and bookkeeping.
    """

    id: str
    name: str = ""
    status: AccessKeyStatus = AccessKeyStatus.ACTIVE
    role_names: tuple[str, ...] = attrs.field(default=(), converter=_role_names)
    key_tenants: tuple[KeyTenant, ...] = attrs.field(default=(), converter=_key_tenants)
    created_time: datetime | None = None
    expire_time: datetime | None = None
    created_by: str = ""
    client_id: str = ""
    bound_user_id: str = ""
    # default=None, not factory=dict: the converter makes it {} all the same,
    # and the signature shows "= None" instead of attrs' NOTHING.
    custom_claims: Mapping[str, Any] = attrs.field(default=None, converter=_custom_claims)
    description: str = ""
    permitted_ips: tuple[str, ...] = attrs.field(default=(), converter=_permitted_ips)
    custom_attributes: Mapping[str, Any] = attrs.field(default=None, converter=_custom_attributes)

    @property
    def is_active(self) -> bool:
        """True when the key's status is ``active``."""
        return self.status is AccessKeyStatus.ACTIVE


@attrs.frozen
class CreatedAccessKey:
    """A key together with its cleartext secret, returned once by create/rotate.

    Attributes:
        key: The access key.
        cleartext: The secret to hand to the machine. It is never shown by
            ``repr``/``str`` and cannot be retrieved again: store it now.
    """

    key: AccessKey
    cleartext: str = attrs.field(repr=False)

    def __str__(self) -> str:
        return repr(self)
