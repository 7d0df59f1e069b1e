"""Every rejection of TokenValidator, each with its stable reason code.

Tokens are minted here with hand-built headers and payloads; the validator
uses pinned keys so no network is involved.
"""

from __future__ import annotations

import binascii
import random
import re
import time
import traceback
from typing import Any

import pytest

from descope_keys._jwt_checks import MAX_TOKEN_CHARS, REASONS, b64url_decode
from descope_keys._tokens import TokenValidator
from descope_keys.errors import ExpiredTokenError, TokenValidationError, UnknownKeyError
from tests._jwt_factory import (
    PROJECT_ID,
    b64url,
    claims,
    mint,
    private_key,
    public_jwk,
    sign_segments,
)


@pytest.fixture
def validator() -> TokenValidator:
    key = private_key(0)
    return TokenValidator(
        PROJECT_ID,
        fetch=None,
        public_key={"keys": [public_jwk(key, "k1"), public_jwk(key, "k384", alg="RS384")]},
    )


def reject(validator: TokenValidator, token: Any, **kwargs: Any) -> TokenValidationError:
    """Validate, expect a rejection, and check nothing of the token leaks."""
    with pytest.raises(TokenValidationError) as info:
        validator.validate_local(token, **kwargs)
    error = info.value
    assert error.reason in REASONS
    if isinstance(token, str) and token:
        rendered = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        rendered += repr(error) + str(error)
        for part in token.split("."):
            if len(part) >= 8:
                assert part not in rendered
    return error


def test_a_well_formed_token_is_accepted(validator: TokenValidator) -> None:
    token = validator.validate_local(mint(private_key(0)))
    assert token is not None
    assert token.key_id == "K2AccessKey0001"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "..", b"a.b.c", None, 42])
def test_malformed_compact_form(validator: TokenValidator, token: Any) -> None:
    assert reject(validator, token).reason in {"malformed", "bad_base64"}


def test_not_three_segments_is_malformed(validator: TokenValidator) -> None:
    token = mint(private_key(0))
    assert reject(validator, token + ".extra").reason == "malformed"
    assert reject(validator, token.rsplit(".", 1)[0]).reason == "malformed"


def test_oversized_token_is_refused_before_parsing(validator: TokenValidator) -> None:
    assert reject(validator, "a" * (MAX_TOKEN_CHARS + 1)).reason == "oversized"
    big = mint(private_key(0), claims(blob="x" * MAX_TOKEN_CHARS))
    assert reject(validator, big).reason == "oversized"


def test_oversized_header_is_refused(validator: TokenValidator) -> None:
    token = mint(private_key(0), extra_header={"pad": "x" * 2000})
    assert reject(validator, token).reason == "oversized"


@pytest.mark.parametrize("junk", ["!", "+", "/", "=", " ", "\n", "é", "."])
@pytest.mark.parametrize("segment", [0, 1, 2])
def test_non_base64url_characters_are_rejected(
    validator: TokenValidator, junk: str, segment: int
) -> None:
    parts = mint(private_key(0)).split(".")
    parts[segment] = parts[segment][:10] + junk + parts[segment][10:]
    # Header and payload are signed with the junk in place: only the decoder can object.
    token = sign_segments(private_key(0), parts[0], parts[1]) if segment < 2 else ".".join(parts)
    assert reject(validator, token).reason in {"bad_base64", "malformed"}


def test_non_canonical_base64url_is_rejected(validator: TokenValidator) -> None:
    header, payload, signature = mint(private_key(0)).split(".")
    assert len(signature) % 4 == 2  # 256 bytes: the last character carries 4 spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    tweaked = alphabet[alphabet.index(signature[-1]) | 1]  # same bytes, non-zero spare bit
    error = reject(validator, f"{header}.{payload}.{signature[:-1]}{tweaked}")
    assert error.reason == "bad_base64"


