"""The retry loop on scripted attempts: what is retried, how often, how long, and what is logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import pytest
import tenacity

from descope_keys._retry import RetryBudget, RetryPolicy, Safety, run
from descope_keys.errors import (
    AmbiguousResultError,
    ApiError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)

FAST = RetryPolicy(attempts=4, deadline=5.0, initial_wait=0.001, max_wait=0.004)
OP = "access_keys.test"


def server(status: int, retry_after: float | None = None) -> ApiError:
    cls = {404: NotFoundError, 400: BadRequestError, 429: RateLimitError}.get(status)
    cls = cls or (ServerError if status >= 500 else ApiError)
    return cls(status, retry_after=retry_after, operation=OP)


def not_sent() -> TransportError:
    return TransportError("cannot connect", operation=OP, request_sent=False)


def maybe_sent() -> TransportError:
    return TransportError("connection failed: ServerDisconnectedError", operation=OP)


def timed_out() -> TransportError:
    # What the transport raises when one attempt runs out of time.
    exc = RequestTimeoutError("request timed out", operation=OP)
    exc.__cause__ = asyncio.TimeoutError()
    return exc


class Script:
    """An attempt callable that raises the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *outcomes: BaseException | str) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def call(
    script: Script,
    safety: Safety = Safety.IDEMPOTENT,
    policy: RetryPolicy = FAST,
    **kwargs: object,
) -> str:
    return await asyncio.wait_for(run(policy, OP, safety, script, **kwargs), 10)  # type: ignore[arg-type]


# -- the success path ---------------------------------------------------------


async def test_success_on_first_attempt_never_builds_tenacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("AsyncRetrying built on the success path")

    # _retry imports tenacity on the first failure: patch it where it is read.
    monkeypatch.setattr(tenacity, "AsyncRetrying", forbidden)
    script = Script()
    assert await call(script) == "ok"
    assert script.calls == 1


async def test_success_on_first_attempt_refills_the_budget() -> None:
    budget = RetryBudget(capacity=10)
    budget.acquire(after_timeout=False)
    await call(Script(), budget=budget)
    assert budget.tokens == 6


# -- what is retried, per safety class ----------------------------------------

NOT_PROCESSED: list[Callable[[], BaseException]] = [
    not_sent,
    *(lambda s=s: server(s) for s in (408, 429, 503, 521, 522, 523, 530)),
]
AMBIGUOUS: list[Callable[[], BaseException]] = [
    maybe_sent,
    timed_out,
    *(lambda s=s: server(s) for s in (500, 502, 504, 520, 524)),
]
FINAL: list[Callable[[], BaseException]] = [
    *(lambda s=s: server(s) for s in (400, 401, 403, 404, 409, 422, 501, 505)),
    lambda: AmbiguousResultError("x", operation=OP),
    lambda: RuntimeError("a bug, not a network failure"),
]


def _ids(makers: Iterable[Callable[[], BaseException]]) -> list[str]:
    out = []
    for make in makers:
        exc = make()
        out.append(f"{type(exc).__name__}-{getattr(exc, 'status', '')}")
    return out


@pytest.mark.parametrize("safety", list(Safety))
@pytest.mark.parametrize("make", NOT_PROCESSED, ids=_ids(NOT_PROCESSED))
async def test_failures_that_never_reached_the_server_are_retried_for_every_operation(
    make: Callable[[], BaseException], safety: Safety
) -> None:
    script = Script(make(), make())
    assert await call(script, safety) == "ok"
    assert script.calls == 3


@pytest.mark.parametrize("safety", [Safety.IDEMPOTENT, Safety.DELETE])
@pytest.mark.parametrize("make", AMBIGUOUS, ids=_ids(AMBIGUOUS))
async def test_ambiguous_failures_are_retried_where_a_repeat_is_harmless(
    make: Callable[[], BaseException], safety: Safety
) -> None:
    script = Script(make(), make())
    assert await call(script, safety) == "ok"
    assert script.calls == 3


