"""Strict, allocation-light parsing of compact JWS tokens and their claims.

Everything here is pure CPU and thread-safe. Failures raise
:class:`~descope_keys.errors.TokenValidationError` with a stable ``reason``
and a fixed message: no token bytes ever reach a message or a traceback
(decoder errors are raised ``from None``).
"""

from __future__ import annotations

import binascii
import json
import json.scanner
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, NoReturn

from .errors import ExpiredTokenError, TokenValidationError

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MAX_DEPTH",
    "MAX_EPOCH",
    "MAX_TOKEN_CHARS",
    "REASONS",
    "FrozenClaims",
]

#: The RSASSA-PKCS1-v1_5 family (Descope signs with RS256). ``none`` and
#: every ``HS*`` are absent on purpose: a public JWKS must never become an
#: HMAC secret (the classic algorithm-confusion attack). A token must also
#: use exactly its key's ``alg``.
ALLOWED_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512"})

#: Cap checked before any parsing. It fits the largest token Descope's
#: documented claim limits allow (at most 100 custom claims, names of up to
#: 60 characters, values of up to 500), on the key and again under ``nsec``
#: (the exchange's own custom claims have the same limits):
#:
#: - one claim, as compact JSON: ``"name":"value",`` = 60 + 500 + 6 = 566 bytes;
#:   100 of them: 56,600 bytes; twice (key claims and ``nsec``): 113,200;
#: - ``iss``, ``sub``, ``iat``, ``exp``, roles, permissions and tenants: 16,384
#:   bytes allowed;
#: - payload: 129,584 bytes, so ceil(129,584 * 4 / 3) = 172,779 base64url
#:   characters; header 1,024 and signature 1,366 (an 8192-bit key) at most,
#:   and two dots: 175,171 characters, rounded up to 176 KiB.
#:
#: (Non-ASCII values take more bytes per character; the cap is sized for the
#: limits as characters of ASCII text, with the 16 KiB margin.)
MAX_TOKEN_CHARS: Final = 176 * 1024
_MAX_HEADER_CHARS: Final = 1024
# An 8192-bit signature (the largest key accepted): 1024 bytes, ceil(1024 * 4 / 3).
_MAX_SIGNATURE_CHARS: Final = 1366
#: Deepest nesting accepted in a payload (the payload object itself is depth
#: 1). Claims read later are frozen recursively, so this keeps every read far
#: from the interpreter's recursion limit.
MAX_DEPTH: Final = 64

#: Every ``reason`` code this package raises for a rejected token.
REASONS: Final = frozenset(
    {
        "malformed",
        "oversized",
        "bad_base64",
        "bad_json",
        "missing_kid",
        "bad_kid",
        "alg_not_allowed",
        "alg_mismatch",
        "forbidden_header",
        "unknown_kid",
        "bad_signature",
        "missing_exp",
        "bad_exp",
        "expired",
        "bad_nbf",
        "not_yet_valid",
        "bad_iat",
        "issued_in_future",
        "missing_sub",
        "bad_issuer",
        "bad_audience",
        "bad_claim",
        "too_deep",
    }
)

# Headers that would let the token choose its own key or change how the
# signature is computed; none is legitimate for Descope session tokens.
_FORBIDDEN_HEADERS: Final = frozenset({"crit", "b64", "jku", "x5u", "jwk", "x5c", "enc", "zip"})

# A kid is only ever a dict key here, but it also ends up in logs and error
# reports downstream: keep it short and free of control or path characters.
KID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:+=-]{1,128}")
_B64_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64_VALUE: Final = {c: i for i, c in enumerate(_B64_ALPHABET)}
#: Latest time claim accepted (2999-12-31T23:59:59Z): later ones are nonsense,
#: and every platform can turn this one into a datetime (Windows' gmtime stops
#: at 3000). The same bound applies to ``expire_time`` arguments and to the
#: emulator's epochs.
MAX_EPOCH: Final = 32503679999


def fail(reason: str, message: str) -> NoReturn:
    """Raise the validation error for ``reason`` with a fixed message."""
    raise TokenValidationError(reason, message)


