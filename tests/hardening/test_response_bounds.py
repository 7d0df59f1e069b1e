"""Answers are capped by what they can sensibly hold, before anything is parsed (issue 20.6)."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from descope_keys import AsyncDescopeKeys, RetryPolicy, TransportError
from tests._jwt_factory import PROJECT_ID, mint, private_key, public_jwk
from tests._servers import serve
from tests._wire import key_json

KIB = 1024
# A refused answer is a TransportError, which idempotent calls retry: once is enough here.
ONCE = RetryPolicy(attempts=1)


def respond(body: bytes, chunked: bool) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=body, content_type="application/json")
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 64 * KIB):
            await resp.write(body[i : i + 64 * KIB])
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def empty_objects(size: int) -> bytes:
    """A key set of ``size`` bytes of ``{}`` items: cheap to send, costly to decode."""
    return b'{"keys":[' + b",".join([b"{}"] * (size // 3)) + b"]}"


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_key_set_over_256_kib_is_refused_unparsed(chunked: bool) -> None:
    async with (
        serve(respond(empty_objects(4 * 1024 * KIB), chunked)) as url,
        AsyncDescopeKeys(PROJECT_ID, base_url=url) as client,
    ):
        with pytest.raises(TransportError) as info:
            await client.validate_token(mint(private_key(0)))
    assert "262144 byte cap" in str(info.value)


async def test_a_key_set_with_padding_under_the_cap_still_works() -> None:
    body = json.dumps({"keys": [public_jwk(private_key(0), "k1")], "pad": "x" * 200 * KIB})
    async with (
        serve(respond(body.encode(), chunked=False)) as url,
        AsyncDescopeKeys(PROJECT_ID, base_url=url) as client,
    ):
        assert (await client.validate_token(mint(private_key(0)))).key_id


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversized_single_key_answer_is_refused(chunked: bool) -> None:
    body = json.dumps({"key": key_json(), "pad": "x" * 3 * 1024 * KIB}).encode()
    async with (
        serve(respond(body, chunked)) as url,
        AsyncDescopeKeys(PROJECT_ID, "mgmt", base_url=url, retry=ONCE) as client,
    ):
        with pytest.raises(TransportError, match="2097152 byte cap"):
            await client.access_keys.load("K1")
        # A list of keys may be longer: the general 16 MiB cap.
        listing = json.dumps({"keys": [key_json()], "pad": "x" * 3 * 1024 * KIB}).encode()
    async with (
        serve(respond(listing, chunked)) as url,
        AsyncDescopeKeys(PROJECT_ID, "mgmt", base_url=url, retry=ONCE) as client,
    ):
        assert len(await client.access_keys.search()) == 1


async def test_an_oversized_exchange_answer_is_refused() -> None:
    body = json.dumps({"sessionJwt": "x" * 600 * KIB}).encode()
    async with (
        serve(respond(body, chunked=False)) as url,
        AsyncDescopeKeys(
            PROJECT_ID, base_url=url, public_key=public_jwk(private_key(0), "k1"), retry=ONCE
        ) as client,
    ):
        with pytest.raises(TransportError, match="524288 byte cap"):
            await client.exchange_access_key("secret")
