"""The one cattrs converter: attrs values <-> Descope's camelCase JSON.

Production parsing is lenient by design: the server adds fields over time and
may send ``null`` where we expect a list, so unknown keys are ignored and
nulls fall back to field defaults. Tests build the strict twin
(``make_converter(strict=True)``) so fixtures catch fields we forgot to model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._models import AccessKeyStatus

__all__ = ["EARLIEST", "LATEST", "converter", "epoch_to_datetime", "make_converter", "to_camel"]


def to_camel(name: str) -> str:
    """``bound_user_id`` -> ``boundUserId``."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


#: What a time too late for ``datetime`` (after 9999-12-31, or infinite) parses
#: to: for ``expire_time``, "never" in practice.
LATEST: Final = datetime.max.replace(tzinfo=timezone.utc)
#: What a time before year 1 (or minus infinity) parses to.
EARLIEST: Final = datetime.min.replace(tzinfo=timezone.utc)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_to_datetime(value: Any) -> datetime | None:
    """Epoch seconds -> aware UTC datetime, for every field of every response.

    Total over numbers, so that one odd record (another client may have
    written any number) cannot sink a whole search:

    - ``None`` and ``0`` mean "not set" (for ``expire_time``: never expires),
      and so does ``NaN`` (not a time at all);
    - a time after 9999-12-31T23:59:59.999999Z, or ``+Infinity``, becomes
      :data:`LATEST` (``datetime.max`` in UTC);
    - a time before year 1, or ``-Infinity``, becomes :data:`EARLIEST`.

    A value that is not a number (bools are not) is a malformed record: TypeError.
    """
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected epoch seconds, got {type(value).__name__}")
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        pass
    # Out of the platform's range (Windows stops at 1970 and 3000), of
    # datetime's, or not finite: exact arithmetic decides which.
    if value != value:  # NaN
        return None
    try:
        return _EPOCH + timedelta(seconds=value)
    except OverflowError:
        return LATEST if value > 0 else EARLIEST


def _datetime_to_epoch(value: datetime | None) -> int:
    return 0 if value is None else int(value.timestamp())


def _is_str_tuple(target: Any) -> bool:
    return get_origin(target) is tuple and get_args(target) == (str, ...)


def _str_tuple(value: Any, _: Any) -> tuple[str, ...]:
    # Direct checks: cattrs' generic tuple path costs half of a whole AccessKey.
    if type(value) is list or type(value) is tuple:
        for item in value:
            if type(item) is not str:
                raise TypeError("expected a list of strings")
        return tuple(value)
    raise TypeError("expected a list of strings")


def _is_json_object(target: Any) -> bool:
    return get_origin(target) is Mapping


def _json_object(value: Any, _: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise TypeError("expected a JSON object")


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Build a camelCase converter; ``strict`` forbids unknown keys (for tests)."""
    conv = cattrs.Converter()
    conv.register_structure_hook_func(_is_str_tuple, _str_tuple)
    conv.register_structure_hook_func(_is_json_object, _json_object)
    conv.register_structure_hook(datetime, lambda v, _: epoch_to_datetime(v))
    conv.register_structure_hook(datetime | None, lambda v, _: epoch_to_datetime(v))
    conv.register_unstructure_hook(datetime, _datetime_to_epoch)
    conv.register_unstructure_hook(datetime | None, _datetime_to_epoch)
    # Enum values go out as their wire strings, including kept unknown values.
    conv.register_unstructure_hook(AccessKeyStatus, lambda v: v.value)

    def renames(cls: type) -> dict[str, Any]:
        return {
            a.name: override(rename=a.metadata.get("wire_name", to_camel(a.name)))
            for a in attrs.fields(cls)
        }

    def structure_factory(cls: type) -> Callable[[Any, type], Any]:
        inner: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=strict, **renames(cls)
        )

        def structure(value: Any, target: type) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a JSON object for {cls.__name__}")
            if not strict:
                # null means "not set": let the field default apply.
                value = {k: v for k, v in value.items() if v is not None}
            return inner(value, target)

        return structure

    def unstructure_factory(cls: type) -> Callable[[Any], Any]:
        return make_dict_unstructure_fn(cls, conv, **renames(cls))

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


converter = make_converter()
