"""Secret: a string that never shows itself in ``repr``, ``str`` or captured locals.

Error reporters (Sentry's ``include_local_variables``, ``traceback`` with
``capture_locals=True``) record the ``repr`` of every local of every frame of
a traceback. The management key, access-key cleartexts and JWTs therefore
travel the request path wrapped in :class:`Secret`, and are unwrapped
(:meth:`Secret.reveal`) only where the ``Authorization`` header is built, or
where the user asks for the value itself.
"""

from __future__ import annotations

import hmac
from typing import Final, NoReturn, TypeVar, overload

from .errors import InvalidArgumentError

__all__ = ["Secret", "conceal", "reveal", "without_tracebacks"]

_T = TypeVar("_T")

_MASK: Final = "**********"


class Secret:
    """A secret string whose ``repr`` and ``str`` are masked (as pydantic's ``SecretStr``).

    ``reveal()`` returns the value. Equality compares values in constant
    time; a ``Secret`` is not hashable (a set or dict key would keep the
    value where nobody looks for it), and it refuses to be pickled or
    formatted into text.
    """

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise InvalidArgumentError("value", f"must be a string, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The secret value. Keep it out of locals that outlive the call that needs it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("a Secret is read-only")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def reveal(value: str | Secret) -> str:
    """The text of ``value``, a bare string or a :class:`Secret`."""
    return value.reveal() if isinstance(value, Secret) else value


@overload
def conceal(value: str | Secret) -> Secret: ...
@overload
def conceal(value: _T) -> _T: ...
def conceal(value: object) -> object:
    """``value`` wrapped when it is a bare string; anything else unchanged (for the checks).

    Called first thing by a function that receives a secret, so that its own
    frame never holds the bare value while it checks and passes it on.
    """
    return Secret(value) if isinstance(value, str) else value


def without_tracebacks(exc: BaseException) -> BaseException:
    """``exc``, its causes and contexts stripped of their tracebacks; returns ``exc``.

    For a failure chained under one of ours whose frames are not ours:
    aiohttp's hold the request headers, Authorization included, as locals,
    which error reporters record. Class, message and chain still say what
    failed.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        link = pending.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        link.__traceback__ = None
        pending += (link.__cause__, link.__context__)
    return exc
