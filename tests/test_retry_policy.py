"""RetryPolicy values and the RetryBudget token bucket."""

from __future__ import annotations

import attrs
import pytest

from descope_keys import InvalidArgumentError
from descope_keys._retry import RetryBudget, RetryPolicy, exchange_policy


def test_policy_defaults_match_the_documented_contract() -> None:
    policy = RetryPolicy()
    assert (
        policy.attempts,
        policy.deadline,
        policy.initial_wait,
        policy.max_wait,
        policy.max_retry_after,
    ) == (6, 30.0, 0.2, 5.0, 60.0)  # 6 since issue 13 (README, "Why these defaults")


def test_the_exchange_keeps_4_attempts_under_the_default_policy_only() -> None:
    assert exchange_policy(RetryPolicy()) == RetryPolicy(attempts=4)
    chosen = RetryPolicy(attempts=9, deadline=5.0)
    assert exchange_policy(chosen) is chosen


def test_disabled_policy_makes_one_attempt() -> None:
    assert RetryPolicy.disabled().attempts == 1


def test_policy_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RetryPolicy().attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"attempts": True},
        {"attempts": 1.5},
        {"deadline": 0},
        {"deadline": float("inf")},
        {"initial_wait": -1},
        {"max_wait": float("nan")},
        {"max_retry_after": 0},
        {"deadline": "x"},
        {"max_wait": None},
        {"initial_wait": False},
        {"attempts": "4"},
    ],
)
def test_policy_rejects_unusable_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    (field,) = kwargs
    assert info.value.argument == field
    assert str(info.value).startswith(f"{field}: must be ")


def test_policy_docstring_documents_every_field() -> None:
    doc = RetryPolicy.__doc__ or ""
    for field in attrs.fields(RetryPolicy):
        assert f"{field.name}:" in doc


def test_budget_defaults_are_botocore_standard_mode() -> None:
    budget = RetryBudget()
    assert (budget.capacity, budget.retry_cost, budget.timeout_cost, budget.success_refill) == (
        500,
        5,
        10,
        1,
    )
    assert budget.tokens == 500


def test_budget_refuses_a_retry_it_cannot_pay_for() -> None:
    budget = RetryBudget(capacity=12)
    assert budget.acquire(after_timeout=True) == 10
    assert budget.acquire(after_timeout=False) is None
    assert budget.tokens == 2


def test_budget_refills_by_one_per_success_up_to_capacity() -> None:
    budget = RetryBudget(capacity=10)
    budget.acquire(after_timeout=False)
    for _ in range(3):
        budget.succeeded()
    assert budget.tokens == 8
    for _ in range(10):
        budget.succeeded()
    assert budget.tokens == 10


def test_budget_refund_of_a_retry_cost_never_exceeds_capacity() -> None:
    budget = RetryBudget(capacity=10)
    budget.succeeded(refund=10)
    assert budget.tokens == 10


def test_budget_rejects_negative_amounts() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        RetryBudget(retry_cost=-1)


def test_a_default_client_exchanges_under_4_attempts_and_manages_under_6() -> None:
    from descope_keys._client import AsyncDescopeKeys

    client = AsyncDescopeKeys(
        "P2policy000000000000000000", "mgmt-key", base_url="http://127.0.0.1:9"
    )
    assert client._exchange_api.policy.attempts == 4
    assert client.access_keys._caller is not None
    assert client.access_keys._caller.policy.attempts == 6
    chosen = RetryPolicy(attempts=2)
    client = AsyncDescopeKeys(
        "P2policy000000000000000000", retry=chosen, base_url="http://127.0.0.1:9"
    )
    assert client._exchange_api.policy is chosen
