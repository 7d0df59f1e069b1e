"""access_key_auth: an aiohttp client middleware that sends the token and handles a 401 once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from descope_keys import AsyncDescopeKeys, InvalidArgumentError
from descope_keys.emulator import Emulator
from descope_keys.integrations.aiohttp import access_key_auth
from tests._servers import serve
from tests.credentials._apps import Recorder, protected_aiohttp_app
from tests.credentials.conftest import TTL, exchanges

TIMEOUT = aiohttp.ClientTimeout(total=10)


async def test_every_request_reaches_the_protected_app_with_time_left(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    async with (
        AsyncDescopeKeys(emu.project_id, base_url=emu.base_url) as validator,
        serve(protected_aiohttp_app(validator)) as url,
        aiohttp.ClientSession(middlewares=[access_key_auth(creds)], timeout=TIMEOUT) as http,
    ):

        async def call() -> float:
            async with http.get(f"{url}/seconds-left") as response:
                assert response.status == 200, await response.text()
                left: float = (await response.json())["left"]
                return left

        lifetimes = 2
        start = time.monotonic()
        requests = 0
        while time.monotonic() - start < lifetimes * TTL:
            for left in await asyncio.gather(*(call() for _ in range(4))):
                assert left > 0
            requests += 4
            await asyncio.sleep(0.02)
    assert requests > 100
    assert lifetimes <= exchanges(emu) <= 2 * lifetimes + 1


async def test_a_401_gets_a_fresh_token_and_one_resend(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    app = Recorder([401], then=200)
    async with (
        serve(app.aiohttp_app()) as url,
        aiohttp.ClientSession(middlewares=[access_key_auth(creds)], timeout=TIMEOUT) as http,
    ):
        await creds.authorization()
        await asyncio.sleep(1.05)  # whole-second iat: the next token differs
        async with http.post(f"{url}/jobs", json={"n": 1}) as response:
            assert response.status == 200
    assert len(app.seen) == 2
    (first, body1), (second, body2) = app.seen
    assert first != second
    assert second == await creds.authorization()
    assert body1 == body2 == b'{"n": 1}'
    assert exchanges(emu) == 2


async def test_a_server_that_always_answers_401_gets_exactly_one_resend(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    app = Recorder(then=401)
    async with (
        serve(app.aiohttp_app()) as url,
        aiohttp.ClientSession(middlewares=[access_key_auth(creds)], timeout=TIMEOUT) as http,
        http.get(f"{url}/x") as response,
    ):
        assert response.status == 401
        assert (await response.json()) == {"status": 401}
    assert len(app.seen) == 2
    assert exchanges(emu) == 2


async def test_a_body_that_cannot_be_replayed_is_not_resent(
    client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    app = Recorder(then=401)

    async def stream() -> AsyncIterator[bytes]:
        yield b"chunk-1"
        yield b"chunk-2"

    async with (
        serve(app.aiohttp_app()) as url,
        aiohttp.ClientSession(middlewares=[access_key_auth(creds)], timeout=TIMEOUT) as http,
        http.post(f"{url}/upload", data=stream()) as response,
    ):
        assert response.status == 401
    assert len(app.seen) == 1
    assert app.seen[0][1] == b"chunk-1chunk-2"


async def test_concurrent_401s_on_one_token_cost_one_exchange(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    first = await creds.authorization()
    await asyncio.sleep(1.05)  # whole-second iat: the next token differs
    app = Recorder([401] * 10, then=200)
    async with (
        serve(app.aiohttp_app()) as url,
        aiohttp.ClientSession(middlewares=[access_key_auth(creds)], timeout=TIMEOUT) as http,
    ):

        async def call() -> int:
            async with http.get(f"{url}/x") as response:
                return response.status

        statuses = await asyncio.gather(*(call() for _ in range(10)))
    assert statuses == [200] * 10
    assert exchanges(emu) == 2  # the first, and one after the 401s on it
    assert all(auth != first for auth, _ in app.seen[10:])


def test_it_needs_async_credentials() -> None:
    with pytest.raises(InvalidArgumentError, match="credentials"):
        access_key_auth("Bearer x")  # type: ignore[arg-type]
