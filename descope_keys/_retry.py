"""Retry policy: which failures are retried, how long to wait, and when to stop.

A call's first attempt runs bare: no tenacity object, no task, no timer. Only
when it fails does :func:`run` build an ``AsyncRetrying`` that replays that
failure as its own attempt 1 and takes over from there, so the success path
costs one ``try`` and a token added to the retry budget.

What is retried depends on what the failure says about the server:

* *not processed*: the request certainly did not reach the origin, or was
  turned away before any work (connect/DNS failure, 408, 429, 503 and the
  edge's "origin unreachable" codes 521/522/523/530). Retried for every
  operation.
* *ambiguous*: the server may have acted (read timeout, reset or truncated
  body after sending, 500/502/504/520/524, a 2xx body that cannot be read).
  Retried only where a repeat is harmless (:attr:`Safety.IDEMPOTENT`,
  :attr:`Safety.REPLACE`, :attr:`Safety.DELETE`, :attr:`Safety.DELETE_MANY`) or, for
  :attr:`Safety.UNSAFE`, after a ``reconcile`` callback has undone whatever the
  attempt may have done.
* anything else (other 4xx, other 5xx, programming errors): never retried.

A call whose repeat is not a no-op for its caller (``REPLACE``, ``DELETE``,
``DELETE_MANY``) and that ends without a result after an ambiguous attempt
raises :class:`~descope_keys.AmbiguousResultError`, the last error as its
cause: a plain error would tell the caller that nothing happened.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar, cast

import attrs

from . import telemetry
from ._arguments import number_field
from ._retry_budget import RetryBudget
from ._secret import without_tracebacks
from .errors import (
    AmbiguousResultError,
    ApiError,
    DescopeError,
    NotFoundError,
    RequestTimeoutError,
    TransportError,
)

if TYPE_CHECKING:
    # tenacity is imported by the first failed attempt (_Retrier): a call
    # that succeeds at once never needs it, nor does a process that never
    # sends a request.
    # asyncio is imported where it is used: importing it (with ssl, socket
    # and concurrent.futures) costs more than this whole module, and
    # ``import descope_keys`` (the CLI's --help, a sync validator) runs no loop.

    from tenacity import RetryCallState

__all__ = [
    "Failure",
    "Reconcile",
    "RetryBudget",
    "RetryPolicy",
    "Safety",
    "classify",
    "exchange_policy",
    "run",
]

T = TypeVar("T")

_log = logging.getLogger("descope_keys")

# 408: the server gave up waiting for the request; 429 and 503: turned away
# before any work; 521/522/523/530: the edge could not reach the origin.
_NOT_PROCESSED_STATUSES = frozenset({408, 429, 503, 521, 522, 523, 530})
# The origin (or a proxy in front of it) failed or timed out mid-request:
# 520 and 524 are the edge's "origin answered garbage / took too long".
_AMBIGUOUS_STATUSES = frozenset({500, 502, 504, 520, 524})


class Safety(enum.Enum):
    """How safe it is to repeat an operation whose outcome is unknown."""

    #: Repeating is harmless (reads, updates to a given state, exchange).
    IDEMPOTENT = "idempotent"
    #: Repeating is harmless, but an attempt that lands replaces what the
    #: caller holds (rotate: the old secret dies). Retried like IDEMPOTENT; a
    #: call that ends without a result after an ambiguous attempt raises
    #: AmbiguousResultError, since the caller's old state may be gone.
    REPLACE = "replace"
    #: Repeating is harmless, and a 404 on a repeat means the first attempt won.
    DELETE = "delete"
    #: Repeating is harmless, but an all-or-nothing batch delete that finds a
    #: key missing on a repeat cannot tell "an earlier attempt deleted them"
    #: from "an id was wrong": that 404 becomes an AmbiguousResultError.
    DELETE_MANY = "delete_many"
    #: Repeating could duplicate the effect: retried only when the request
    #: certainly never reached the server (create), or after a reconcile.
    UNSAFE = "unsafe"


class Failure(enum.Enum):
    """What a failed attempt tells about the server's state."""

    #: The server certainly did not act on the request.
    NOT_PROCESSED = "not processed"
    #: The server may or may not have acted on the request.
    AMBIGUOUS = "ambiguous"
    #: A definite answer (or a local error) that a repeat would not change.
    FINAL = "final"