@pytest.mark.parametrize("make", AMBIGUOUS, ids=_ids(AMBIGUOUS))
async def test_ambiguous_failures_of_unsafe_calls_are_not_retried_without_reconcile(
    make: Callable[[], BaseException],
) -> None:
    first = make()
    script = Script(first)
    with pytest.raises(type(first)) as info:
        await call(script, Safety.UNSAFE)
    assert info.value is first
    assert script.calls == 1


@pytest.mark.parametrize("safety", list(Safety))
@pytest.mark.parametrize("make", FINAL, ids=_ids(FINAL))
async def test_definite_failures_are_never_retried(
    make: Callable[[], BaseException], safety: Safety
) -> None:
    first = make()
    script = Script(first)
    with pytest.raises(type(first)):
        await call(script, safety)
    assert script.calls == 1


async def test_a_definite_answer_after_retries_stops_at_once_and_counts_attempts() -> None:
    script = Script(server(503), server(400))
    with pytest.raises(BadRequestError) as info:
        await call(script)
    assert script.calls == 2
    assert info.value.attempts == 2
    assert "after 2 attempts" in str(info.value)


async def test_the_last_error_says_how_many_attempts_were_made() -> None:
    script = Script(*(server(503) for _ in range(10)))
    with pytest.raises(ServerError) as info:
        await call(script)
    assert script.calls == FAST.attempts == 4
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)


async def test_transport_errors_also_say_how_many_attempts_were_made() -> None:
    script = Script(*(not_sent() for _ in range(10)))
    with pytest.raises(TransportError) as info:
        await call(script, Safety.UNSAFE)
    assert info.value.attempts == 4
    assert str(info.value).endswith("(after 4 attempts)")


async def test_disabled_policy_makes_exactly_one_attempt() -> None:
    script = Script(server(503))
    with pytest.raises(ServerError) as info:
        await call(script, policy=RetryPolicy.disabled())
    assert script.calls == 1
    assert info.value.attempts == 1


# -- delete -------------------------------------------------------------------


async def test_delete_that_finds_nothing_after_an_ambiguous_attempt_succeeds() -> None:
    script = Script(maybe_sent(), server(404))
    assert await call(script, Safety.DELETE) == {}  # type: ignore[comparison-overlap]
    assert script.calls == 2


async def test_delete_that_finds_nothing_after_an_unsent_attempt_is_not_found() -> None:
    script = Script(server(503), server(404))
    with pytest.raises(NotFoundError) as info:
        await call(script, Safety.DELETE)
    assert info.value.attempts == 2


async def test_idempotent_call_that_finds_nothing_after_an_ambiguous_attempt_is_not_found() -> None:
    script = Script(maybe_sent(), server(404))
    with pytest.raises(NotFoundError):
        await call(script, Safety.IDEMPOTENT)


# -- reconcile (unsafe calls) -------------------------------------------------


class Reconciler:
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[BaseException] = []
        self.fail = fail

    async def __call__(self, failure: BaseException) -> None:
        self.seen.append(failure)
        if self.fail:
            raise AmbiguousResultError("cannot tell", operation=OP, candidate_ids=["K1", "K2"])


async def test_unsafe_call_is_retried_after_reconcile_undoes_an_ambiguous_attempt() -> None:
    first = maybe_sent()
    reconcile = Reconciler()
    script = Script(first, server(502))
    assert await call(script, Safety.UNSAFE, reconcile=reconcile) == "ok"
    assert script.calls == 3
    assert len(reconcile.seen) == 2
    assert reconcile.seen[0] is first


async def test_unsafe_call_reconciles_after_its_last_ambiguous_attempt_too() -> None:
    reconcile = Reconciler()
    script = Script(*(server(500) for _ in range(10)))
    with pytest.raises(ServerError) as info:
        await call(script, Safety.UNSAFE, reconcile=reconcile)
    assert script.calls == 4
    assert len(reconcile.seen) == 4
    assert info.value.attempts == 4


async def test_unsafe_call_does_not_reconcile_failures_that_never_reached_the_server() -> None:
    reconcile = Reconciler()
    script = Script(not_sent(), server(429), server(503))
    assert await call(script, Safety.UNSAFE, reconcile=reconcile) == "ok"
    assert reconcile.seen == []