def test_impossible_base64_length_is_rejected(validator: TokenValidator) -> None:
    header, payload, _ = mint(private_key(0)).split(".")
    padded = payload + "A" * ((1 - len(payload)) % 4)
    assert len(padded) % 4 == 1
    token = sign_segments(private_key(0), header, padded)
    assert reject(validator, token).reason == "bad_base64"


@pytest.mark.parametrize(
    "raw_header", [b"not json", b"[1, 2]", b'"RS256"', b"\xff\xfe", b'{"alg": "RS256"} x']
)
def test_header_must_be_a_json_object(validator: TokenValidator, raw_header: bytes) -> None:
    token = mint(private_key(0), header=raw_header)
    assert reject(validator, token).reason == "bad_json"


@pytest.mark.parametrize(
    "raw_payload",
    [b"not json", b"[1]", b"null", b"\xff", b'{"exp": NaN}', b'{"exp": Infinity}', b"{} {}"],
)
def test_payload_must_be_a_json_object(validator: TokenValidator, raw_payload: bytes) -> None:
    token = mint(private_key(0), raw_payload)
    assert reject(validator, token).reason == "bad_json"


def test_missing_kid(validator: TokenValidator) -> None:
    token = mint(private_key(0), header={"alg": "RS256", "typ": "JWT"})
    assert reject(validator, token).reason == "missing_kid"


@pytest.mark.parametrize("kid", ["../../etc/passwd", "k1\n", "k 1", "", "x" * 129, 7, ["k1"]])
def test_unsafe_kid(validator: TokenValidator, kid: Any) -> None:
    token = mint(private_key(0), header={"alg": "RS256", "kid": kid})
    assert reject(validator, token).reason == "bad_kid"


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "HS512", "ES256", "PS256", "", None, 1])
def test_algorithm_not_allowed(validator: TokenValidator, alg: Any) -> None:
    header: dict[str, Any] = {"kid": "k1", "typ": "JWT"}
    if alg is not None:
        header["alg"] = alg
    assert reject(validator, mint(private_key(0), header=header)).reason == "alg_not_allowed"


def test_unsigned_token_is_rejected(validator: TokenValidator) -> None:
    header = b64url(b'{"alg":"none","kid":"k1"}')
    payload = b64url(b'{"sub":"K1","exp":9999999999}')
    assert reject(validator, f"{header}.{payload}.").reason == "alg_not_allowed"


def test_algorithm_must_match_the_key(validator: TokenValidator) -> None:
    # Both algorithms are allowed, but k1 is published for RS256 only.
    token = mint(private_key(0), kid="k1", alg="RS384")
    assert reject(validator, token).reason == "alg_mismatch"
    assert validator.validate_local(mint(private_key(0), kid="k384", alg="RS384")) is not None


@pytest.mark.parametrize("name", ["crit", "b64", "jku", "x5u", "jwk", "x5c"])
def test_forbidden_headers(validator: TokenValidator, name: str) -> None:
    values = {
        "crit": ["exp"],
        "b64": False,
        "jku": "http://127.0.0.1:1/keys",
        "x5u": "http://127.0.0.1:1/cert",
        "jwk": public_jwk(private_key(1), "k1"),
        "x5c": ["MIIB"],
    }
    token = mint(private_key(0), extra_header={name: values[name]})
    assert reject(validator, token).reason == "forbidden_header"


def test_signature_by_another_key(validator: TokenValidator) -> None:
    assert reject(validator, mint(private_key(1), kid="k1")).reason == "bad_signature"


def test_tampered_payload(validator: TokenValidator) -> None:
    header, _, signature = mint(private_key(0)).split(".")
    forged = b64url(
        b'{"sub":"K2AccessKey0001","iss":"%s","exp":9999999999,"roles":["admin"]}'
        % PROJECT_ID.encode()
    )
    assert reject(validator, f"{header}.{forged}.{signature}").reason == "bad_signature"


