"""RefreshPolicy: validated, frozen, windows that scale with the lifetime, backoff that grows."""

from __future__ import annotations

import attrs
import pytest

from descope_keys import (
    AuthenticationError,
    InvalidArgumentError,
    RateLimitError,
    RefreshPolicy,
    ServerError,
    TransportError,
)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("advisory_fraction", 1.0),
        ("advisory_fraction", -0.1),
        ("mandatory_fraction", float("nan")),
        ("jitter", 1.5),
        ("advisory_max", 0),
        ("mandatory_max", -1),
        ("retry_initial", "1"),
        ("retry_max", True),
    ],
)
def test_bad_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        RefreshPolicy(**{field: value})  # type: ignore[arg-type]
    assert caught.value.argument == field


def test_the_windows_must_nest() -> None:
    with pytest.raises(InvalidArgumentError, match="mandatory_fraction"):
        RefreshPolicy(advisory_fraction=0.1, mandatory_fraction=0.2)
    with pytest.raises(InvalidArgumentError, match="retry_initial"):
        RefreshPolicy(retry_initial=10, retry_max=5)


def test_it_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        RefreshPolicy().jitter = 0.1  # type: ignore[misc]


def test_windows_scale_with_the_lifetime_and_are_capped() -> None:
    policy = RefreshPolicy()
    # A 10-minute token: the advisory window is a quarter of it (less the
    # jitter), the mandatory one a tenth.
    assert policy._windows(600, 0.0) == (150.0, 60.0)
    assert policy._windows(600, 0.999)[0] == pytest.approx(75.0, abs=0.1)
    # A 4-second token (a test's): the same fractions.
    assert policy._windows(4, 0.0) == (1.0, pytest.approx(0.4))
    # A 12-hour token: the caps, 15 minutes and 1 minute.
    assert policy._windows(43200, 0.0) == (900.0, 60.0)


def test_the_advisory_point_never_falls_inside_the_mandatory_window() -> None:
    policy = RefreshPolicy(advisory_fraction=0.12, mandatory_fraction=0.1, jitter=0.9)
    advisory, mandatory = policy._windows(100, 0.999)
    assert advisory == mandatory == pytest.approx(10.0)


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    policy = RefreshPolicy(retry_initial=1.0, retry_max=30.0)
    error = TransportError("down")
    assert [policy._retry_delay(n, error, 0.0) for n in (1, 2, 3, 6, 50)] == [1, 2, 4, 30, 30]
    assert policy._retry_delay(3, error, 0.999) == pytest.approx(2.0, abs=0.01)
    assert policy._retry_delay(1, ServerError(503), 0.0) == 1.0


def test_a_dead_key_waits_the_longest_at_once() -> None:
    policy = RefreshPolicy(retry_max=30.0)
    assert policy._retry_delay(1, AuthenticationError(401), 0.0) == 30.0


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RefreshPolicy(retry_max=30.0)
    assert policy._retry_delay(1, RateLimitError(429, retry_after=7), 0.0) == 7.0
    assert policy._retry_delay(1, RateLimitError(429, retry_after=3600), 0.0) == 30.0
