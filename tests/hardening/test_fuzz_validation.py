"""Property-based fuzz of validate_token over structured mutations of signed tokens.

Whatever the token, only TokenValidationError (or a subclass) escapes, every
call is bounded in time, and an accepted token can be read whole (claims,
nsec, repr, dict) without a RecursionError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from descope_keys._jwt_checks import MAX_TOKEN_CHARS
from descope_keys._tokens import AccessKeyToken, TokenValidator
from descope_keys.errors import TokenValidationError
from tests._jwt_factory import PROJECT_ID, b64url, claims, private_key, public_jwk, sign_segments

KEY = private_key(0)
VALIDATOR = TokenValidator(PROJECT_ID, fetch=None, public_key=public_jwk(KEY, "k1"))
# Generous for a loaded 2-core machine: a malformed token costs microseconds,
# a signed one an RSA verify and a decode (about 0.3 ms at the size cap).
CALL_BOUND = 0.05

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _deep(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


@st.composite
def payload_texts(draw: st.DrawFn) -> bytes:
    """A payload as JSON text: valid claims with one or more structured mutations."""
    base: dict[str, Any] = claims()
    for _ in range(draw(st.integers(0, 3))):
        name = draw(
            st.sampled_from(
                [
                    "exp",
                    "nbf",
                    "iat",
                    "sub",
                    "dsub",
                    "iss",
                    "aud",
                    "roles",
                    "permissions",
                    "tenants",
                    "dct",
                    "nsec",
                    "custom",
                ]
            )
        )
        if draw(st.booleans()):
            base.pop(name, None)
        else:
            base[name] = draw(json_values)
    text = json.dumps(base)
    mutation = draw(st.sampled_from(["none", "deep", "big", "duplicate", "raw"]))
    if mutation == "deep":
        depth = draw(st.sampled_from([30, 63, 64, 65, 200, 1_000, 5_000]))
        kind = draw(st.sampled_from(["list", "dict"]))
        where = draw(st.sampled_from(["custom", "nsec", "tenants", "roles"]))
        text = text[:-1] + f', "{where}": {_deep(depth, kind)}}}'
    elif mutation == "big":
        size = draw(st.sampled_from([1_000, 50_000, 120_000, 140_000]))
        text = text[:-1] + f', "pad": "{"x" * size}"}}'
    elif mutation == "duplicate":
        name = draw(st.sampled_from(["exp", "sub", "iss", "roles", "nsec"]))
        value = json.dumps(draw(json_values))
        text = (
            text[:-1] + f', "{name}": {value}}}'
            if draw(st.booleans())
            else (f'{{"{name}": {value}, ' + text[1:])
        )
    elif mutation == "raw":
        text = draw(st.sampled_from(["", "[]", "null", "1", '"x"', "{", "{}", "NaN"])) + draw(
            st.text(max_size=3)
        )
    return text.encode("utf-8", "surrogatepass")


headers = st.one_of(
    st.just({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "b64", "x"]), json_values, max_size=4
    ),
    st.fixed_dictionaries({"alg": st.just("RS256"), "kid": st.just("k1"), "x": json_values}),
)


@st.composite
def tokens(draw: st.DrawFn) -> str:
    header = b64url(json.dumps(draw(headers)).encode())
    payload = b64url(draw(payload_texts()))
    token = sign_segments(KEY, header, payload)
    # Sometimes break the signed token's shape after signing.
    shape = draw(st.sampled_from(["signed"] * 4 + ["dots", "cut", "insert", "pad", "swap"]))
    if shape == "dots":
        token = token.replace(".", draw(st.sampled_from(["", "..", ". "])), draw(st.integers(1, 2)))
    elif shape == "cut":
        token = token[: draw(st.integers(0, len(token)))]
    elif shape == "insert":
        at = draw(st.integers(0, len(token)))
        token = token[:at] + draw(st.text(min_size=1, max_size=4)) + token[at:]
    elif shape == "pad":
        token += draw(st.sampled_from([".", "=", "A" * (MAX_TOKEN_CHARS - len(token)), "." * 999]))
    elif shape == "swap":
        h, p, s = token.split(".")
        token = ".".join([p, h, s])
    return token


def read_everything(token: AccessKeyToken) -> None:
    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for k in value:
                walk(value[k])
        elif isinstance(value, tuple):
            for v in value:
                walk(v)

    walk(token.claims)
    walk(token.nsec)
    assert repr(token.claims)
    assert len(dict(token.claims)) == len(token.claims)


@given(tokens())
def test_only_validation_errors_escape_and_every_call_is_bounded(token: str) -> None:
    started = time.perf_counter()
    try:
        result = VALIDATOR.validate_local(token)
    except TokenValidationError as exc:
        event(exc.reason)
        result = None
    elapsed = time.perf_counter() - started
    assert elapsed < CALL_BOUND, f"{elapsed * 1000:.1f} ms for a {len(token)}-character token"
    if result is not None:
        event("accepted")
        read_everything(result)