@pytest.mark.parametrize("size", [0, 1, 255, 257, 512])
def test_signature_of_the_wrong_size(validator: TokenValidator, size: int) -> None:
    header, payload, _ = mint(private_key(0)).split(".")
    signature = b64url(b"\x01" * size)
    expected = "bad_base64" if size == 0 else "bad_signature"  # an empty segment is not base64url
    assert reject(validator, f"{header}.{payload}.{signature}").reason == expected


def test_signature_check_comes_before_claims(validator: TokenValidator) -> None:
    # An expired token with a bad signature says nothing about its claims.
    forged = mint(private_key(1), claims(exp=int(time.time()) - 3600))
    assert reject(validator, forged).reason == "bad_signature"


def test_missing_exp(validator: TokenValidator) -> None:
    assert reject(validator, mint(private_key(0), claims(exp=None))).reason == "missing_exp"


@pytest.mark.parametrize("exp", ["2030-01-01", True, -1, 1e20, 32503680000, [1], {"at": 1}])
def test_non_numeric_exp(validator: TokenValidator, exp: Any) -> None:
    assert reject(validator, mint(private_key(0), claims(exp=exp))).reason == "bad_exp"


def test_the_latest_accepted_expiry_is_the_year_3000(validator: TokenValidator) -> None:
    token = validator.validate_local(mint(private_key(0), claims(exp=32503679999)))
    assert token is not None
    assert token.expires_at.year == 2999


def test_expired_token_raises_expired_token_error(validator: TokenValidator) -> None:
    error = reject(validator, mint(private_key(0), claims(exp=int(time.time()) - 10)))
    assert isinstance(error, ExpiredTokenError)
    assert error.reason == "expired"


def test_expiry_within_leeway_is_accepted(validator: TokenValidator) -> None:
    token = mint(private_key(0), claims(exp=int(time.time()) - 2))
    assert validator.validate_local(token) is not None


def test_leeway_is_configurable() -> None:
    strict = TokenValidator(
        PROJECT_ID, fetch=None, leeway=0, public_key=public_jwk(private_key(0), "k1")
    )
    token = mint(private_key(0), claims(exp=int(time.time()) - 2))
    assert isinstance(reject(strict, token), ExpiredTokenError)


def test_not_before_in_the_future(validator: TokenValidator) -> None:
    token = mint(private_key(0), claims(nbf=int(time.time()) + 60))
    assert reject(validator, token).reason == "not_yet_valid"
    assert validator.validate_local(mint(private_key(0), claims(nbf=int(time.time()) + 2)))


def test_issued_in_the_future(validator: TokenValidator) -> None:
    token = mint(private_key(0), claims(iat=int(time.time()) + 60))
    assert reject(validator, token).reason == "issued_in_future"


@pytest.mark.parametrize(("name", "reason"), [("nbf", "bad_nbf"), ("iat", "bad_iat")])
def test_non_numeric_nbf_and_iat(validator: TokenValidator, name: str, reason: str) -> None:
    token = mint(private_key(0), claims(**{name: "soon"}))
    assert reject(validator, token).reason == reason


@pytest.mark.parametrize("sub", [None, "", 42, ["K1"]])
def test_missing_subject(validator: TokenValidator, sub: Any) -> None:
    assert reject(validator, mint(private_key(0), claims(sub=sub))).reason == "missing_sub"


@pytest.mark.parametrize(
    "iss",
    [
        None,
        "P2OtherProject",
        PROJECT_ID + "x",
        "x" + PROJECT_ID,
        f"https://{PROJECT_ID}",
        f"https://api.descope.com/{PROJECT_ID}/",
        f"https://api.descope.com/{PROJECT_ID}extra",
        f"ftp://api.descope.com/{PROJECT_ID}",
        ["https://api.descope.com/", PROJECT_ID],
    ],
)
def test_foreign_issuer(validator: TokenValidator, iss: Any) -> None:
    assert reject(validator, mint(private_key(0), claims(iss=iss))).reason == "bad_issuer"