#: Called after an ambiguous failure of an UNSAFE operation. It returns only
#: once the attempt is known to have left nothing behind (so a retry is safe);
#: it raises :class:`~descope_keys.AmbiguousResultError` when it cannot tell.
Reconcile = Callable[[BaseException], Awaitable[None]]


def classify(exc: BaseException) -> Failure:
    """Say whether ``exc`` leaves the server untouched, maybe touched, or is final."""
    if isinstance(exc, ApiError):
        if exc.status in _NOT_PROCESSED_STATUSES:
            return Failure.NOT_PROCESSED
        if exc.status in _AMBIGUOUS_STATUSES:
            return Failure.AMBIGUOUS
        return Failure.FINAL
    if isinstance(exc, AmbiguousResultError):
        return Failure.FINAL
    if isinstance(exc, TransportError):
        return Failure.AMBIGUOUS if exc.request_sent else Failure.NOT_PROCESSED
    return Failure.FINAL


# Where an ambiguous attempt followed by a failed call must not read as "nothing
# happened": the caller would act on a state (old secret, existing key) that
# may be gone.
_REPORTS_AMBIGUITY = frozenset({Safety.REPLACE, Safety.DELETE, Safety.DELETE_MANY})


#: Attempts of an exchange under the default policy (see exchange_policy).
EXCHANGE_ATTEMPTS = 4

# A wait or a deadline of 0 or infinity is a mistake, not a policy.
_seconds = number_field(minimum=0.0, exclusive_minimum=True, unit="seconds")


@attrs.frozen
class RetryPolicy:
    """How the client retries failed requests.

    Waits grow exponentially from ``initial_wait`` up to ``max_wait`` with full
    jitter (each wait is uniform between 0 and the current bound). No retry
    starts, and no wait runs, past ``deadline`` seconds after the call began;
    the first attempt is bounded by the client's ``timeout`` only. A server's
    ``Retry-After`` (seconds or an HTTP date) is honoured as the least wait up
    to ``max_retry_after``; a longer hint raises the error (a
    :class:`~descope_keys.RateLimitError` for 429) at once, ``retry_after``
    set, instead of sleeping. Which failures are retried depends on the
    operation: see the README's retry table.

    Attributes:
        attempts: Total attempts per call, the first included (1 = no retry).
        deadline: Seconds the whole call may take, waits included.
        initial_wait: Upper bound of the first backoff wait, in seconds.
        max_wait: Upper bound of any single backoff wait, in seconds.
        max_retry_after: Longest ``Retry-After`` the client will sleep for.

    Raises:
        InvalidArgumentError: ``attempts`` is not an integer >= 1, or a time
            is not a finite number of seconds > 0 (bools are not numbers).
    """

    # 6, not 4: at 45 % failed requests, 4 attempts let 3 % of calls fail, and a
    # seed of 40 creates falls under 90 % about once in 100; 6 let 0.8 % fail
    # (README, "Why these defaults"). The exchange keeps 4: see exchange_policy.
    attempts: int = attrs.field(default=6, validator=number_field(minimum=1, integer=True))
    deadline: float = attrs.field(default=30.0, validator=_seconds)
    initial_wait: float = attrs.field(default=0.2, validator=_seconds)
    max_wait: float = attrs.field(default=5.0, validator=_seconds)
    max_retry_after: float = attrs.field(default=60.0, validator=_seconds)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(attempts=1)


def exchange_policy(policy: RetryPolicy) -> RetryPolicy:
    """The policy the exchange runs under: ``policy``, or under the default, 4 attempts.

    An exchange is latency-critical (callers and credential refreshes wait on
    it), so the default policy keeps its worst case as it was; a policy the
    caller chose applies as given.
    """
    if policy == RetryPolicy():
        return attrs.evolve(policy, attempts=EXCHANGE_ATTEMPTS)
    return policy


def _reason(exc: BaseException) -> str:
    """A loggable cause: class and status, or the low-level error's class. Never a body."""
    if isinstance(exc, ApiError):
        return f"{type(exc).__name__} HTTP {exc.status}"
    cause = exc.__cause__
    if cause is not None:
        return f"{type(exc).__name__} ({type(cause).__name__})"
    return type(exc).__name__


