"""The create ledger: how a reconcile tells this client's keys and orphans apart."""

from __future__ import annotations

import asyncio
import time

from descope_keys._reconcile import _KNOWN_HORIZON, CreateLedger, CreateReconciler
from descope_keys._retry import RetryPolicy


def test_in_flight_attempts_bump_the_generation_of_their_name_only() -> None:
    ledger = CreateLedger()
    ledger._pending["a"] = 1  # a reconcile of "a" is watching
    with ledger.in_flight("a"), ledger.in_flight("b"):
        assert ledger.generation("a") == 1
        assert ledger.generation("b") == 1
    with ledger.in_flight("a"):
        pass
    assert ledger.generation("a") == 2


def test_per_name_state_is_dropped_when_nothing_watches_or_runs() -> None:
    ledger = CreateLedger()
    for i in range(1000):
        with ledger.in_flight(f"name-{i}"):
            pass
    assert ledger._inflight == {}
    assert ledger._generation == {}
    assert ledger._idle == {}


async def test_wait_idle_returns_once_the_last_attempt_of_a_name_ends() -> None:
    ledger = CreateLedger()
    attempt = ledger.in_flight("a")
    attempt.__enter__()
    waiter = asyncio.ensure_future(ledger.wait_idle("a", 5))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    with ledger.in_flight("b"):
        pass  # another name does not count
    await asyncio.sleep(0.01)
    assert not waiter.done()
    attempt.__exit__(None, None, None)
    assert await asyncio.wait_for(waiter, 5) is True


async def test_wait_idle_gives_up_after_its_timeout() -> None:
    ledger = CreateLedger()
    with ledger.in_flight("a"):
        assert await ledger.wait_idle("a", 0.02) is False


def test_returned_ids_are_known_and_forgotten_after_the_horizon() -> None:
    ledger = CreateLedger()
    ledger.returned("K1")
    assert ledger.is_known("K1")
    ledger._known["K1"] = time.monotonic() - _KNOWN_HORIZON - 1  # as if long ago
    ledger.returned("K2")
    assert not ledger.is_known("K1")
    assert ledger.is_known("K2")


def _reconciler(policy: object) -> CreateReconciler:
    return CreateReconciler(
        operation="access_keys.create",
        body={"name": "ci-bot"},
        transport=None,  # type: ignore[arg-type]
        authorization="",
        policy=policy,  # type: ignore[arg-type]
        budget=None,
        ledger=CreateLedger(),
    )


def test_the_reconcile_gets_what_is_left_of_the_deadline() -> None:
    reconciler = _reconciler(RetryPolicy(attempts=4, deadline=10.0))
    reconciler._started -= 4.0  # the call has run for 4 s already
    bounded = reconciler._bounded_policy()
    assert 5.9 <= bounded.deadline <= 6.0
    assert bounded.attempts == 4


def test_past_the_deadline_the_reconcile_makes_one_bare_attempt() -> None:
    reconciler = _reconciler(RetryPolicy(attempts=4, deadline=1.0))
    reconciler._started -= 5.0
    assert reconciler._bounded_policy().attempts == 1
    assert reconciler._remaining() < 0
