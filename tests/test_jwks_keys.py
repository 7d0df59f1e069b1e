"""JWKS parsing, key filtering, the caching policy, and pinned keys (no network)."""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import pytest

from descope_keys._jwks import JwksPolicy, _lifetime, load_pinned_keys, parse_jwks
from descope_keys._tokens import TokenValidator
from descope_keys.errors import (
    ConfigurationError,
    InvalidArgumentError,
    TransportError,
    UnknownKeyError,
)
from tests._jwt_factory import PROJECT_ID, b64url, mint, private_key, public_jwk


def good(kid: str = "k1", /, **overrides: Any) -> dict[str, Any]:
    jwk = public_jwk(private_key(0), kid)
    jwk.update(overrides)
    return {k: v for k, v in jwk.items() if v is not None}


def test_policy_defaults() -> None:
    policy = JwksPolicy()
    assert (policy.ttl, policy.unknown_kid_cooldown, policy.max_stale, policy.timeout) == (
        600.0,
        30.0,
        86400.0,
        5.0,
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.ttl = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ttl", 0),
        ("ttl", -1.0),
        ("ttl", math.inf),
        ("ttl", math.nan),
        ("ttl", True),
        ("ttl", "600"),
        ("timeout", 0),
        ("unknown_kid_cooldown", -0.1),
        ("max_stale", math.inf),
    ],
)
def test_policy_rejects_bad_values(field: str, value: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        JwksPolicy(**{field: value})
    assert info.value.argument == field


def test_policy_accepts_zero_cooldown_and_zero_stale() -> None:
    policy = JwksPolicy(unknown_kid_cooldown=0, max_stale=0)
    assert policy.unknown_kid_cooldown == 0
    assert policy.max_stale == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 600.0),
        ("", 600.0),
        ("max-age=120", 120.0),
        ("public, max-age=300, must-revalidate", 300.0),
        ('max-age="90"', 90.0),
        ("MAX-AGE=45", 45.0),
        ("max-age=86400", 600.0),  # never longer than ttl
        ("max-age=0", 30.0),  # never below the floor
        ("no-store", 30.0),
        ("no-cache", 30.0),
        ("s-maxage=10", 600.0),  # not ours: shared caches only
        ("max-age=abc", 600.0),
        ("max-age=99999999999999", 600.0),
    ],
)
def test_cache_control_lifetime(header: str | None, expected: float) -> None:
    assert _lifetime(600.0, header) == expected


def test_cache_control_floor_never_exceeds_ttl() -> None:
    assert _lifetime(5.0, "max-age=0") == 5.0


def test_parse_keeps_acceptable_rsa_keys() -> None:
    keys = parse_jwks({"keys": [good("k1"), good("k2", use=None)]}, {})
    assert sorted(keys) == ["k1", "k2"]
    assert keys["k1"].alg == "RS256"
    assert keys["k1"].signature_size == 256


@pytest.mark.parametrize(
    "bad",
    [
        {"kty": "oct", "kid": "h", "k": b64url(b"secret" * 8), "alg": "HS256"},
        {"kty": "EC", "kid": "e", "crv": "P-256", "x": "AA", "y": "AA", "alg": "ES256"},
        good("k9", alg="HS256"),
        good("k9", alg="none"),
        good("k9", alg="PS256"),
        good("k9", alg=None),
        good("k9", use="enc"),
        good("k9", key_ops=["encrypt"]),
        good("k9", key_ops="verify"),
        good("../k9"),
        good("k9", kid=None),
        good("k9", kid=9),
        good("k9", n=12345),
        good("k9", n="not*base64"),
        good("k9", e=None),
        public_jwk(private_key(5, bits=1024), "k9"),
        good("k9", n=b64url((2**8200 - 1).to_bytes(1025, "big"))),
        good("k9", n=b64url((2**2047 + 2).to_bytes(256, "big"))),  # even modulus
        good("k9", e="AQ"),  # e = 1
        good("k9", e="AAAB"),  # e = 1 (padded)
        good("k9", e="AQAA"),  # even
        good("k9", e=b64url((2**64 + 1).to_bytes(9, "big"))),  # huge: slow verifies
        "not a key",
    ],
)
def test_parse_skips_unacceptable_keys(bad: Any) -> None:
    keys = parse_jwks({"keys": [bad, good("k1")]}, {})
    assert list(keys) == ["k1"]


