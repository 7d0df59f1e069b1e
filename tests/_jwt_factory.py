"""Test helpers: RSA keys, JWKs, hand-minted JWTs and a counting JWKS server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from descope_keys.errors import ApiError, TransportError

PROJECT_ID = "P2TestProject0000000000000000001"
_MAX_JWKS_BYTES = 256 * 1024


@functools.cache
def private_key(index: int = 0, bits: int = 2048) -> rsa.RSAPrivateKey:
    """A deterministic-per-session RSA key (generated once, it is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def public_jwk(
    key: rsa.RSAPrivateKey, kid: str, *, alg: str | None = "RS256", use: str | None = "sig"
) -> dict[str, Any]:
    """The public JWK of ``key``, as Descope publishes it."""
    numbers = key.public_key().public_numbers()
    jwk: dict[str, Any] = {"kty": "RSA", "kid": kid, "n": _int_b64(numbers.n), "e": "AQAB"}
    assert numbers.e == 65537
    if alg is not None:
        jwk["alg"] = alg
    if use is not None:
        jwk["use"] = use
    return jwk


def claims(project_id: str = PROJECT_ID, **overrides: Any) -> dict[str, Any]:
    """Claims of a fresh access-key session token; ``None`` overrides remove a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "K2AccessKey0001",
        "iss": project_id,
        "iat": now,
        "exp": now + 600,
        "roles": ["deployer"],
        "permissions": ["deploy"],
        "tenants": {"T1": {"roles": ["admin"], "permissions": ["read"]}},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}


def sign(key: rsa.RSAPrivateKey, signing_input: bytes, alg: str = "RS256") -> bytes:
    return key.sign(signing_input, padding.PKCS1v15(), _HASHES.get(alg, _HASHES["RS256"]))


def mint(
    key: rsa.RSAPrivateKey,
    payload: Mapping[str, Any] | bytes | None = None,
    *,
    kid: str = "k1",
    alg: str = "RS256",
    header: Mapping[str, Any] | bytes | None = None,
    extra_header: Mapping[str, Any] | None = None,
) -> str:
    """Sign a compact JWT. ``header``/``payload`` may be raw bytes to build malformed tokens."""
    if header is None:
        header = {"alg": alg, "kid": kid, "typ": "JWT", **(extra_header or {})}
    if payload is None:
        payload = claims()
    header_bytes = header if isinstance(header, bytes) else json.dumps(header).encode()
    payload_bytes = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return sign_segments(key, b64url(header_bytes), b64url(payload_bytes), alg)


def sign_segments(
    key: rsa.RSAPrivateKey, header_segment: str, payload_segment: str, alg: str = "RS256"
) -> str:
    """Sign exactly the given (possibly invalid) segments."""
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url(sign(key, signing_input.encode(), alg))}"


class JwksServer:
    """An aiohttp JWKS endpoint on a free 127.0.0.1 port that counts requests.

    Mutate ``jwks``, ``status``, ``cache_control`` or ``delay`` to script it;
    ``fetch`` is a :data:`descope_keys._jwks.JwksFetch` pointing at it.
    """

    def __init__(self, jwks: dict[str, Any], *, project_id: str = PROJECT_ID) -> None:
        self.jwks = jwks
        self.project_id = project_id
        self.status = 200
        self.cache_control: str | None = None
        self.delay = 0.0
        self.raw_body: bytes | None = None
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""
        self._closing = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.delay:
            # Interrupted at shutdown so that slow answers never slow teardown.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay)
        if self.status != 200:
            return web.json_response({"errorCode": "E011003"}, status=self.status)
        headers = {"Cache-Control": self.cache_control} if self.cache_control else None
        if self.raw_body is not None:
            return web.Response(body=self.raw_body, headers=headers)
        return web.json_response(self.jwks, headers=headers)

    async def __aenter__(self) -> JwksServer:
        app = web.Application()
        app.router.add_get(f"/v2/keys/{self.project_id}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def fetch(self, timeout: float) -> tuple[object, str | None]:
        assert self._session is not None
        url = f"{self.base_url}/v2/keys/{self.project_id}"
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                body = await response.content.read(_MAX_JWKS_BYTES + 1)
                if response.status != 200:
                    raise ApiError(response.status, operation="jwks")
                if len(body) > _MAX_JWKS_BYTES:
                    raise TransportError("JWKS response too large", operation="jwks")
                try:
                    return json.loads(body), response.headers.get("Cache-Control")
                except ValueError:
                    raise TransportError("JWKS response is not JSON", operation="jwks") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransportError(f"JWKS request failed: {type(exc).__name__}") from exc


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def use_clock(validator: Any, clock: FakeClock) -> FakeClock:
    """Drive a TokenValidator's JWKS freshness with ``clock`` (token times stay real)."""
    validator._cache._clock = clock
    return clock


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) for background work to make ``predicate`` true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
