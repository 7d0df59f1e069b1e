"""The create ledger: how a reconcile tells this client's keys and orphans apart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from descope_keys._call import Caller
from descope_keys._reconcile import (
    _KNOWN_HORIZON,
    _UNTIL_DEADLINE,
    CreateLedger,
    CreateReconciler,
    Fingerprint,
)
from descope_keys._retry import RetryPolicy


async def test_in_flight_attempts_bump_the_generation_of_their_name_only() -> None:
    ledger = CreateLedger()
    async with ledger.reconciling("a"):  # a reconcile of "a" is watching
        with ledger.in_flight("a"), ledger.in_flight("b"):
            assert ledger.generation("a") == 1
            assert ledger.generation("b") == 1
        with ledger.in_flight("a"):
            pass
        assert ledger.generation("a") == 2
    assert ledger.generation("a") == 0  # nothing watches or runs: forgotten


async def test_same_name_reconciles_take_turns_and_count_as_pending() -> None:
    ledger = CreateLedger()
    order: list[str] = []
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with ledger.reconciling("a"):
            order.append("first")
            first_in.set()
            await release.wait()

    async def second() -> None:
        await first_in.wait()
        async with ledger.reconciling("a"):
            order.append("second")

    tasks = [asyncio.ensure_future(first()), asyncio.ensure_future(second())]
    await first_in.wait()
    await asyncio.sleep(0.01)
    assert ledger.pending("a") == 2  # the running one and the one waiting its turn
    assert ledger.pending("b") == 0
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["first", "second"]
    assert ledger.pending("a") == 0
    assert (ledger._pending, ledger._locks, ledger._generation) == ({}, {}, {})


async def test_a_failing_reconcile_still_gives_up_its_turn() -> None:
    ledger = CreateLedger()
    with pytest.raises(LookupError):
        async with ledger.reconciling("a"):
            raise LookupError
    assert ledger.pending("a") == 0
    assert ledger._locks == {}


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


def _reconciler(policy: RetryPolicy) -> CreateReconciler:
    # No transport: these tests only read the reconcile's clock and policy.
    caller = Caller(None, policy, None, "")  # type: ignore[arg-type]
    return CreateLedger().reconciler(caller, "access_keys.create", {"name": "ci-bot"})


def test_the_reconcile_gets_what_is_left_of_the_deadline() -> None:
    reconciler = _reconciler(RetryPolicy(attempts=4, deadline=10.0))
    reconciler._started -= 4.0  # the call has run for 4 s already
    bounded = reconciler._bounded_policy()
    assert 5.9 <= bounded.deadline <= 6.0
    # Cleanup outlives the call's attempt count: only the deadline stops it.
    assert bounded.attempts == _UNTIL_DEADLINE


def test_past_the_deadline_the_reconcile_makes_one_bare_attempt() -> None:
    reconciler = _reconciler(RetryPolicy(attempts=4, deadline=1.0))
    reconciler._started -= 5.0
    assert reconciler._bounded_policy().attempts == 1
    assert reconciler._remaining() < 0


# -- the candidate test ----------------------------------------------------------

_REQUEST: dict[str, Any] = {
    "name": "ci-bot",
    "expireTime": 1_900_000_000,
    "roleNames": [],
    "keyTenants": [{"tenantId": "T1", "roles": ["r"]}, {"tenantId": "T2", "roles": []}],
    "userId": "U1",
    "customClaims": {"team": "ops"},
    "description": "deploys",
    "permittedIps": ["10.0.0.0/8", "192.0.2.1"],
    "customAttributes": None,
}
# The key the server made for that request, as a search lists it.
_MADE: dict[str, Any] = {
    "id": "K1",
    "name": "ci-bot",
    "createdTime": 1_800_000_000,
    "expireTime": 1_900_000_000,
    "keyTenants": [{"tenantId": "T2", "roles": []}, {"tenantId": "T1", "roles": ["r"]}],
    "boundUserId": "U1",
    "customClaims": {"team": "ops"},
    "description": "deploys",
    "permittedIps": ["192.0.2.1", "10.0.0.0/8"],
    "customAttributes": {},
    "status": "active",
    "unknownNewField": 1,
}
_LOW, _HIGH = 1_799_999_990.0, 1_800_000_010.0


def test_the_key_a_request_made_matches_its_fingerprint() -> None:
    # Tenant and IP order, empty-vs-null and unknown fields carry no meaning.
    assert Fingerprint.of(_REQUEST).matches(_MADE, _LOW, _HIGH)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "ci-bot-2"),
        ("expireTime", 0),
        ("roleNames", ["admin"]),
        ("keyTenants", [{"tenantId": "T1", "roles": ["r"]}]),
        ("boundUserId", "U2"),
        ("boundUserId", None),
        ("customClaims", {"team": "dev"}),
        ("description", "another worker's key"),
        ("permittedIps", ["192.0.2.1"]),
        ("customAttributes", {"env": "prod"}),
    ],
)
def test_a_key_that_differs_in_any_requested_field_is_not_a_candidate(
    field: str, value: Any
) -> None:
    assert not Fingerprint.of(_REQUEST).matches({**_MADE, field: value}, _LOW, _HIGH)


@pytest.mark.parametrize("created", [_LOW - 1, _HIGH + 1])
def test_a_key_created_outside_the_window_is_not_a_candidate(created: float) -> None:
    assert not Fingerprint.of(_REQUEST).matches({**_MADE, "createdTime": created}, _LOW, _HIGH)


def test_a_key_without_a_creation_time_cannot_be_ruled_out_by_the_window() -> None:
    key = {k: v for k, v in _MADE.items() if k != "createdTime"}
    assert Fingerprint.of(_REQUEST).matches(key, _LOW, _HIGH)


def test_a_minimal_request_matches_a_key_with_empty_fields() -> None:
    request = {"name": "bare", "expireTime": None, "roleNames": None, "keyTenants": None}
    key = {"id": "K", "name": "bare", "roleNames": [], "keyTenants": [], "expireTime": 0}
    key |= {"description": "", "customClaims": {}, "permittedIps": [], "boundUserId": ""}
    assert Fingerprint.of(request).matches(key, _LOW, _HIGH)
