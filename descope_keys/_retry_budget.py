"""A per-client retry budget: a token bucket in the manner of botocore's standard mode.

Retries are paid for from the bucket and successes refill it, so a client
talking to a service that is down stops retrying after a few dozen failed
calls and fails fast, instead of multiplying the load on it by the number of
attempts. A healthy service refills the bucket as calls succeed.
"""

from __future__ import annotations

from . import telemetry

__all__ = ["RetryBudget"]


class RetryBudget:
    """Tokens that retries spend and successes earn back.

    The defaults are botocore's (``botocore/retries/quota.py`` and
    ``standard.py``): 500 tokens, 5 per retry, 10 per retry after a timeout
    (a timeout costs the service the most), 1 back per success on a first
    attempt, and the retry's cost back when a retry succeeds. A full bucket
    allows 100 retries in a row with no success in between.

    Single-threaded by design: a client lives on one event loop, and every
    method runs without an ``await``.
    """

    __slots__ = (
        "__weakref__",
        "_tokens",
        "capacity",
        "retry_cost",
        "success_refill",
        "timeout_cost",
    )

    def __init__(
        self,
        capacity: int = 500,
        *,
        retry_cost: int = 5,
        timeout_cost: int = 10,
        success_refill: int = 1,
    ) -> None:
        if min(capacity, retry_cost, timeout_cost, success_refill) < 0:
            raise ValueError("retry budget amounts must be >= 0")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_refill = success_refill
        self._tokens = capacity
        telemetry.track_budget(self)  # its level is a gauge while it lives

    @property
    def tokens(self) -> int:
        """Tokens left."""
        return self._tokens

    def acquire(self, *, after_timeout: bool) -> int | None:
        """Pay for one retry; the cost paid, or ``None`` when the budget is spent."""
        cost = self.timeout_cost if after_timeout else self.retry_cost
        if cost > self._tokens:
            return None
        self._tokens -= cost
        return cost

    def succeeded(self, refund: int | None = None) -> None:
        """Record a success: give back ``refund`` (a retry's cost) or the first-try refill."""
        tokens = self._tokens + (self.success_refill if refund is None else refund)
        self._tokens = tokens if tokens < self.capacity else self.capacity

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self._tokens}, capacity={self.capacity})"
