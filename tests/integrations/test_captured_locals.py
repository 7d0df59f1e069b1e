"""The middlewares' and adapters' own frames hold no bearer token when the app (or the call) fails.

An app's exception passes back through the middleware's frame, and an error
reporter records that frame's locals with the rest: the request's JWT must
not be one of them. What the server itself holds (an ASGI ``scope``, a WSGI
``environ``) is the server's, so frames of these modules only are searched.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from descope_keys import AsyncDescopeKeys, DescopeKeys, RetryPolicy
from descope_keys.integrations.asgi import DescopeMiddleware as AsgiMiddleware
from descope_keys.integrations.wsgi import DescopeMiddleware as WsgiMiddleware
from tests._jwt_factory import PROJECT_ID, mint, private_key, public_jwk
from tests._servers import closed_port

PINNED = public_jwk(private_key(0), "k1")
JWT = mint(private_key(0))


class AppFailed(Exception):
    pass


def _our_locals(error: BaseException) -> list[str]:
    """``frame:local=repr`` for every frame of descope_keys in the chain of ``error``."""
    found: list[str] = []
    pending: list[BaseException | None] = [error]
    seen: set[int] = set()
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            if "descope_keys" in frame.f_code.co_filename:
                found += [f"{frame.f_code.co_name}:{k}={v!r}" for k, v in frame.f_locals.items()]
        pending += [exc.__cause__, exc.__context__]
    return found


# The server's request objects, passed through every frame down to the app:
# not ours to empty (the README says so).
_SERVERS_OWN = (":scope=", ":environ=")


def _leaks(error: BaseException, secret: str) -> list[str]:
    pieces = [secret, *secret.split(".")[1:]]
    return [
        line[:80]
        for line in _our_locals(error)
        if any(p in line for p in pieces) and not any(own in line for own in _SERVERS_OWN)
    ]


async def test_the_asgi_middleware_frame_holds_no_token() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AppFailed

    async with AsyncDescopeKeys(PROJECT_ID, public_key=PINNED) as client:
        middleware = AsgiMiddleware(app, client)
        scope = {
            "type": "http",
            "path": "/x",
            "headers": [(b"authorization", f"Bearer {JWT}".encode())],
        }
        with pytest.raises(AppFailed) as info:
            await middleware(scope, None, None)  # type: ignore[arg-type]
    assert _our_locals(info.value), "the middleware's frame is in the traceback"
    assert _leaks(info.value, JWT) == []


def test_the_wsgi_middleware_frame_holds_no_token() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        raise AppFailed

    with DescopeKeys(PROJECT_ID, public_key=PINNED) as client:
        middleware = WsgiMiddleware(app, client)
        environ = {"PATH_INFO": "/x", "HTTP_AUTHORIZATION": f"Bearer {JWT}"}
        with pytest.raises(AppFailed) as info:
            middleware(environ, lambda status, headers: None)
    assert _our_locals(info.value), "the middleware's frame is in the traceback"
    assert _leaks(info.value, JWT) == []


async def test_the_aiohttp_client_middleware_frame_holds_no_token(emulator: Any) -> None:
    from descope_keys.integrations.aiohttp import access_key_auth

    async with AsyncDescopeKeys(
        emulator.project_id,
        emulator.management_key,
        base_url=emulator.base_url,
        retry=RetryPolicy.disabled(),
    ) as client:
        created = await client.access_keys.create("adapter")
        credentials = client.credentials(created.cleartext)
        sent = await credentials.authorization()
        async with aiohttp.ClientSession(middlewares=[access_key_auth(credentials)]) as session:
            with pytest.raises(aiohttp.ClientError) as info:
                await session.get(f"http://127.0.0.1:{closed_port()}/x")
    assert _our_locals(info.value), "the adapter's frame is in the traceback"
    assert _leaks(info.value, sent.removeprefix("Bearer ")) == []