def _after_timeout(exc: BaseException) -> bool:
    import asyncio

    return isinstance(exc, TransportError) and isinstance(exc.__cause__, asyncio.TimeoutError)


class _Retrier(Generic[T]):
    """The retry loop of one call, entered only after its first attempt failed."""

    def __init__(
        self,
        policy: RetryPolicy,
        operation: str,
        safety: Safety,
        attempt: Callable[[], Awaitable[T]],
        budget: RetryBudget | None,
        reconcile: Reconcile | None,
        started: float,
    ) -> None:
        self._policy = policy
        self._operation = operation
        self._safety = safety
        self._attempt = attempt
        self._budget = budget
        self._reconcile = reconcile
        self._deadline_at = started + policy.deadline
        self._made = 0
        self._kind = Failure.FINAL
        self._ambiguous_seen = False
        # An ambiguous attempt whose effect nothing undid (see _REPORTS_AMBIGUITY).
        self._unresolved = False
        self._paid: int | None = None
        self._replay: BaseException | None = None
        self._last: Exception | None = None

    async def after_first(self, exc: Exception) -> T:
        """Handle the first attempt's failure: raise it, or retry under tenacity."""
        try:
            return await self._retry(exc)
        except Exception as failure:
            if not self._unresolved or isinstance(failure, AmbiguousResultError):
                raise
            raise AmbiguousResultError(
                f"an attempt may have taken effect before the call failed ({_reason(failure)})",
                operation=self._operation,
                attempts=self._made,
                last_error=failure if isinstance(failure, DescopeError) else None,
            ) from failure

    async def _retry(self, exc: Exception) -> T:
        import asyncio

        self._made = 1
        await self._settle(exc)
        if not self._should_retry_exc(exc):
            raise exc
        self._replay = exc
        from tenacity import AsyncRetrying
        from tenacity.wait import wait_random_exponential

        policy = self._policy
        self._jitter = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
        retrying = AsyncRetrying(
            sleep=asyncio.sleep,
            stop=self._stop,
            wait=self._wait,
            retry=self._should_retry,
            before_sleep=self._log_retry,
            reraise=True,
        )
        result = cast("T", await retrying(self._next_attempt))
        if self._budget is not None:
            self._budget.succeeded(self._paid)
        return result

    async def _next_attempt(self) -> T:
        import asyncio

        replay, self._replay = self._replay, None
        if replay is not None:
            # tenacity's attempt 1 is the bare attempt that already failed.
            raise replay
        remaining = self._deadline_at - time.monotonic()
        if remaining <= 0 and self._last is not None:
            # The wait ended past the deadline (a sleep overshoots on a busy
            # loop): no attempt can run, so the last real failure is the
            # outcome, not a timeout that no request ever hit.
            raise self._last
        self._made += 1
        self._kind = Failure.FINAL
        try:
            try:
                return await asyncio.wait_for(self._attempt(), remaining)
            except TransportError:
                # The attempt's own failure, already mapped: from Python 3.11
                # on, a RequestTimeoutError is an asyncio.TimeoutError too,
                # and must not pass for the deadline's.
                raise
            except asyncio.TimeoutError as exc:
                # The cancelled attempt's frames (aiohttp's among them) hang
                # off the timeout: its chain goes without tracebacks.
                raise RequestTimeoutError(
                    f"the retry deadline of {self._policy.deadline:g}s ran out",
                    operation=self._operation,
                    request_sent=True,
                ) from without_tracebacks(exc)
        except NotFoundError as exc:
            if self._safety is Safety.DELETE_MANY and self._ambiguous_seen:
                await self._settle(exc)
                raise AmbiguousResultError(
                    "some keys were missing on a retry: an earlier attempt, whose answer "
                    "was lost, may have deleted them, or an id was wrong",
                    operation=self._operation,
                    attempts=self._made,
                    last_error=exc,
                ) from exc
            if self._safety is Safety.DELETE and self._ambiguous_seen:
                # A repeat of a delete whose earlier attempt may have landed:
                # the key is gone, which is what the caller asked for.
                _log.info(
                    "%s: attempt %d found nothing to delete; an earlier attempt did it",
                    self._operation,
                    self._made,
                    extra={"operation": self._operation, "attempt": self._made},
                )
                return cast("T", {})  # the wire body of a successful delete
            await self._settle(exc)
            raise
        except Exception as exc:
            await self._settle(exc)
            raise

    async def _settle(self, exc: Exception) -> None:
        """Classify a failure, and reconcile an ambiguous UNSAFE one before any retry."""
        self._last = exc
        if isinstance(exc, (ApiError, TransportError)):
            exc.attempts = self._made
        self._kind = Failure.FINAL
        kind = classify(exc)
        if kind is Failure.AMBIGUOUS:
            self._ambiguous_seen = True
            self._unresolved = self._unresolved or self._safety in _REPORTS_AMBIGUITY
            if self._safety is Safety.UNSAFE:
                if self._reconcile is None:
                    return
                try:
                    await self._reconcile(exc)
                except AmbiguousResultError as ambiguous:
                    ambiguous.attempts = self._made
                    raise
                # Whatever the attempt did has been undone: as good as never sent.
                kind = Failure.NOT_PROCESSED
        self._kind = kind

    def _should_retry_exc(self, exc: BaseException) -> bool:
        if self._kind is Failure.FINAL:
            return False
        if self._kind is Failure.AMBIGUOUS and self._safety is Safety.UNSAFE:
            return False
        retry_after = exc.retry_after if isinstance(exc, ApiError) else None
        return retry_after is None or retry_after <= self._policy.max_retry_after

    def _should_retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        # CancelledError and other BaseExceptions propagate at once.
        return isinstance(exc, Exception) and self._should_retry_exc(exc)

    def _wait(self, state: RetryCallState) -> float:
        backoff = self._jitter(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, ApiError) else None
        return backoff if retry_after is None else max(backoff, retry_after)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._policy.attempts:
            return True
        if time.monotonic() + state.upcoming_sleep >= self._deadline_at:
            self._give_up(state, "the deadline would pass during the wait")
            return True
        if self._budget is not None:
            exc = state.outcome.exception() if state.outcome is not None else None
            paid = self._budget.acquire(after_timeout=exc is not None and _after_timeout(exc))
            if paid is None:
                self._give_up(state, "the client's retry budget is spent")
                return True
            self._paid = paid
        return False

    def _give_up(self, state: RetryCallState, why: str) -> None:
        telemetry.gave_up(why)
        _log.info(
            "%s: not retrying after attempt %d: %s",
            self._operation,
            state.attempt_number,
            why,
            extra={"operation": self._operation, "attempt": state.attempt_number},
        )

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = "unknown" if exc is None else _reason(exc)
        wait = state.upcoming_sleep
        telemetry.retried(self._operation, state.attempt_number, reason, wait)
        _log.info(
            "%s: attempt %d failed (%s); retrying in %.3fs",
            self._operation,
            state.attempt_number,
            reason,
            wait,
            extra={
                "operation": self._operation,
                "attempt": state.attempt_number,
                "reason": reason,
                "wait": wait,
            },
        )


async def run(
    policy: RetryPolicy,
    operation: str,
    safety: Safety,
    attempt: Callable[[], Awaitable[T]],
    *,
    budget: RetryBudget | None = None,
    reconcile: Reconcile | None = None,
) -> T:
    """Run ``attempt`` under ``policy``; return its result or raise its last error.

    The first attempt runs bare, outside any retry machinery, so the success
    path costs nothing. The error raised after retries carries ``attempts``.

    Args:
        policy: Attempts, backoff, deadline and ``Retry-After`` limits.
        operation: The SDK operation, for logs and errors.
        safety: Which failures may be repeated (see :class:`Safety`).
        attempt: Makes one attempt; raises the SDK's mapped errors.
        budget: The client's retry budget; each retry spends from it.
        reconcile: For UNSAFE operations, undoes an ambiguous attempt so that
            it may be retried (see :data:`Reconcile`).
    """
    started = time.monotonic()
    try:
        result = await attempt()
    except Exception as exc:
        retrier = _Retrier(policy, operation, safety, attempt, budget, reconcile, started)
        return await retrier.after_first(exc)
    if budget is not None:
        budget.succeeded()
    return result