def test_private_members_are_never_imported() -> None:
    numbers = private_key(0).private_numbers()
    leaked = good("k1", d=b64url(numbers.d.to_bytes(256, "big")))
    key = parse_jwks({"keys": [leaked]}, {})["k1"]
    assert not key.jwk.is_private


def test_duplicate_kid_keeps_the_first() -> None:
    keys = parse_jwks({"keys": [good("k1"), public_jwk(private_key(1), "k1")]}, {})
    assert keys["k1"].fingerprint[1] == good("k1")["n"]


def test_unchanged_keys_are_reused_across_refreshes() -> None:
    first = parse_jwks({"keys": [good("k1")]}, {})
    second = parse_jwks({"keys": [good("k1"), good("k2")]}, first)
    assert second["k1"] is first["k1"]
    changed = parse_jwks({"keys": [public_jwk(private_key(1), "k1")]}, second)
    assert changed["k1"] is not first["k1"]


def test_only_a_bounded_number_of_keys_is_read() -> None:
    keys = parse_jwks({"keys": [good(f"k{i}") for i in range(100)]}, {})
    assert len(keys) == 32


@pytest.mark.parametrize("body", [None, [], "keys", {"keys": "x"}, {"nokeys": []}])
def test_parse_rejects_a_non_key_set(body: Any) -> None:
    with pytest.raises(TransportError):
        parse_jwks(body, {})


def test_parse_rejects_a_set_without_usable_keys() -> None:
    with pytest.raises(TransportError, match="no usable"):
        parse_jwks({"keys": [good("k1", alg="HS256")]}, {})


@pytest.mark.parametrize(
    "value",
    [
        good("k1"),
        {"keys": [good("k1")]},
        json.dumps(good("k1")),
        json.dumps({"keys": [good("k1")]}),
    ],
)
def test_pinned_keys_accept_a_jwk_or_jwks_as_dict_or_text(value: Any) -> None:
    assert list(load_pinned_keys(value)) == ["k1"]


@pytest.mark.parametrize(
    "value", ["{not json", "[]", {"keys": []}, good("k1", alg="HS256"), {"kty": "RSA"}]
)
def test_unusable_pinned_keys_are_a_configuration_error(value: Any) -> None:
    with pytest.raises(ConfigurationError):
        load_pinned_keys(value)


async def test_pinned_keys_never_fetch() -> None:
    calls = 0

    async def unreachable(timeout: float) -> tuple[object, str | None]:
        nonlocal calls
        calls += 1
        raise TransportError("the network is unreachable in this test")

    validator = TokenValidator(PROJECT_ID, fetch=unreachable, public_key=json.dumps(good("k1")))
    token = await validator.validate(mint(private_key(0)))
    assert token.key_id == "K2AccessKey0001"
    with pytest.raises(UnknownKeyError):
        await validator.validate(mint(private_key(0), kid="k2"))
    assert calls == 0
    await validator.aclose()


def test_validator_needs_keys_or_a_fetcher() -> None:
    with pytest.raises(ConfigurationError):
        TokenValidator(PROJECT_ID, fetch=None)


@pytest.mark.parametrize("project_id", ["", None, 5])
def test_validator_needs_a_project_id(project_id: Any) -> None:
    with pytest.raises(ConfigurationError):
        TokenValidator(project_id, fetch=None, public_key=good("k1"))


@pytest.mark.parametrize("leeway", [-1, math.nan, math.inf, True, "5", 3601])
def test_validator_rejects_a_bad_leeway(leeway: Any) -> None:
    with pytest.raises(ConfigurationError):
        TokenValidator(PROJECT_ID, fetch=None, leeway=leeway, public_key=good("k1"))
