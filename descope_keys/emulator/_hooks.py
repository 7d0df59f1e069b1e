"""Test hooks of the emulator: a controllable clock, rate limiting, fault injection.

None of this is part of the Descope API. The clock is always in use (it is real
time until a test moves it); rate limiting and faults are off until asked for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Clock", "Fault", "FaultBody", "Faults", "RateLimiter"]

FaultBody = str | bytes | Mapping[str, Any] | None


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


@dataclass
class Fault:
    """One injected fault: answer matching requests with ``status`` and ``body``.

    ``status=None`` with a ``delay`` only slows the request down and then serves
    it normally. ``drop_connection`` closes the connection without an answer.
    ``after_handler`` lets the real handler run first (its effects happen), then
    replaces its answer: the client cannot tell whether the call took effect.
    """

    path_prefix: str
    status: int | None = 503
    times: int | None = 1
    retry_after: float | str | None = None
    body: FaultBody = None
    delay: float | None = None
    drop_connection: bool = False
    after_handler: bool = False


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
            self._faults.append(fault)

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
