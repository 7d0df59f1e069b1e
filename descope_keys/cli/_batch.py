"""Run one call per key id concurrently, with a progress bar on a terminal.

Batches use per-id calls rather than the ``*_many`` endpoints: a batch
endpoint fails as a whole and cannot say which id was the problem, while an
operator rotating or deactivating forty keys needs to know exactly which ones
did not happen. A semaphore bounds the calls in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TextIO, TypeVar

import attrs

from ..errors import DescopeError

__all__ = ["BatchResult", "Progress", "run_batch"]

T = TypeVar("T")
_BAR_WIDTH = 24


class Progress:
    """A single ``\\r``-redrawn line on a terminal; nothing at all otherwise.

    Lines printed through :meth:`write` while the bar is shown land above it,
    so results and the bar never garble each other.
    """

    def __init__(self, stream: TextIO, label: str, total: int, *, enabled: bool) -> None:
        self._stream = stream
        self._label = label
        self._total = total
        self._enabled = enabled
        self._done = 0
        self._failed = 0
        self._shown = 0

    @classmethod
    def for_stream(cls, stream: TextIO, label: str, total: int) -> Progress:
        """A bar when ``stream`` is a terminal and there is more than one item."""
        isatty = getattr(stream, "isatty", None)
        return cls(stream, label, total, enabled=total > 1 and bool(isatty and isatty()))

    @property
    def enabled(self) -> bool:
        """Whether a bar is drawn (the stream is a terminal)."""
        return self._enabled

    def _clear(self) -> None:
        if self._shown:
            self._stream.write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _draw(self) -> None:
        filled = _BAR_WIDTH * self._done // max(self._total, 1)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        failed = f", {self._failed} failed" if self._failed else ""
        text = f"{self._label} [{bar}] {self._done}/{self._total}{failed}"
        self._stream.write("\r" + text)
        self._stream.flush()
        self._shown = len(text)

    def write(self, stream: TextIO, line: str) -> None:
        """Print a line (to any stream) above the bar."""
        if self._enabled:
            self._clear()
        stream.write(line + "\n")
        stream.flush()
        if self._enabled and self._done < self._total:
            self._draw()

    def advance(self, *, failed: bool) -> None:
        """Count one finished item and redraw."""
        self._done += 1
        self._failed += failed
        if self._enabled:
            self._draw()

    def close(self) -> None:
        """Remove the bar so the summary starts on a clean line."""
        if self._enabled:
            self._clear()
            self._stream.flush()


@attrs.frozen
class BatchResult(Generic[T]):
    """Successes and failures, each in the order the ids were given."""

    succeeded: list[tuple[str, T]]
    failed: list[tuple[str, DescopeError]]


async def run_batch(
    key_ids: Sequence[str],
    call: Callable[[str], Awaitable[T]],
    *,
    concurrency: int,
    progress: Progress,
    on_success: Callable[[str, T], None],
    on_failure: Callable[[str, DescopeError], None],
) -> BatchResult[T]:
    """Apply ``call`` to every id, at most ``concurrency`` at a time.

    SDK errors are collected per id; anything else is a bug and propagates.
    """
    limit = asyncio.Semaphore(concurrency)
    outcomes: dict[str, T | DescopeError] = {}

    async def one(key_id: str) -> None:
        async with limit:
            try:
                value = await call(key_id)
            except DescopeError as exc:
                outcomes[key_id] = exc
                progress.advance(failed=True)
                on_failure(key_id, exc)
            else:
                outcomes[key_id] = value
                progress.advance(failed=False)
                on_success(key_id, value)

    try:
        await asyncio.gather(*(one(k) for k in key_ids))
    finally:
        progress.close()
    succeeded: list[tuple[str, T]] = []
    failed: list[tuple[str, DescopeError]] = []
    for key_id in key_ids:
        outcome = outcomes[key_id]
        if isinstance(outcome, DescopeError):
            failed.append((key_id, outcome))
        else:
            succeeded.append((key_id, outcome))
    return BatchResult(succeeded, failed)
