"""Requests the HTTP parser refuses: what each server answers and logs, secret in the header.

aiohttp's parser refuses them before any middleware runs, and by default
quotes the refused line in its 400 body and its log. ``SafeAppRunner`` (used
by the emulator) answers with a fixed body and logs no header value. uvicorn
and waitress are checked as they come: the README's security notes say
what each does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from aiohttp import web

from descope_keys.emulator import Emulator
from descope_keys.integrations.aiohttp import SafeAppRunner
from tests.integrations import _apps

SECRET = "P2parse0000000000000000000:K2-parse-SECRET-0001"

# Header lines a parser refuses (or may refuse), each with the secret in it.
BAD_LINES = {
    "control character": b"Authorization: Bearer " + SECRET.encode() + b"\x01zz",
    "NUL": b"Authorization: Bearer " + SECRET.encode() + b"\x00",
    "bare LF": b"Authorization: Bearer " + SECRET.encode() + b"\nX-Other: 1",
    "no colon": b"Bearer " + SECRET.encode(),
    "DEL": b"Authorization: Bearer " + SECRET.encode() + b"\x7f",
    "too long": b"Authorization: Bearer " + SECRET.encode() + b"x" * 9000,
}


async def raw_request(url: str, line: bytes, *, method: bytes = b"GET") -> bytes:
    """Send one request with ``line`` among its headers; the whole answer, as bytes."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = method + b" /x HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        writer.write(head + line + b"\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)  # to the end: each answer closes
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


def assert_nothing_shows(texts: Iterable[str | bytes]) -> None:
    for text in texts:
        data = text.encode("latin-1", "replace") if isinstance(text, str) else text
        assert SECRET.encode() not in data
        assert b"K2-parse-SECRET" not in data


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="ok")


@contextlib.asynccontextmanager
async def serve_safe(app: web.Application) -> AsyncIterator[str]:
    runner = SafeAppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def records_text(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every record as a handler would write it: message, traceback and all."""
    formatter = logging.Formatter()
    return [formatter.format(record) for record in caplog.records]


@pytest.mark.parametrize("name", sorted(BAD_LINES))
async def test_safe_app_runner_answers_a_fixed_body_and_logs_no_header(
    name: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    app = web.Application()
    app.router.add_get("/x", hello)
    async with serve_safe(app) as url:
        answer = await raw_request(url, BAD_LINES[name])
        # The server still serves well-formed requests on new connections.
        good = await raw_request(url, b"X-Fine: 1")
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    assert body_of(answer) == b"400 Bad Request\n"
    assert body_of(good) == b"ok"
    refusals = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert refusals, "the refusal is logged"
    assert all(r.exc_info is None for r in refusals)
    captured = capsys.readouterr()
    assert_nothing_shows([answer, *records_text(caplog), captured.out, captured.err])


async def test_safe_app_runner_leaves_handler_errors_to_aiohttp(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("handler failed")

    app = web.Application()
    app.router.add_get("/x", broken)
    async with serve_safe(app) as url:
        answer = await raw_request(url, b"X-Fine: 1")
    assert b" 500 " in answer.split(b"\r\n", 1)[0]
    assert any("handler failed" in text for text in records_text(caplog))


async def test_the_emulator_never_echoes_nor_logs_the_management_key(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "K2-parse-SECRET-0001"
    async with Emulator(project_id="P2parse0000000000000000000", management_key=key) as emu:
        line = f"Authorization: Bearer {emu.project_id}:{key}".encode() + b"\x01"
        answer = await raw_request(emu.base_url, line)
    assert body_of(answer) == b"400 Bad Request\n"
    captured = capsys.readouterr()
    assert_nothing_shows([answer, *records_text(caplog), captured.out, captured.err])


async def _asgi_ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_uvicorn_answers_a_fixed_body_and_logs_no_header(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # h11 (the tests' choice, and uvicorn's without httptools) refuses some of
    # these with "Invalid HTTP request received." and passes the others on
    # to the app, where the middleware's header check refuses them.
    caplog.set_level(logging.DEBUG)
    answers = []
    async with _apps.serve_asgi(_asgi_ok) as url:
        for line in BAD_LINES.values():
            answers.append(await raw_request(url, line))
    refused = [a for a in answers if b" 400 " in a.split(b"\r\n", 1)[0]]
    assert refused, "h11 refuses at least the NUL and the line without a colon"
    assert {body_of(a) for a in refused} == {b"Invalid HTTP request received."}
    captured = capsys.readouterr()
    assert_nothing_shows([*answers, *records_text(caplog), captured.out, captured.err])


def _wsgi_ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


async def test_waitress_logs_no_header_but_quotes_a_bare_lf_line(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = {}
    async with _apps.serve_wsgi(_wsgi_ok) as url:
        for name, line in BAD_LINES.items():
            answers[name] = await raw_request(url, line)
    # What the README says: waitress logs none of it, answers a fixed text
    # for most, but quotes a header line with a bare CR or LF in its 400
    # body (to the client that sent it).
    assert SECRET.encode() in body_of(answers.pop("bare LF"))
    for name in ("control character", "no colon", "DEL"):
        assert b"Invalid header" in body_of(answers[name]), name
    captured = capsys.readouterr()
    assert_nothing_shows([*answers.values(), *records_text(caplog), captured.out, captured.err])
