"""Hostile tokens cost little and never crash: shape, caps, depth, issuer (issue 18)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from descope_keys import AsyncDescopeKeys, DescopeKeys
from descope_keys._jwt_checks import MAX_DEPTH, MAX_TOKEN_CHARS, REASONS
from descope_keys._tokens import TokenValidator
from descope_keys.errors import ConfigurationError, TokenValidationError
from tests._jwt_factory import PROJECT_ID, b64url, claims, mint, private_key, public_jwk


@pytest.fixture
def validator() -> TokenValidator:
    return TokenValidator(PROJECT_ID, fetch=None, public_key=public_jwk(private_key(0), "k1"))


def reason(validator: TokenValidator, token: str) -> str:
    with pytest.raises(TokenValidationError) as info:
        validator.validate_local(token)
    assert info.value.reason in REASONS
    return info.value.reason


def good_parts() -> list[str]:
    return mint(private_key(0)).split(".")


def fill(template: str, size: int = MAX_TOKEN_CHARS) -> str:
    """``template`` with its ``*`` repeated (as the letter A) to make ``size`` characters."""
    return template.replace("*", "A" * (size - len(template) + 1))


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda h, p, s: "." * MAX_TOKEN_CHARS, "malformed"),
        (lambda h, p, s: "A" * MAX_TOKEN_CHARS, "malformed"),
        (lambda h, p, s: ("A." * MAX_TOKEN_CHARS)[:MAX_TOKEN_CHARS], "malformed"),
        (lambda h, p, s: fill(f"{h}.{p}.{s}.*"), "malformed"),
        (lambda h, p, s: fill(f"{h}.*"), "malformed"),
        (lambda h, p, s: fill(f"*.{p}.{s}"), "oversized"),
        (lambda h, p, s: fill(f"{h}.{p}.*"), "oversized"),
        (lambda h, p, s: fill(f"{h}.*é.{s}"), "bad_base64"),
    ],
    ids=[
        "dots",
        "no-dot",
        "many-segments",
        "four-segments",
        "two-segments",
        "huge-header",
        "huge-signature",
        "non-ascii-payload",
    ],
)
def test_malformed_tokens_at_the_cap_are_rejected_cheaply(
    validator: TokenValidator, build: Any, expected: str
) -> None:
    h, p, s = good_parts()
    token = build(h, p, s)
    assert len(token) <= MAX_TOKEN_CHARS
    assert reason(validator, token) == expected
    # Bounded, not a benchmark (benchmarks/validation.py measures it): far
    # below the old ~1 ms for 64 KiB of dots, with room for a loaded machine.
    started = time.perf_counter()
    for _ in range(20):
        with pytest.raises(TokenValidationError):
            validator.validate_local(token)
    assert (time.perf_counter() - started) / 20 < 0.002


def test_an_unsigned_payload_is_never_decoded(validator: TokenValidator) -> None:
    # Junk of the base64url alphabet's length but not its characters: the
    # signature check (first) refuses it; nothing else looks at it.
    h, p, s = good_parts()
    assert reason(validator, f"{h}.{'!' * len(p)}.{s}") == "bad_signature"


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize("where", ["claim", "nsec"])
def test_a_signed_payload_nested_too_deep_is_rejected(
    validator: TokenValidator, where: str
) -> None:
    # depth counts the payload object itself: a claim value adds levels below it.
    deep = claims(deep=nested(MAX_DEPTH)) if where == "claim" else claims(nsec={"x": nested(600)})
    assert reason(validator, mint(private_key(0), deep)) == "too_deep"


def test_nesting_at_the_limit_validates_and_reads(validator: TokenValidator) -> None:
    token = validator.validate_local(mint(private_key(0), claims(deep=nested(MAX_DEPTH - 1))))
    assert token is not None
    value = token.claims["deep"]
    for i in reversed(range(MAX_DEPTH - 1)):
        value = value[0] if i % 2 else value["k"]
    assert value == "leaf"
    assert "leaf" in repr(token.claims)
    assert len(dict(token.claims)) == len(token.claims)


def test_many_brackets_inside_strings_are_not_depth(validator: TokenValidator) -> None:
    token = validator.validate_local(mint(private_key(0), claims(text="[{" * 2000)))
    assert token is not None
    assert token.claims["text"] == "[{" * 2000


def test_issuer_pins_the_exact_iss() -> None:
    pinned = "https://api.descope.com/" + PROJECT_ID
    validator = TokenValidator(
        PROJECT_ID, fetch=None, public_key=public_jwk(private_key(0), "k1"), issuer=pinned
    )
    assert validator.validate_local(mint(private_key(0), claims(iss=pinned))) is not None
    for other in (PROJECT_ID, "https://evil.example/" + PROJECT_ID, pinned + "/", None):
        assert reason(validator, mint(private_key(0), claims(iss=other))) == "bad_issuer"


def test_without_issuer_any_url_ending_in_the_project_id_passes(validator: TokenValidator) -> None:
    for iss in (PROJECT_ID, "https://api.descope.com/" + PROJECT_ID, "http://x/" + PROJECT_ID):
        assert validator.validate_local(mint(private_key(0), claims(iss=iss))) is not None


@pytest.mark.parametrize("cls", [AsyncDescopeKeys, DescopeKeys])
def test_the_clients_take_issuer(cls: Any) -> None:
    jwk = public_jwk(private_key(0), "k1")
    pinned = "https://api.descope.com/" + PROJECT_ID
    client = cls(PROJECT_ID, public_key=jwk, issuer=pinned)
    try:
        if cls is DescopeKeys:
            assert client.validate_token(mint(private_key(0), claims(iss=pinned))) is not None
            with pytest.raises(TokenValidationError):
                client.validate_token(mint(private_key(0)))
    finally:
        if cls is DescopeKeys:
            client.close()
    for bad in ("", 5):
        with pytest.raises(ConfigurationError):
            cls(PROJECT_ID, public_key=jwk, issuer=bad)


async def test_the_async_client_pins_the_issuer() -> None:
    pinned = "https://api.descope.com/" + PROJECT_ID
    jwk = public_jwk(private_key(0), "k1")
    async with AsyncDescopeKeys(PROJECT_ID, public_key=jwk, issuer=pinned) as client:
        assert (await client.validate_token(mint(private_key(0), claims(iss=pinned)))) is not None
        with pytest.raises(TokenValidationError) as info:
            await client.validate_token(mint(private_key(0)))
        assert info.value.reason == "bad_issuer"


@pytest.mark.parametrize("cls", [AsyncDescopeKeys, DescopeKeys])
@pytest.mark.parametrize("how", ["text", "env", "mapping"])
def test_a_deeply_nested_public_key_is_a_configuration_error(
    cls: Any, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = '{"keys": ' + "[" * 100_000 + "]" * 100_000 + "}"
    if how == "env":
        monkeypatch.setenv("DESCOPE_PUBLIC_KEY", text)
        with pytest.raises(ConfigurationError):
            cls(PROJECT_ID)
        return
    public_key: Any = text
    if how == "mapping":
        public_key = {"keys": [nested(100_000)]}
    with pytest.raises(ConfigurationError):
        cls(PROJECT_ID, public_key=public_key)


def test_b64url_of_a_deep_payload_is_bad_json_not_recursion(validator: TokenValidator) -> None:
    payload = b"[" * 120_000
    assert len(b64url(payload)) < MAX_TOKEN_CHARS
    assert reason(validator, mint(private_key(0), payload)) == "bad_json"
    assert json.dumps(claims())  # the factory itself is fine