_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_PADDING: Final = (b"", b"", b"==", b"=")
_JSON_WHITESPACE: Final = " \t\n\r"


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url, rejecting anything but its canonical form.

    ``a2b_base64`` skips characters outside its alphabet, so any foreign
    character (whitespace, ``=``, ``.``, non-ASCII...) shortens the output or
    breaks the padding: an exact output length proves the input was all
    alphabet. ``+`` and ``/`` are the standard alphabet's and are rejected
    by name. Non-zero trailing bits are rejected too, so exactly one string
    decodes to given bytes. (Cheaper than a regex; a test fuzzes it against one.)
    """
    size = len(segment)
    rem = size & 3
    if not size or rem == 1 or "+" in segment or "/" in segment:
        fail("bad_base64", "a token segment is not base64url")
    try:
        raw = binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[rem])
    except (binascii.Error, UnicodeEncodeError):
        fail("bad_base64", "a token segment is not base64url")
    if len(raw) != size * 3 // 4 or (
        rem and _B64_VALUE[segment[-1]] & (0x0F if rem == 2 else 0x03)
    ):
        fail("bad_base64", "a token segment is not canonical base64url")
    return raw


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; an infinite "exp" would never expire.
    raise ValueError("non-finite number")


# The C scanner straight away: JSONDecoder.decode/raw_decode only add Python frames.
# (typeshed types the scanner's duck-typed context argument as the scanner itself.)
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = json.scanner.make_scanner(
    json.JSONDecoder(parse_constant=_reject_constant)  # type: ignore[arg-type]
)


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Decode UTF-8 JSON text that must be an object (NaN and Infinity rejected)."""
    try:
        text = raw.decode("utf-8")
        if text[:1] in _JSON_WHITESPACE:  # rare: skip leading whitespace (and "")
            text = text.lstrip(_JSON_WHITESPACE)
        value, end = _SCAN(text, 0)
    except (ValueError, RecursionError, StopIteration):
        # UnicodeDecodeError and JSONDecodeError carry the document: drop them.
        value, end, text = None, 0, ""
    if type(value) is not dict or (end != len(text) and text[end:].strip(_JSON_WHITESPACE)):
        fail("bad_json", f"the token {what} is not a JSON object")
    return value


def split_token(jwt: str) -> tuple[str, str, str]:
    """The three segments of a compact JWS, each within its cap, or a rejection.

    The dots are found before any string is built (``str.find`` is a memchr
    over the text), so a token of 64 KiB of dots costs no more than one of three.
    """
    if not jwt.isascii():  # O(1) (CPython keeps the flag): base64url and dots are ASCII
        fail("bad_base64", "a token segment is not base64url")
    first = jwt.find(".")
    second = -1 if first < 0 else jwt.find(".", first + 1)
    if second < 0 or jwt.find(".", second + 1) >= 0:
        fail("malformed", "the token is not a compact JWS")
    if first > _MAX_HEADER_CHARS:
        fail("oversized", "the token header is too large")
    if len(jwt) - second - 1 > _MAX_SIGNATURE_CHARS:
        fail("oversized", "the token signature is too large")
    return jwt[:first], jwt[first + 1 : second], jwt[second + 1 :]