async def test_a_reconcile_that_cannot_decide_raises_ambiguous_result_at_once() -> None:
    reconcile = Reconciler(fail=True)
    script = Script(server(503), maybe_sent())
    with pytest.raises(AmbiguousResultError) as info:
        await call(script, Safety.UNSAFE, reconcile=reconcile)
    assert script.calls == 2
    assert info.value.candidate_ids == ("K1", "K2")
    assert info.value.attempts == 2


# -- waits, Retry-After and the deadline --------------------------------------


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "descope_keys" and hasattr(r, "wait")]


async def test_backoff_is_full_jitter_within_exponential_bounds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    policy = RetryPolicy(attempts=6, initial_wait=0.001, max_wait=0.004)
    waits: list[list[float]] = [[] for _ in range(5)]
    for _ in range(40):
        caplog.clear()
        await call(Script(*(server(503) for _ in range(5))), policy=policy)
        for i, record in enumerate(retry_records(caplog)):
            waits[i].append(record.wait)  # type: ignore[attr-defined]
    bounds = [0.001, 0.002, 0.004, 0.004, 0.004]
    for observed, bound in zip(waits, bounds, strict=True):
        assert len(observed) == 40
        assert all(0 <= w <= bound for w in observed)
        # Jitter, not a fixed wait: the draws differ and reach beyond half the bound.
        assert len(set(observed)) > 30
        assert max(observed) > bound / 2


