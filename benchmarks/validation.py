"""How fast local validation is, against the physical floor and other libraries.

One run measures, on the same RS256 tokens (realistic access-key claims):

- ``raw_verify``: ``cryptography``'s RSA PKCS#1 v1.5 verify of pre-decoded
  signatures (the floor: no parsing, no claims),
- ``minimal_parse_verify``: our split, base64url and JSON decoding and the
  verify, with no check, no cache and no result object (what remains is the
  price of the checks and of the ``AccessKeyToken``),
- ``joserfc_alg_verify``: the same verify through joserfc's algorithm registry,
- ``joserfc_deserialize``: joserfc's generic ``jws.deserialize_compact``
  (signature only, no claim checks),
- ``ours_distinct``: :meth:`TokenValidator.validate_local` on tokens it has
  never seen (full strict validation),
- ``ours_repeated``: the same token again (the verified-token cache),
- ``pyjwt``: ``jwt.decode`` with a pre-loaded key (signature, exp, iat, nbf),
- ``descope_sdk``: the official SDK's ``DescopeClient.validate_session`` with a
  pinned public key (no network).

And the cost of rejecting hostile tokens of the largest size accepted
(``MAX_TOKEN_CHARS``), in ``rejection_us``: each malformed shape (wrong
segment count, a segment over its cap, a non-ASCII payload), the worst of
them (``largest_malformed``), and a well-formed token at the cap whose
signature is wrong (``forged_at_cap``: a SHA-256 over it and an RSA verify,
the least any verifier pays).

Every figure is microseconds per token: the median over interleaved rounds,
so that drifts of a shared machine hit every contender alike; ratios are the
median of per-round ratios. Nothing here touches the network. Run::

    python -m benchmarks.validation [--quick] [--rejections]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws
from joserfc.jwk import RSAKey

from benchmarks._common import PROJECT_ID, no_descope_env, public_jwk, sign_tokens, signing_key
from descope_keys._jwt_checks import MAX_TOKEN_CHARS, b64url_decode, json_object
from descope_keys._tokens import TokenValidator
from descope_keys.errors import TokenValidationError

_GOAL_DISTINCT = 1.5  # ours_distinct / raw_verify at most
_GOAL_REPEATED = 0.2  # ours_repeated / raw_verify under
_GOAL_VS_SDK = 4.0  # descope_sdk / ours_distinct at least


def _per_item(loop: Callable[[], int]) -> float:
    """Microseconds per item of one pass of ``loop`` (which returns its item count)."""
    gc.collect()
    started = time.perf_counter()
    count = loop()
    return (time.perf_counter() - started) / count * 1e6


def _contenders(key: rsa.RSAPrivateKey, tokens: list[str]) -> dict[str, Callable[[], float]]:
    """One pass per contender, each returning microseconds per token."""
    public = key.public_key()
    jwk = public_jwk(key)
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    decoded = []
    for token in tokens:
        signing_input, _, signature = token.rpartition(".")
        raw_signature = pyjwt.utils.base64url_decode(signature)
        decoded.append((signing_input.encode("ascii"), raw_signature))

    def raw_verify() -> int:
        for signing_input, signature in decoded:
            public.verify(signature, signing_input, pkcs1, sha256)
        return len(decoded)

    def minimal_parse_verify() -> int:
        # Our own decoding and the verify, minus every check, cache and result object.
        for token in tokens:
            header, payload, signature = token.split(".")
            raw_signature = b64url_decode(signature)
            raw_payload = b64url_decode(payload)
            public.verify(raw_signature, f"{header}.{payload}".encode("ascii"), pkcs1, sha256)
            json_object(raw_payload, "payload")
        return len(tokens)

    joserfc_key = RSAKey.import_key(dict(jwk))
    registry = jws.JWSRegistry(algorithms=["RS256"])
    rs256 = registry.get_alg("RS256")

    def joserfc_alg_verify() -> int:
        for signing_input, signature in decoded:
            if not rs256.verify(signing_input, signature, joserfc_key):
                raise AssertionError("joserfc rejected a good signature")
        return len(decoded)

    def joserfc_deserialize() -> int:
        for token in tokens:
            jws.deserialize_compact(token, joserfc_key, registry=registry)
        return len(tokens)

    def ours_distinct() -> float:
        # A fresh validator (built outside the timing): every token is
        # verified, none comes from the verified-token cache.
        validate = TokenValidator(PROJECT_ID, fetch=None, public_key=jwk).validate_local

        def loop() -> int:
            for token in tokens:
                validate(token)
            return len(tokens)

        return _per_item(loop)

    repeated_validator = TokenValidator(PROJECT_ID, fetch=None, public_key=jwk)
    one = tokens[0]
    if repeated_validator.validate_local(one) is None:
        raise AssertionError("pinned keys must never need a fetch")

    def ours_repeated() -> int:
        validate = repeated_validator.validate_local
        for _ in range(len(tokens) * 10):
            validate(one)
        return len(tokens) * 10

    def pyjwt_decode() -> int:
        for token in tokens:
            pyjwt.decode(token, public, algorithms=["RS256"], leeway=5)
        return len(tokens)

    from descope import DescopeClient  # test-only dependency

    # With a management key in the environment the official SDK makes a
    # license request at construction; the benchmark must stay offline.
    with no_descope_env():
        sdk = DescopeClient(PROJECT_ID, public_key=jwk, base_url="http://127.0.0.1:9")

    def descope_sdk() -> int:
        for token in tokens:
            sdk.validate_session(token)
        return len(tokens)

    return {
        # The floor first, ours right after it: a drift between them is smallest.
        "raw_verify": lambda: _per_item(raw_verify),
        "ours_distinct": ours_distinct,
        "ours_repeated": lambda: _per_item(ours_repeated),
        "minimal_parse_verify": lambda: _per_item(minimal_parse_verify),
        "joserfc_alg_verify": lambda: _per_item(joserfc_alg_verify),
        "joserfc_deserialize": lambda: _per_item(joserfc_deserialize),
        "pyjwt": lambda: _per_item(pyjwt_decode),
        "descope_sdk": lambda: _per_item(descope_sdk),
    }


def _hostile_tokens(good: str) -> dict[str, str]:
    """Tokens of exactly ``MAX_TOKEN_CHARS`` characters, each rejected for its shape."""
    h, p, s = good.split(".")

    def fill(template: str) -> str:  # "*" grows to make the token exactly the cap
        return template.replace("*", "A" * (MAX_TOKEN_CHARS - len(template) + 1))

    return {
        "dots": "." * MAX_TOKEN_CHARS,
        "one_segment": "A" * MAX_TOKEN_CHARS,
        "two_segments": fill(f"{h}.*"),
        "four_segments": fill(f"{h}.{p}.{s}.*"),
        "huge_header": fill(f"*.{p}.{s}"),
        "huge_signature": fill(f"{h}.{p}.*"),
        "non_ascii_payload": fill(f"{h}.*\u00e9.{s}"),
    }


def _rejections(key: rsa.RSAPrivateKey, good: str) -> dict[str, Callable[[], float]]:
    """One pass per hostile token, each returning microseconds per rejection."""
    validate = TokenValidator(PROJECT_ID, fetch=None, public_key=public_jwk(key)).validate_local
    h, _, s = good.split(".")
    hostile = _hostile_tokens(good)
    hostile["forged_at_cap"] = f"{h}.{'A' * (MAX_TOKEN_CHARS - len(h) - len(s) - 2)}.{s}"

    def rejecting(token: str, repeat: int) -> Callable[[], float]:
        def loop() -> int:
            for _ in range(repeat):
                try:
                    validate(token)
                except TokenValidationError:
                    pass
                else:
                    raise AssertionError("a hostile token was accepted")
            return repeat

        return lambda: _per_item(loop)

    return {
        name: rejecting(token, 50 if name == "forged_at_cap" else 500)
        for name, token in hostile.items()
    }


def measure_rejections(rounds: int = 15) -> dict[str, float]:
    """Median microseconds to reject each hostile token, and the worst malformed one."""
    key = signing_key()
    samples = _measure(_rejections(key, sign_tokens(key, 1)[0]), rounds)
    medians = {name: round(statistics.median(values), 2) for name, values in samples.items()}
    malformed = [v for name, v in medians.items() if name != "forged_at_cap"]
    return {"largest_malformed": max(malformed), **medians}


def _measure(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    for run in contenders.values():  # warm-up: imports, caches, branch predictors
        run()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            samples[name].append(run())
    return samples


def main(quick: bool = False) -> dict[str, Any]:
    """Measure validation speed; return the medians (µs per token) and the ratios.

    Args:
        quick: Fewer tokens and rounds (a few seconds), for smoke runs.

    Returns:
        ``us_per_token`` (medians per contender), ``ratios`` (ours vs the
        floor and vs the official SDK), ``goals`` (whether each goal was
        met), and the run's parameters.
    """
    count, rounds = (100, 5) if quick else (400, 15)
    key = signing_key()
    tokens = sign_tokens(key, count)
    samples = _measure(_contenders(key, tokens), rounds)
    medians = {name: round(statistics.median(values), 3) for name, values in samples.items()}

    def ratio(numerator: str, denominator: str, digits: int = 3) -> float:
        # The median of per-round ratios: each pair was measured moments apart,
        # so load on a shared machine cancels out better than in a ratio of medians.
        pairs = zip(samples[numerator], samples[denominator], strict=True)
        return round(statistics.median(a / b for a, b in pairs), digits)

    ratios = {
        "ours_distinct_vs_raw_verify": ratio("ours_distinct", "raw_verify"),
        "ours_repeated_vs_raw_verify": ratio("ours_repeated", "raw_verify", 4),
        "descope_sdk_vs_ours_distinct": ratio("descope_sdk", "ours_distinct", 2),
        "pyjwt_vs_ours_distinct": ratio("pyjwt", "ours_distinct", 2),
        "minimal_parse_verify_vs_raw_verify": ratio("minimal_parse_verify", "raw_verify"),
        "joserfc_alg_verify_vs_raw_verify": ratio("joserfc_alg_verify", "raw_verify"),
        "joserfc_deserialize_vs_raw_verify": ratio("joserfc_deserialize", "raw_verify"),
    }
    goals = {
        f"ours_distinct <= {_GOAL_DISTINCT}x raw_verify": ratios["ours_distinct_vs_raw_verify"]
        <= _GOAL_DISTINCT,
        f"ours_repeated < {_GOAL_REPEATED}x raw_verify": ratios["ours_repeated_vs_raw_verify"]
        < _GOAL_REPEATED,
        f"ours_distinct >= {_GOAL_VS_SDK}x faster than descope_sdk": ratios[
            "descope_sdk_vs_ours_distinct"
        ]
        >= _GOAL_VS_SDK,
    }
    return {
        "tokens": count,
        "rounds": rounds,
        "key": "RSA-2048, RS256",
        "max_token_chars": MAX_TOKEN_CHARS,
        "rejection_us": measure_rejections(rounds),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "us_per_token": medians,
        "ratios": ratios,
        "goals": goals,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens and rounds")
    parser.add_argument(
        "--rejections", action="store_true", help="only the cost of rejecting hostile tokens"
    )
    args = parser.parse_args()
    if args.rejections:
        print(json.dumps(measure_rejections(5 if args.quick else 15), indent=2))
    else:
        print(json.dumps(main(args.quick), indent=2))