@pytest.mark.parametrize(
    "iss", [PROJECT_ID, f"https://api.descope.com/{PROJECT_ID}", f"http://127.0.0.1:9/{PROJECT_ID}"]
)
def test_accepted_issuers(validator: TokenValidator, iss: str) -> None:
    assert validator.validate_local(mint(private_key(0), claims(iss=iss))) is not None


def test_audience_is_checked_only_when_asked(validator: TokenValidator) -> None:
    no_aud = mint(private_key(0))
    assert validator.validate_local(no_aud) is not None
    assert reject(validator, no_aud, audience="billing").reason == "bad_audience"
    other = mint(private_key(0), claims(aud="shipping"))
    assert validator.validate_local(other) is not None
    assert reject(validator, other, audience="billing").reason == "bad_audience"
    listed = mint(private_key(0), claims(aud=["shipping", "billing"]))
    assert validator.validate_local(listed, audience="billing") is not None


def test_audience_is_rechecked_on_a_cached_token(validator: TokenValidator) -> None:
    token = mint(private_key(0), claims(aud="shipping"))
    assert validator.validate_local(token, audience="shipping") is not None
    assert reject(validator, token, audience="billing").reason == "bad_audience"


@pytest.mark.parametrize(
    "overrides",
    [
        {"roles": "admin"},
        {"roles": ["admin", 1]},
        {"permissions": {"deploy": True}},
        {"tenants": ["T1"]},
        {"tenants": {"T1": ["admin"]}},
        {"tenants": {"T1": {"roles": "admin"}}},
        {"nsec": "caller"},
        {"tenants": None, "dct": 5},
    ],
)
def test_malformed_authorization_claims(
    validator: TokenValidator, overrides: dict[str, Any]
) -> None:
    # A string where a list belongs would turn `"admin" in roles` into a substring test.
    assert reject(validator, mint(private_key(0), claims(**overrides))).reason == "bad_claim"


def test_malformed_audience_claim_when_asked(validator: TokenValidator) -> None:
    token = mint(private_key(0), claims(aud=5))
    assert reject(validator, token, audience="billing").reason == "bad_claim"


def test_unknown_kid_with_pinned_keys(validator: TokenValidator) -> None:
    error = reject(validator, mint(private_key(0), kid="k9"))
    assert isinstance(error, UnknownKeyError)
    assert error.reason == "unknown_kid"


def test_cached_token_is_rejected_once_expired(validator: TokenValidator) -> None:
    token = mint(private_key(0), claims(exp=int(time.time()) + 1))
    assert validator.validate_local(token) is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            validator.validate_local(token)
        except ExpiredTokenError:
            break
    else:
        pytest.fail("a cached token outlived its exp + leeway")
    assert isinstance(reject(validator, token), ExpiredTokenError)


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _reference_b64url(segment: str) -> bytes | None:
    """The obvious strict decoder: alphabet regex, length, zero spare bits."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", segment) or len(segment) % 4 == 1:
        return None
    spare = {2: 0x0F, 3: 0x03}.get(len(segment) % 4, 0)
    if _ALPHABET.index(segment[-1]) & spare:
        return None
    standard = segment.replace("-", "+").replace("_", "/")
    return binascii.a2b_base64(standard + "=" * (-len(segment) % 4))


def test_base64url_decoder_matches_a_strict_reference() -> None:
    # The fast decoder relies on output length instead of a regex: fuzz it.
    rng = random.Random(20240611)
    junk = [chr(c) for c in range(128) if chr(c) not in _ALPHABET] + ["\u00e9", "\u2028", "\uff10"]
    for _ in range(20000):
        segment = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 14)))
        for _ in range(rng.randint(0, 3)):
            at = rng.randint(0, len(segment))
            segment = segment[:at] + rng.choice(junk) + segment[at:]
        expected = _reference_b64url(segment)
        if expected is None:
            with pytest.raises(TokenValidationError) as info:
                b64url_decode(segment)
            assert info.value.reason == "bad_base64", repr(segment)
        else:
            assert b64url_decode(segment) == expected, repr(segment)
