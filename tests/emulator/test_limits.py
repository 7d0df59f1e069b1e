"""The emulator's own bounds: exchange body, hook numbers, idle and slow connections."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from descope_keys.emulator import Emulator
from descope_keys.emulator._exchange import EXCHANGE_MAX_BODY_BYTES
from tests.emulator.conftest import Api, emulator_kwargs

EXCHANGE = "/v1/auth/accesskey/exchange"


def _auth(api: Api, secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.emu.project_id}:{secret}"}


# -- exchange: the secret first, a small body ---------------------------------


async def test_a_wrong_secret_is_refused_before_the_body_is_parsed(api: Api) -> None:
    created = await api.create("bot")
    key_id = created["key"]["id"]
    for secret in ("not-a-key", f"{key_id}:wrong", created["cleartext"] + "x"):
        status, body = await api.call("POST", EXCHANGE, headers=_auth(api, secret), data="{nope")
        assert status == 401, body
    # With the right secret the same body is a 400: it was parsed only then.
    status, _ = await api.call(
        "POST", EXCHANGE, headers=_auth(api, created["cleartext"]), data="{nope"
    )
    assert status == 400


async def test_the_exchange_body_is_capped_small(api: Api) -> None:
    created = await api.create("bot")
    claims = {"c": "x" * EXCHANGE_MAX_BODY_BYTES}
    status, body = await api.exchange(created["cleartext"], {"customClaims": claims})
    assert status == 413
    assert body["errorCode"] == "E900413"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"loginOptions": {"customClaims": {"c": "'
        for _ in range(EXCHANGE_MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}}}'

    status, _ = await api.call(
        "POST",
        EXCHANGE,
        headers=_auth(api, created["cleartext"]),
        data=chunked(),  # type: ignore[arg-type]
    )
    assert status == 413
    # A body of the documented claim limits (100 claims of 60 + 500) passes the cap.
    legal = {f"{i:02d}" + "k" * 58: "v" * 500 for i in range(100)}
    status, body = await api.exchange(created["cleartext"], {"customClaims": legal})
    assert status != 413, body


# -- hooks: finite numbers only -------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/emulator/clock", '{"set": %s}'),
        ("/emulator/clock", '{"advance": %s}'),
        ("/emulator/rate-limit", '{"callsPerSecond": %s}'),
        ("/emulator/rate-limit", '{"callsPerSecond": 5, "retryAfter": %s}'),
        ("/emulator/faults", '{"pathPrefix": "/v1/", "delay": %s}'),
        ("/emulator/faults", '{"pathPrefix": "/v1/", "retryAfter": %s}'),
        ("/emulator/faults", '{"pathPrefix": "/v1/", "body": {"deep": [1, %s]}}'),
    ],
)
async def test_hooks_refuse_non_finite_numbers(
    api: Api, path: str, template: str, number: str
) -> None:
    headers = {**api.mgmt_auth, "Content-Type": "application/json"}
    status, body = await api.call("POST", path, headers=headers, data=template % number)
    assert status == 400, body
    assert body["errorCode"] == "E011004"
    assert "finite" in body["errorMessage"]
    # Nothing was changed: creates work, no fault is queued, no rate limit set.
    assert (await api.create("after"))["cleartext"]
    assert api.emu.request_counts[path] == 1


@pytest.mark.parametrize("body", [{"set": -1}, {"set": 1e17}, {"advance": 1e300}])
async def test_the_clock_stays_within_showable_dates(api: Api, body: dict[str, float]) -> None:
    status, answer = await api.mgmt("POST", "/emulator/clock", body)
    assert status == 400, answer
    assert (await api.create("after"))["cleartext"]


# -- idle and slow connections ----------------------------------------------------


@pytest.fixture
async def impatient(signing_pem: str) -> AsyncIterator[Emulator]:
    async with Emulator(**emulator_kwargs(signing_pem, idle_timeout=0.5)) as emu:
        yield emu


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[bytes, float]:
    """What the server sent until it closed the connection, and how long that took."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), seconds)
    return data, time.monotonic() - started


@contextlib.asynccontextmanager
async def _socket(
    emu: Emulator,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_an_idle_connection_is_closed(impatient: Emulator) -> None:
    async with _socket(impatient) as (reader, _):
        data, took = await _closed_within(reader, 5)
    assert data == b""
    assert took < 4


async def test_a_connection_that_trickles_its_headers_is_closed(impatient: Emulator) -> None:
    async with _socket(impatient) as (reader, writer):
        writer.write(b"GET /v2/keys/x HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for _ in range(40):
                    await asyncio.sleep(0.1)
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()

        dripping = asyncio.ensure_future(trickle())
        try:
            data, took = await _closed_within(reader, 5)
        finally:
            dripping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dripping
    assert data == b""
    assert took < 3.5


async def test_a_kept_alive_connection_is_closed_once_idle(impatient: Emulator) -> None:
    async with _socket(impatient) as (reader, writer):
        path = f"/v2/keys/{impatient.project_id}"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        data, took = await _closed_within(reader, 5)
    assert data.startswith(b"HTTP/1.1 200")
    assert took < 4


async def test_clients_still_reuse_their_connections(impatient: Emulator) -> None:
    # The SDK's pool (aiohttp's) closes an idle connection after 15 s; here the
    # requests follow each other quickly and share one connection.
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(5):
            async with session.get(f"{impatient.base_url}/v2/keys/{impatient.project_id}") as r:
                assert r.status == 200
                await r.read()
            await asyncio.sleep(0.05)
    assert impatient.request_counts[f"/v2/keys/{impatient.project_id}"] == 5


def test_idle_timeout_must_be_a_positive_number() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="idle_timeout"):
            Emulator(idle_timeout=bad)