def check_depth(payload: bytes, claims: dict[str, Any]) -> None:
    """Reject a payload nested deeper than :data:`MAX_DEPTH`, without recursion.

    Counting brackets (C speed) rules out almost every payload at once: fewer
    ``{``/``[`` bytes than the limit cannot nest deeper than it. Only the rest
    (brackets inside strings count too) is walked.
    """
    if payload.count(b"{") + payload.count(b"[") <= MAX_DEPTH:
        return
    stack: list[tuple[Any, int]] = [(claims, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if type(value) is dict else value
        for child in children:
            if type(child) in _CONTAINERS:
                if depth >= MAX_DEPTH:
                    fail("too_deep", "the token payload is nested too deeply")
                stack.append((child, depth + 1))


def parse_header(segment: str) -> tuple[str, str]:
    """Parse and check a protected header; return ``(kid, alg)``."""
    if len(segment) > _MAX_HEADER_CHARS:
        fail("oversized", "the token header is too large")
    header = json_object(b64url_decode(segment), "header")
    if not _FORBIDDEN_HEADERS.isdisjoint(header):
        fail("forbidden_header", "the token header has a parameter that is not accepted")
    alg = header.get("alg")
    if type(alg) is not str or alg not in ALLOWED_ALGORITHMS:
        fail("alg_not_allowed", "the token algorithm is not allowed")
    kid = header.get("kid")
    if kid is None:
        fail("missing_kid", "the token header has no kid")
    if type(kid) is not str or not KID_PATTERN.fullmatch(kid):
        fail("bad_kid", "the token kid is not acceptable")
    return kid, alg


def _epoch(value: object, name: str) -> float:
    # bool is an int subclass, hence type() rather than isinstance().
    if type(value) not in (int, float) or not 0 <= value <= MAX_EPOCH:  # type: ignore[operator]
        fail(f"bad_{name}", f"the token {name} claim is not a valid time")
    return value  # type: ignore[return-value]  # an int compares like the float


def time_claims(exp: object, nbf: object, iat: object) -> tuple[float, float | None, float | None]:
    """Check the raw ``exp``/``nbf``/``iat`` values; ``exp`` is required."""
    if exp is None:
        fail("missing_exp", "the token has no exp claim")
    return (
        _epoch(exp, "exp"),
        None if nbf is None else _epoch(nbf, "nbf"),
        None if iat is None else _epoch(iat, "iat"),
    )


def check_times(
    exp: float, nbf: float | None, iat: float | None, now: float, leeway: float
) -> None:
    """Reject a token outside its validity window (with ``leeway`` seconds of slack)."""
    if now >= exp + leeway:
        raise ExpiredTokenError("expired", "the token has expired")
    if nbf is not None and nbf > now + leeway:
        fail("not_yet_valid", "the token is not valid yet (nbf)")
    if iat is not None and iat > now + leeway:
        fail("issued_in_future", "the token was issued in the future (iat)")


def check_issuer(iss: object, project_id: str) -> None:
    """Accept the project id itself, or a URL whose last path segment is it.

    Any scheme and host pass: the signature by the project's keys is what
    makes a token trustworthy. ``issuer=`` on the client pins the exact value.
    """
    if iss == project_id:
        return
    if (
        type(iss) is str
        and iss.startswith(("https://", "http://"))
        and iss.endswith("/" + project_id)
        and iss.count("/") >= 3  # the project id is a path segment, not the host
    ):
        return
    fail("bad_issuer", "the token was not issued for this project")


def audience_of(aud: object) -> tuple[str, ...] | None:
    """Normalize the ``aud`` claim to a tuple, ``None`` when absent."""
    if aud is None:
        return None
    if type(aud) is str:
        return (aud,)
    if type(aud) is list and all(type(a) is str for a in aud):
        return tuple(aud)
    fail("bad_claim", "the token aud claim is malformed")


def check_audience(aud: tuple[str, ...] | None, audience: str | None) -> None:
    """When the caller asks for an audience, the token must name it."""
    if audience is not None and (aud is None or audience not in aud):
        fail("bad_audience", "the token is not meant for this audience")


def string_tuple(container: dict[str, Any], name: str) -> tuple[str, ...]:
    """A claim that must be a JSON array of strings, as a tuple; empty when absent.

    The tuple replaces the list in ``container`` (a freshly decoded payload
    that nobody else holds), so the claims view later shares it.
    """
    value = container.get(name)
    if value is None:
        return ()
    if type(value) is list:
        for item in value:
            if type(item) is not str:
                break
        else:
            container[name] = frozen = tuple(value)
            return frozen
    fail("bad_claim", f"the token {name} claim is malformed")


def freeze(value: Any) -> Any:
    """Make decoded JSON read-only: objects become :class:`FrozenClaims`, arrays tuples."""
    kind = type(value)
    if kind is dict:
        return FrozenClaims(value)
    if kind is list:
        return tuple([v if type(v) not in _CONTAINERS else freeze(v) for v in value])
    return value


_CONTAINERS: Final = (dict, list)
_MISSING: Final = object()


class FrozenClaims(Mapping[str, Any]):
    """A read-only view of a decoded JSON object, frozen lazily, one member at a time.

    Tokens are cached and shared between callers, so nothing reachable from
    one may be mutable: nested objects are returned as views like this one
    and arrays as tuples. Freezing on first access keeps that cost off the
    validation path for claims nobody reads.
    """

    __slots__ = ("_frozen", "_raw")

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw
        self._frozen: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        frozen = self._frozen
        if frozen is None:
            # Concurrent first reads may each build one: equal contents, no lock needed.
            frozen = self._frozen = {}
        value = frozen.get(key, _MISSING)
        if value is _MISSING:
            value = frozen[key] = freeze(self._raw[key])
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __repr__(self) -> str:
        return repr(dict(self.items()))
