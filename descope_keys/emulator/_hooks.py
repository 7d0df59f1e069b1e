"""Test hooks of the emulator: a controllable clock, rate limiting, fault injection.

None of this is part of the Descope API. The clock is always in use (it is real
time until a test moves it); rate limiting and faults are off until asked for.
"""

from __future__ import annotations

import difflib
import inspect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, MISSING, dataclass, field, fields, replace
from typing import Any, Concatenate, ParamSpec, TypeVar

from descope_keys.emulator._wire import (
    ApiFailure,
    invalid_argument,
    opt_int,
    opt_number,
    opt_str,
    validation_failure,
)

__all__ = [
    "Clock",
    "Fault",
    "FaultBody",
    "Faults",
    "RateLimiter",
    "keyword_form",
    "reject_unknown_fields",
]

FaultBody = str | bytes | Mapping[str, Any] | None

_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S")
_V = TypeVar("_V")


class Clock:
    """The emulator's notion of "now", in epoch seconds.

    It follows real time, shifted by an offset that :meth:`advance` and
    :meth:`set` change, so time keeps flowing after a test moves it. Key
    expiry and the ``iat``/``exp`` of issued tokens are read from it. Safe to
    use from any thread.
    """

    def __init__(self, start: float | None = None) -> None:
        """Create a clock at real time, or at ``start`` (epoch seconds) if given."""
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else float(start) - time.time()

    def now(self) -> float:
        """Return the current emulator time in epoch seconds."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (or back, if negative) and return the new time."""
        with self._lock:
            self._offset += float(seconds)
            return self.now()

    def set(self, epoch_seconds: float) -> float:
        """Jump the clock to ``epoch_seconds`` (time keeps flowing from there)."""
        with self._lock:
            self._offset = float(epoch_seconds) - time.time()
            return self.now()

    def reset(self) -> float:
        """Go back to real time."""
        with self._lock:
            self._offset = 0.0
            return self.now()

    def __repr__(self) -> str:
        return f"Clock(now={self.now():.3f}, offset={self._offset:+.3f})"


class RateLimiter:
    """A fixed one-second window limit over the requests whose path matches.

    Real time (not the emulator clock) decides the windows: this simulates the
    service being busy, which has nothing to do with key expiry.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limit: int | None = None
        self._retry_after = 1
        self._path_prefix = "/"
        self._window = -1
        self._count = 0

    @property
    def enabled(self) -> bool:
        """True while a limit is configured."""
        return self._limit is not None

    def configure(
        self, calls_per_second: int | None, retry_after: int = 1, path_prefix: str = "/"
    ) -> None:
        """Allow ``calls_per_second`` matching calls per second, or none (``None``: off)."""
        if calls_per_second is not None and calls_per_second < 0:
            raise ValueError("calls_per_second must be >= 0 or None")
        if retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        with self._lock:
            self._limit = calls_per_second
            self._retry_after = int(retry_after)
            self._path_prefix = path_prefix
            self._window = -1
            self._count = 0

    def check(self, path: str) -> int | None:
        """Count one call; return the ``Retry-After`` seconds if it is over the limit."""
        with self._lock:
            limit = self._limit
            if limit is None or not path.startswith(self._path_prefix):
                return None
            window = int(time.monotonic())
            if window != self._window:
                self._window = window
                self._count = 0
            self._count += 1
            return self._retry_after if self._count > limit else None


def reject_unknown_fields(body: Mapping[str, Any], known: Sequence[str]) -> None:
    """Raise a 400 naming the first field of ``body`` that is not in ``known``.

    A hook that ignored a misspelt field would do something else than asked:
    ``{"prefix": ...}`` for ``pathPrefix`` would fault every path.
    """
    for name in body:
        if name in known:
            continue
        raise unknown_field(name, known)


def unknown_field(name: str, known: Sequence[str]) -> ApiFailure:
    """400 E011003 for a field a hook does not take, with the closest known name."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    allowed = ", ".join(known) if known else "none (send no body)"
    return validation_failure(f"unknown field {name!r} (known fields: {allowed}){hint}")


def _path_prefix(body: Mapping[str, Any], name: str) -> str:
    return opt_str(body, name) or "/"


def _fault_body(body: Mapping[str, Any], name: str) -> FaultBody:
    value = body.get(name)
    if value is not None and not isinstance(value, (str, dict)):
        raise invalid_argument(name, "a string, an object or null")
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    return bool(body.get(name))


