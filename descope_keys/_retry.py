"""Retry policy: which failures are retried, how long to wait, and when to stop."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs

__all__ = ["RetryPolicy", "Safety", "run"]

T = TypeVar("T")


class Safety(enum.Enum):
    """How safe it is to repeat an operation whose outcome is unknown."""

    #: Repeating is harmless (reads, updates to a given state, exchange, rotate).
    IDEMPOTENT = "idempotent"
    #: Repeating is harmless, and a 404 on a repeat means the first attempt won.
    DELETE = "delete"
    #: Repeating could duplicate the effect: retried only when the request
    #: certainly never reached the server (create).
    UNSAFE = "unsafe"


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{attribute.name} must be a number")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a positive, finite number")


def _attempts(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("attempts must be an integer >= 1")


@attrs.frozen
class RetryPolicy:
    """How the client retries failed requests.

    Waits grow exponentially from ``initial_wait`` up to ``max_wait`` with full
    jitter; the whole call, waits included, never runs past ``deadline``. A
    server's ``Retry-After`` is honoured up to ``max_retry_after``; a longer
    hint raises :class:`~descope_keys.RateLimitError` at once.

    Attributes:
        attempts: Total attempts per call, the first included (1 = no retry).
        deadline: Seconds the whole call may take, waits included.
        initial_wait: Upper bound of the first backoff wait, in seconds.
        max_wait: Upper bound of any single backoff wait, in seconds.
        max_retry_after: Longest ``Retry-After`` the client will sleep for.
    """

    attempts: int = attrs.field(default=4, validator=_attempts)
    deadline: float = attrs.field(default=30.0, validator=_positive)
    initial_wait: float = attrs.field(default=0.2, validator=_positive)
    max_wait: float = attrs.field(default=5.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(attempts=1)


async def run(
    policy: RetryPolicy,
    operation: str,
    safety: Safety,
    attempt: Callable[[], Awaitable[T]],
) -> T:
    """Run ``attempt`` under ``policy``.

    The first attempt runs bare, outside any retry machinery, so the success
    path costs nothing.
    """
    # TODO(retry issue): backoff, jitter, deadline, Retry-After, budget.
    return await attempt()
