"""integrations.httpx.AccessKeyAuth: both flows send the token and handle a 401 once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from descope_keys import AsyncDescopeKeys, DescopeKeys, InvalidArgumentError
from descope_keys.emulator import Emulator, ThreadedEmulator
from descope_keys.integrations.httpx import AccessKeyAuth
from tests._servers import serve
from tests.credentials._apps import Recorder, protected_wsgi_app, serve_wsgi
from tests.credentials.conftest import exchanges

# -- httpx.AsyncClient, async credentials ------------------------------------


async def test_async_a_401_gets_a_fresh_token_and_one_resend(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    await creds.authorization()
    await asyncio.sleep(1.05)  # whole-second iat: the next token differs
    app = Recorder([401], then=200)
    async with (
        serve(app.aiohttp_app()) as url,
        httpx.AsyncClient(auth=AccessKeyAuth(creds)) as http,
    ):
        response = await http.post(f"{url}/jobs", content=b"payload")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    (first, body1), (second, body2) = app.seen
    assert first != second == await creds.authorization()
    assert body1 == body2 == b"payload"
    assert exchanges(emu) == 2


async def test_async_a_server_that_always_answers_401_gets_exactly_one_resend(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    app = Recorder(then=401)
    async with (
        serve(app.aiohttp_app()) as url,
        httpx.AsyncClient(auth=AccessKeyAuth(creds)) as http,
    ):
        response = await http.get(f"{url}/x")
    assert response.status_code == 401
    assert len(app.seen) == 2
    assert exchanges(emu) == 2


async def test_async_a_streamed_body_is_not_resent(client: AsyncDescopeKeys, secret: str) -> None:
    creds = client.credentials(secret)
    app = Recorder(then=401)

    async def stream() -> AsyncIterator[bytes]:
        yield b"once"

    async with (
        serve(app.aiohttp_app()) as url,
        httpx.AsyncClient(auth=AccessKeyAuth(creds)) as http,
    ):
        response = await http.post(f"{url}/upload", content=stream())
    assert response.status_code == 401
    assert len(app.seen) == 1


async def test_the_async_client_refuses_sync_credentials(sync_client: DescopeKeys) -> None:
    creds = sync_client.credentials("K-unused-secret")
    async with httpx.AsyncClient(auth=AccessKeyAuth(creds)) as http:
        with pytest.raises(InvalidArgumentError, match="AsyncDescopeKeys"):
            await http.get("http://127.0.0.1:9/never-sent")


# -- httpx.Client, sync credentials ------------------------------------------


def test_sync_requests_reach_the_protected_app_with_a_token(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    with (
        DescopeKeys(threaded.project_id, base_url=threaded.base_url) as validator,
        serve_wsgi(protected_wsgi_app(validator)) as url,
        httpx.Client(base_url=url, auth=AccessKeyAuth(creds)) as http,
    ):
        for _ in range(20):
            response = http.get("/seconds-left")
            assert response.status_code == 200, response.text
            assert response.json()["left"] > 0
    assert exchanges(threaded) == 1


def test_sync_a_server_that_always_answers_401_gets_exactly_one_resend(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    app = Recorder(then=401)
    with serve_wsgi(app) as url, httpx.Client(auth=AccessKeyAuth(creds)) as http:
        response = http.put(f"{url}/x", json={"a": 1})
    assert response.status_code == 401
    assert len(app.seen) == 2
    assert app.seen[0][1] == app.seen[1][1] == b'{"a":1}'
    assert exchanges(threaded) == 2


def test_sync_a_streamed_body_is_not_resent(sync_client: DescopeKeys, sync_secret: str) -> None:
    creds = sync_client.credentials(sync_secret)
    app = Recorder(then=401)

    def stream() -> Iterator[bytes]:
        yield b"once"

    with serve_wsgi(app) as url, httpx.Client(auth=AccessKeyAuth(creds)) as http:
        response = http.post(f"{url}/upload", content=stream(), headers={"Content-Length": "4"})
    assert response.status_code == 401
    assert len(app.seen) == 1


async def test_the_sync_client_refuses_async_credentials(client: AsyncDescopeKeys) -> None:
    creds = client.credentials("K-unused-secret")
    with (
        httpx.Client(auth=AccessKeyAuth(creds)) as http,
        pytest.raises(InvalidArgumentError, match="DescopeKeys"),
    ):
        http.get("http://127.0.0.1:9/never-sent")


def test_it_refuses_anything_but_credentials() -> None:
    with pytest.raises(InvalidArgumentError, match="credentials"):
        AccessKeyAuth("Bearer x")  # type: ignore[arg-type]
