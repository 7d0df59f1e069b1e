"""The transport over real loopback sockets: timeouts, caps, bad bodies, refusals."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from descope_keys import (
    AsyncDescopeKeys,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TransportError,
    WrongEventLoopError,
)
from tests._servers import closed_port, serve
from tests._wire import key_json
from tests.conftest import MANAGEMENT_KEY, PROJECT_ID


def make_client(base_url: str, *, timeout: float = 5.0) -> AsyncDescopeKeys:
    return AsyncDescopeKeys(
        PROJECT_ID,
        MANAGEMENT_KEY,
        base_url=base_url,
        timeout=timeout,
        retry=RetryPolicy.disabled(),
    )


async def test_round_trip_reuses_one_session_and_sends_headers() -> None:
    seen: list[dict[str, str]] = []

    async def load(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"key": key_json(request.query["id"])})

    app = web.Application()
    app.router.add_get("/v1/mgmt/accesskey", load)
    async with serve(app) as url, make_client(url) as client:
        keys = await asyncio.gather(*(client.access_keys.load(f"K{i}") for i in range(10)))
        session = client._transport._session
        await client.access_keys.load("K99")
        assert client._transport._session is session
    assert [k.id for k in keys] == [f"K{i}" for i in range(10)]
    assert all(h["Authorization"] == f"Bearer {PROJECT_ID}:{MANAGEMENT_KEY}" for h in seen)
    assert all(h["x-descope-sdk-name"] == "python-descope-keys" for h in seen)


async def test_slow_server_times_out_as_transport_error() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/mgmt/accesskey", slow)
    async with serve(app) as url, make_client(url, timeout=0.2) as client:
        with pytest.raises(RequestTimeoutError, match="timed out") as info:
            await asyncio.wait_for(client.access_keys.load("K1"), 5)
    assert isinstance(info.value, TimeoutError)
    assert info.value.request_sent is True
    assert isinstance(info.value.__cause__, asyncio.TimeoutError)


async def test_connection_refused_is_a_transport_error_not_sent() -> None:
    async with make_client(f"http://127.0.0.1:{closed_port()}") as client:
        with pytest.raises(TransportError, match="cannot connect") as info:
            await client.access_keys.load("K1")
    assert info.value.request_sent is False
    assert info.value.operation == "access_keys.load"


@pytest.mark.parametrize("chunked", [False, True])
async def test_oversized_body_is_refused(chunked: bool) -> None:
    big = json.dumps({"key": key_json(), "pad": "x" * (17 * 1024 * 1024)}).encode()

    async def huge(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=big, content_type="application/json")
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(big), 1 << 20):
            await resp.write(big[i : i + (1 << 20)])
        return resp

    app = web.Application()
    app.router.add_get("/v1/mgmt/accesskey", huge)
    async with serve(app) as url, make_client(url) as client:
        with pytest.raises(TransportError, match="byte cap"):
            await client.access_keys.load("K1")


async def test_html_error_page_from_a_proxy() -> None:
    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/v1/mgmt/accesskey", bad_gateway)
    async with serve(app) as url, make_client(url) as client:
        with pytest.raises(ServerError) as info:
            await client.access_keys.load("K1")
    assert info.value.status == 502
    assert "<html>" not in str(info.value)


async def test_truncated_body_is_a_transport_error() -> None:
    async def truncated(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "1000"})
        resp.content_type = "application/json"
        await resp.prepare(request)
        await resp.write(b'{"key": {"id"')
        request.transport.close()  # type: ignore[union-attr]
        return resp

    app = web.Application()
    app.router.add_get("/v1/mgmt/accesskey", truncated)
    async with serve(app) as url, make_client(url) as client:
        with pytest.raises(TransportError, match="connection failed") as info:
            await client.access_keys.load("K1")
    assert info.value.request_sent is True


async def test_client_is_bound_to_its_first_loop() -> None:
    async def load(request: web.Request) -> web.Response:
        return web.json_response({"key": key_json()})

    app = web.Application()
    app.router.add_get("/v1/mgmt/accesskey", load)
    async with serve(app) as url, make_client(url) as client:
        await client.access_keys.load("K1")
        with pytest.raises(WrongEventLoopError, match="bound to the event loop") as info:
            await asyncio.to_thread(asyncio.run, client.access_keys.load("K1"))
    assert isinstance(info.value, RuntimeError)


async def test_a_compressed_body_is_capped_as_it_is_decompressed() -> None:
    import gzip

    bomb = gzip.compress(b'{"key": {"id": "K1", "pad": "' + b"x" * (17 * 1024 * 1024) + b'"}}')
    assert len(bomb) < 64 * 1024

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    app = web.Application()
    app.router.add_get("/v1/mgmt/accesskey", handler)
    async with serve(app) as url, make_client(url) as client:
        with pytest.raises(TransportError, match="byte cap"):
            await client.access_keys.load("K1")


async def test_a_malformed_status_line_leaves_no_request_headers_reachable() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 abc Broken\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make_client(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(TransportError) as info:
                await client.access_keys.load("K1")
    finally:
        server.close()
        await server.wait_closed()
    assert "ClientResponseError" in str(info.value)
    assert info.value.__cause__ is None
    # Walk everything reachable from the error: no request_info (which holds
    # our headers) and no management key anywhere. (Python 3.10 may still
    # attach aiohttp's parser error as implicit context: it holds neither.)
    seen: list[BaseException] = []
    error: BaseException | None = info.value
    while error is not None and error not in seen:
        seen.append(error)
        assert not hasattr(error, "request_info"), repr(error)
        assert MANAGEMENT_KEY not in repr(error) + repr(vars(error))
        error = error.__cause__ or error.__context__