def _wire(read: Callable[[Mapping[str, Any], str], Any]) -> dict[str, Any]:
    """Field metadata: how ``POST /emulator/faults`` reads the field (named in camelCase)."""
    return {"read": read}


@dataclass
class Fault:
    """One injected fault: answer matching requests with ``status`` and ``body``.

    ``status=None`` with a ``delay`` only slows the request down and then serves
    it normally. ``drop_connection`` closes the connection without an answer.
    ``after_handler`` lets the real handler run first (its effects happen), then
    replaces its answer: the client cannot tell whether the call took effect.

    Attributes:
        path_prefix: Which requests (e.g. ``"/v1/mgmt/accesskey/create"``, ``"/v2/keys"``).
        status: The status to answer; ``None`` serves the request normally (after ``delay``).
        times: How many requests; ``None`` until cleared.
        retry_after: A ``Retry-After`` header value (seconds, or a raw string).
        body: ``None`` for a Descope error body, a dict for JSON, text (an
            HTML page for a proxy error) or bytes.
        delay: Seconds to wait before answering.
        drop_connection: Close the connection instead of answering.
        after_handler: Run the real handler first (its change happens), then fault.
    """

    path_prefix: str = field(metadata=_wire(_path_prefix))
    _: KW_ONLY
    status: int | None = field(default=503, metadata=_wire(opt_int))
    times: int | None = field(default=1, metadata=_wire(opt_int))
    retry_after: float | str | None = field(default=None, metadata=_wire(opt_number))
    body: FaultBody = field(default=None, metadata=_wire(_fault_body))
    delay: float | None = field(default=None, metadata=_wire(opt_number))
    drop_connection: bool = field(default=False, metadata=_wire(_flag))
    after_handler: bool = field(default=False, metadata=_wire(_flag))

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Fault:
        """The fault a ``POST /emulator/faults`` body describes: the fields in camelCase.

        An absent field takes its default; ``pathPrefix`` defaults to ``"/"``.
        A field it does not know is a 400 naming it (see :func:`reject_unknown_fields`).
        """
        reject_unknown_fields(body, cls.json_fields())
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = _camel_case(spec.name)
            if name in body or spec.default is MISSING:
                values[spec.name] = spec.metadata["read"](body, name)
        return cls(**values)

    @classmethod
    def json_fields(cls) -> tuple[str, ...]:
        """The field names ``POST /emulator/faults`` takes, in camelCase."""
        return tuple(_camel_case(spec.name) for spec in fields(cls))


def _camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


def keyword_form(
    factory: Callable[_P, _V], method: Callable[[_S, _V], _R]
) -> Callable[Concatenate[_S, _P], _R]:
    """A method taking ``factory``'s arguments that calls ``method`` with the value they build.

    So ``inject_fault = keyword_form(Fault, add_fault)`` gives
    ``emu.inject_fault("/v2/keys", status=500)`` for
    ``emu.add_fault(Fault("/v2/keys", status=500))``, with :class:`Fault`'s
    signature (for type checkers and ``help()``) and without spelling its
    fields again.
    """

    def build_and_call(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return method(self, factory(*args, **kwargs))

    signature = inspect.signature(factory)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    build_and_call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this, *signature.parameters.values()], return_annotation=None
    )
    name = getattr(factory, "__name__", "the factory")
    build_and_call.__doc__ = (
        f"``{method.__name__}({name}(...))`` in one call: takes the arguments of "
        f":class:`{name}`.\n\n" + inspect.cleandoc(getattr(factory, "__doc__", None) or "")
    )
    build_and_call.__qualname__ = build_and_call.__name__ = f"{method.__name__}_from_arguments"
    return build_and_call


class Faults:
    """A queue of injected faults; the first one matching a request is used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def __bool__(self) -> bool:
        return bool(self._faults)

    def add(self, fault: Fault) -> None:
        """Queue a fault after the ones already queued."""
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be >= 1 or None (until cleared)")
        if fault.status is not None and not 100 <= fault.status <= 599:
            raise ValueError("status must be an HTTP status code or None")
        if fault.delay is not None and fault.delay < 0:
            raise ValueError("delay must be >= 0")
        with self._lock:
            # A copy: take() counts its uses down, and the caller may reuse the value.
            self._faults.append(replace(fault))

    def clear(self) -> None:
        """Remove every queued fault."""
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault that matches ``path``, if any."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not path.startswith(fault.path_prefix):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        del self._faults[index]
                return fault
        return None