async def test_retry_after_seconds_is_the_least_wait(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    script = Script(server(429, retry_after=0.05))
    started = time.monotonic()
    assert await call(script, Safety.UNSAFE) == "ok"
    assert time.monotonic() - started >= 0.05
    (record,) = retry_records(caplog)
    assert record.wait == pytest.approx(0.05)  # type: ignore[attr-defined]


async def test_retry_after_over_the_limit_raises_rate_limit_error_without_sleeping() -> None:
    policy = RetryPolicy(initial_wait=0.001, max_wait=0.004, max_retry_after=60.0)
    script = Script(server(429, retry_after=3600.0))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        await call(script, policy=policy)
    assert time.monotonic() - started < 0.5
    assert script.calls == 1
    assert info.value.retry_after == 3600.0
    assert info.value.attempts == 1


async def test_retry_after_past_the_deadline_stops_without_sleeping() -> None:
    policy = RetryPolicy(deadline=0.5, initial_wait=0.001, max_wait=0.004)
    script = Script(server(503, retry_after=5.0))
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        await call(script, policy=policy)
    assert time.monotonic() - started < 0.4
    assert info.value.retry_after == 5.0
    assert script.calls == 1


async def test_the_deadline_includes_the_waits() -> None:
    policy = RetryPolicy(attempts=100, deadline=0.3, initial_wait=0.05, max_wait=0.1)
    script = Script(*(server(503) for _ in range(100)))
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        await call(script, policy=policy)
    assert time.monotonic() - started <= 0.3 + 0.05
    assert 1 < script.calls < 100
    assert info.value.attempts == script.calls


async def test_a_wait_that_ends_past_the_deadline_reports_the_last_real_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a busy loop a backoff sleep can end just past the deadline, after the
    # stop check let it start. No attempt can run then: the call ends with the
    # 503 it really got, not with a timeout that no request ever hit.
    policy = RetryPolicy(attempts=4, deadline=0.5, initial_wait=0.001, max_wait=0.002)
    real_sleep = asyncio.sleep

    async def overshooting_sleep(seconds: float) -> None:
        await real_sleep(0.6)  # far past the deadline, whatever was asked

    # _retry imports asyncio where it uses it: patch the function it reads.
    monkeypatch.setattr(asyncio, "sleep", overshooting_sleep)
    first = server(503)
    script = Script(first, server(503), server(503))
    with pytest.raises(ServerError) as info:
        await call(script, policy=policy)
    assert info.value is first
    assert script.calls == 1
    assert info.value.attempts == 1


async def test_a_retry_attempt_is_cut_off_at_the_deadline() -> None:
    policy = RetryPolicy(attempts=3, deadline=0.3, initial_wait=0.001, max_wait=0.002)
    calls = 0

    async def slow_after_first() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise server(503)
        await asyncio.sleep(30)
        return "late"

    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        await asyncio.wait_for(run(policy, OP, Safety.IDEMPOTENT, slow_after_first), 5)
    assert time.monotonic() - started < 0.6
    assert "deadline" in str(info.value)
    assert isinstance(info.value, RequestTimeoutError)
    assert info.value.request_sent
    assert calls == 2


async def test_a_retry_attempt_that_times_out_itself_is_not_the_deadline() -> None:
    # A RequestTimeoutError is an asyncio.TimeoutError too (Python 3.11+):
    # the deadline's wait_for must let the attempt's own one through.
    script = Script(server(503), timed_out())
    with pytest.raises(RequestTimeoutError) as info:
        await call(script, policy=RetryPolicy(attempts=2, deadline=30.0, initial_wait=0.001))
    assert str(info.value) == f"{OP}: request timed out (after 2 attempts)"
    assert script.calls == 2


# -- cancellation ---------------------------------------------------------------


async def test_cancellation_during_an_attempt_propagates_with_no_further_attempt() -> None:
    calls = 0
    started = asyncio.Event()

    async def hangs() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.sleep(30)
        return "never"

    task = asyncio.ensure_future(run(FAST, OP, Safety.IDEMPOTENT, hangs))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert calls == 1


async def test_cancellation_during_a_retry_attempt_propagates_with_no_further_attempt() -> None:
    calls = 0
    second = asyncio.Event()

    async def fails_then_hangs() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise server(503)
        second.set()
        await asyncio.sleep(30)
        return "never"

    task = asyncio.ensure_future(run(FAST, OP, Safety.IDEMPOTENT, fails_then_hangs))
    await asyncio.wait_for(second.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert calls == 2


async def test_cancellation_during_the_backoff_wait_propagates_at_once() -> None:
    policy = RetryPolicy(initial_wait=30.0, max_wait=30.0, deadline=120.0)
    script = Script(server(429, retry_after=20.0))
    task = asyncio.ensure_future(run(policy, OP, Safety.IDEMPOTENT, script))
    for _ in range(100):
        if script.calls:
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)  # now in the 20 s wait
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 0.5
    assert script.calls == 1


async def test_an_outer_timeout_stops_the_call_in_its_backoff_wait() -> None:
    policy = RetryPolicy(initial_wait=30.0, max_wait=30.0, deadline=120.0)
    script = Script(server(503, retry_after=20.0))
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(run(policy, OP, Safety.IDEMPOTENT, script), 0.1)
    assert time.monotonic() - started < 1.0
    assert script.calls == 1


# -- the retry budget -----------------------------------------------------------


async def test_a_spent_budget_fails_fast_without_retrying(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    budget = RetryBudget(capacity=4)
    script = Script(server(503), server(503))
    with pytest.raises(ServerError) as info:
        await call(script, budget=budget)
    assert script.calls == 1
    assert info.value.attempts == 1
    assert any("retry budget is spent" in r.getMessage() for r in caplog.records)


async def test_retries_spend_the_budget_and_a_successful_retry_refunds_its_cost() -> None:
    budget = RetryBudget(capacity=100)
    await call(Script(server(503), server(503)), budget=budget)
    # Two retries at 5 each; the successful one gives its 5 back.
    assert budget.tokens == 95


async def test_a_retry_after_a_timeout_costs_more() -> None:
    budget = RetryBudget(capacity=100)
    with pytest.raises(TransportError):
        await call(Script(*(timed_out() for _ in range(4))), budget=budget)
    assert budget.tokens == 100 - 3 * 10


async def test_when_the_service_is_down_a_client_stops_retrying_and_fails_fast() -> None:
    budget = RetryBudget()  # botocore's defaults: 500 tokens, 5 per retry
    attempts = 0
    for _ in range(100):
        script = Script(*(server(503) for _ in range(10)))
        with pytest.raises(ServerError):
            await call(script, budget=budget)
        attempts += script.calls
    # 100 retries paid for, then one attempt per call: far from 100 x 4.
    assert attempts == 100 + 100
    assert budget.tokens < budget.retry_cost


# -- logging ------------------------------------------------------------------


async def test_each_retry_is_logged_at_info_with_operation_attempt_reason_and_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    await call(Script(server(503), maybe_sent()))
    records = retry_records(caplog)
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert [r.attempt for r in records] == [1, 2]  # type: ignore[attr-defined]
    assert [r.operation for r in records] == [OP, OP]  # type: ignore[attr-defined]
    assert [r.reason for r in records] == [  # type: ignore[attr-defined]
        "ServerError HTTP 503",
        "TransportError",
    ]
    assert all(0 <= r.wait <= 0.004 for r in records)  # type: ignore[attr-defined]
    assert records[0].getMessage().startswith(f"{OP}: attempt 1 failed (ServerError HTTP 503)")


async def test_batch_delete_that_finds_keys_missing_after_an_ambiguous_attempt_is_ambiguous() -> (
    None
):
    script = Script(maybe_sent(), server(404))
    with pytest.raises(AmbiguousResultError) as info:
        await call(script, Safety.DELETE_MANY)
    assert isinstance(info.value.__cause__, NotFoundError)
    assert info.value.attempts == 2
    assert "may have deleted them" in str(info.value)


async def test_batch_delete_that_finds_keys_missing_after_an_unsent_attempt_is_not_found() -> None:
    script = Script(not_sent(), server(404))
    with pytest.raises(NotFoundError):
        await call(script, Safety.DELETE_MANY)


# -- honest errors: a call whose repeat is not a no-op ----------------------------

REPORTING = [Safety.REPLACE, Safety.DELETE, Safety.DELETE_MANY]


@pytest.mark.parametrize("safety", REPORTING)
async def test_a_call_that_fails_after_an_ambiguous_attempt_raises_ambiguous_result(
    safety: Safety,
) -> None:
    last = server(503)
    script = Script(maybe_sent(), server(503), server(503), last)
    with pytest.raises(AmbiguousResultError) as info:
        await call(script, safety)
    assert script.calls == 4
    assert info.value.attempts == 4
    # The last attempt's error stays at hand, and is the cause.
    assert info.value.__cause__ is last
    assert info.value.last_error is last
    assert "may have taken effect" in str(info.value)


@pytest.mark.parametrize("safety", REPORTING)
async def test_a_definite_answer_after_an_ambiguous_attempt_is_still_ambiguous(
    safety: Safety,
) -> None:
    script = Script(maybe_sent(), server(400))
    with pytest.raises(AmbiguousResultError) as info:
        await call(script, safety)
    assert isinstance(info.value.__cause__, BadRequestError)


@pytest.mark.parametrize("safety", REPORTING)
async def test_a_call_whose_failures_never_reached_the_server_raises_the_plain_error(
    safety: Safety,
) -> None:
    script = Script(*(server(503) for _ in range(4)))
    with pytest.raises(ServerError) as info:
        await call(script, safety)
    assert not isinstance(info.value, AmbiguousResultError)
    assert info.value.attempts == 4


async def test_replace_is_retried_after_an_ambiguous_attempt_and_returns_the_result() -> None:
    script = Script(maybe_sent(), server(500))
    assert await call(script, Safety.REPLACE) == "ok"
    assert script.calls == 3


@pytest.mark.parametrize("safety", [Safety.IDEMPOTENT, Safety.UNSAFE])
async def test_calls_whose_repeat_is_a_no_op_or_is_reconciled_keep_the_plain_error(
    safety: Safety,
) -> None:
    async def reconcile(failure: BaseException) -> None:
        return None  # undone: as good as never sent

    script = Script(maybe_sent(), *(server(503) for _ in range(3)))
    with pytest.raises(ServerError):
        await call(script, safety, reconcile=reconcile)


async def test_a_retry_after_too_long_after_an_ambiguous_attempt_is_ambiguous() -> None:
    script = Script(maybe_sent(), server(429, retry_after=3600.0))
    with pytest.raises(AmbiguousResultError) as info:
        await call(script, Safety.REPLACE)
    assert isinstance(info.value.__cause__, RateLimitError)
    assert script.calls == 2
