"""Checks every JSON value of every request body, before any route reads it.

A body may be at most 1 MiB (the app refuses more), but 1 MiB of JSON can
still nest thousands deep, hold ``NaN`` (Python's decoder accepts it) or carry
a number no client can turn into a time. Such values used to be stored and
then break later calls on the key (a deep copy hitting the recursion limit)
or sign tokens that validators reject. Every body is walked once, without
recursion, and the first bad value is answered 400 with its field named.
"""

from __future__ import annotations

import math
from typing import Any, Final

from descope_keys._jwt_checks import MAX_DEPTH as TOKEN_MAX_DEPTH
from descope_keys._jwt_checks import MAX_EPOCH
from descope_keys.emulator._wire import invalid_argument, validation_failure

__all__ = ["EPOCH_FIELDS", "MAX_DEPTH", "MAX_INTEGER", "MAX_STRING", "check_values"]

#: Deepest nesting of a body (the body object is depth 1). A claim set in a
#: body sits one level lower in a token than in the body, so every token the
#: emulator signs stays within the validator's own limit.
MAX_DEPTH: Final = 32
assert MAX_DEPTH < TOKEN_MAX_DEPTH
#: Longest string value or member name, in characters (an emulator choice:
#: Descope documents no limit). It keeps one field from filling the 1 MiB a
#: body may hold, so a stored key stays far below what a client accepts.
MAX_STRING: Final = 64 * 1024
#: Integers beyond 64 bits: no Descope field holds one (Go would refuse them).
MAX_INTEGER: Final = 2**63 - 1
#: Fields holding epoch seconds, wherever they occur: 0 (not set) up to
#: 2999-12-31T23:59:59Z, the latest time the SDK's validator accepts.
EPOCH_FIELDS: Final = frozenset({"expireTime", "createdTime"})


def _where(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_values(body: dict[str, Any]) -> None:
    """Answer 400 for the first value that is too deep, too long, not finite or out of range."""
    stack: list[tuple[str, Any, int]] = [("", body, 1)]
    while stack:
        path, container, depth = stack.pop()
        items = container.items() if type(container) is dict else enumerate(container)
        for key, value in items:
            if type(key) is str and len(key) > MAX_STRING:
                raise validation_failure(
                    f"{path or 'body'} has a member name over {MAX_STRING} characters"
                )
            kind = type(value)
            if kind is dict or kind is list:
                if depth >= MAX_DEPTH:
                    raise validation_failure(
                        f"{_where(path, key)} is nested more than {MAX_DEPTH} levels deep"
                    )
                stack.append((_where(path, key), value, depth + 1))
            elif kind is float:
                if not math.isfinite(value):
                    raise invalid_argument(_where(path, key), "a finite number")
                _check_epoch(path, key, value)
            elif kind is str:
                if len(value) > MAX_STRING:
                    raise validation_failure(
                        f"{_where(path, key)} is longer than {MAX_STRING} characters"
                    )
            elif kind is int:
                if not -MAX_INTEGER <= value <= MAX_INTEGER:
                    raise invalid_argument(_where(path, key), "a 64-bit integer")
                _check_epoch(path, key, value)


def _check_epoch(path: str, key: object, value: float) -> None:
    if key in EPOCH_FIELDS and not 0 <= value <= MAX_EPOCH:
        raise validation_failure(
            f"{_where(path, key)} must be 0 or epoch seconds up to 2999-12-31T23:59:59Z"
        )
