"""ASGI scope handling, driven message by message: websocket handshakes, lifespan, state."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from descope_keys import AsyncDescopeKeys
from descope_keys.errors import InvalidArgumentError
from descope_keys.integrations.asgi import DescopeMiddleware, get_token
from tests._jwt_factory import PROJECT_ID
from tests.integrations._tokens import PinnedSyncValidator, jwt, pinned_jwks


class Recorder:
    """An inner ASGI app that records the scope it was called with."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})


class Conversation:
    def __init__(self, *incoming: dict[str, Any]) -> None:
        self.incoming = list(incoming)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


@pytest.fixture
async def client() -> AsyncIterator[AsyncDescopeKeys]:
    async with AsyncDescopeKeys(PROJECT_ID, public_key=pinned_jwks()) as c:
        yield c


def scope(kind: str = "http", path: str = "/x", **extra: Any) -> dict[str, Any]:
    headers = extra.pop("headers", [])
    return {"type": kind, "path": path, "headers": headers, **extra}


def bearer(token: str, name: bytes = b"authorization") -> list[tuple[bytes, bytes]]:
    return [(b"host", b"127.0.0.1"), (name, f"Bearer {token}".encode())]


async def test_lifespan_and_unknown_scopes_pass_untouched(client: AsyncDescopeKeys) -> None:
    inner = Recorder()
    middleware = DescopeMiddleware(inner, client, roles=["admin"])
    lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    other = {"type": "custom.protocol"}
    await middleware(lifespan, Conversation().receive, Conversation().send)
    await middleware(other, Conversation().receive, Conversation().send)
    assert inner.scopes[0] is lifespan
    assert inner.scopes[1] is other


async def test_token_goes_into_a_copy_of_the_request_state(client: AsyncDescopeKeys) -> None:
    inner = Recorder()
    shared_state = {"db": "pool"}
    original = scope(headers=bearer(jwt()), state=shared_state)
    await DescopeMiddleware(inner, client)(original, Conversation().receive, Conversation().send)
    seen = inner.scopes[0]
    assert seen["state"]["db"] == "pool"
    token = get_token(seen)
    assert token is not None
    assert token is seen["state"]["descope_token"]
    # Neither the caller's scope nor a state dict shared between requests changed.
    assert shared_state == {"db": "pool"}
    assert "descope_token" not in original["state"]


async def test_header_names_are_matched_case_insensitively(client: AsyncDescopeKeys) -> None:
    inner = Recorder()
    request = scope(headers=bearer(jwt(), name=b"Authorization"))
    await DescopeMiddleware(inner, client)(request, Conversation().receive, Conversation().send)
    assert get_token(inner.scopes[0]) is not None


async def test_refused_http_request_never_reaches_the_app(client: AsyncDescopeKeys) -> None:
    inner = Recorder()
    talk = Conversation()
    await DescopeMiddleware(inner, client)(scope(), talk.receive, talk.send)
    assert inner.scopes == []
    start, body = talk.sent
    assert start["type"] == "http.response.start"
    assert start["status"] == 401
    assert (b"www-authenticate", b'Bearer error="invalid_token"') in start["headers"]
    assert json.loads(body["body"]) == {"error": "invalid_token", "reason": "missing_token"}


async def test_response_headers_are_a_fresh_list_each_time(client: AsyncDescopeKeys) -> None:
    middleware = DescopeMiddleware(Recorder(), client)
    first, second = Conversation(), Conversation()
    await middleware(scope(), first.receive, first.send)
    first.sent[0]["headers"].append((b"x-added-by-outer-middleware", b"1"))
    await middleware(scope(), second.receive, second.send)
    assert (b"x-added-by-outer-middleware", b"1") not in second.sent[0]["headers"]


async def test_websocket_with_a_valid_token_is_handed_to_the_app(
    client: AsyncDescopeKeys,
) -> None:
    inner = Recorder()
    talk = Conversation({"type": "websocket.connect"})
    await DescopeMiddleware(inner, client)(
        scope("websocket", headers=bearer(jwt())), talk.receive, talk.send
    )
    assert get_token(inner.scopes[0]) is not None
    assert talk.sent == [{"type": "websocket.accept"}]


async def test_refused_websocket_gets_an_http_answer_when_the_server_supports_it(
    client: AsyncDescopeKeys,
) -> None:
    inner = Recorder()
    talk = Conversation({"type": "websocket.connect"})
    ws = scope("websocket", extensions={"websocket.http.response": {}})
    await DescopeMiddleware(inner, client, roles=["admin"])(ws, talk.receive, talk.send)
    assert inner.scopes == []
    start, body = talk.sent
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 401
    assert body["type"] == "websocket.http.response.body"
    assert json.loads(body["body"])["error"] == "invalid_token"


async def test_refused_websocket_is_closed_with_1008_otherwise(client: AsyncDescopeKeys) -> None:
    inner = Recorder()
    talk = Conversation({"type": "websocket.connect"})
    ws = scope("websocket", headers=bearer(jwt()), extensions=None)
    await DescopeMiddleware(inner, client, roles=["admin"])(ws, talk.receive, talk.send)
    assert inner.scopes == []
    assert talk.sent == [{"type": "websocket.close", "code": 1008}]


async def test_websocket_that_disconnects_first_gets_nothing(client: AsyncDescopeKeys) -> None:
    talk = Conversation({"type": "websocket.disconnect", "code": 1006})
    await DescopeMiddleware(Recorder(), client)(scope("websocket"), talk.receive, talk.send)
    assert talk.sent == []


async def test_excluded_path_is_passed_through_without_a_token(client: AsyncDescopeKeys) -> None:
    inner = Recorder()
    open_scope = scope(path="/health/live")
    await DescopeMiddleware(inner, client, exclude=["/health"])(
        open_scope, Conversation().receive, Conversation().send
    )
    assert inner.scopes == [open_scope]
    assert get_token(open_scope) is None


def test_a_sync_client_is_refused_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="AsyncDescopeKeys"):
        DescopeMiddleware(Recorder(), PinnedSyncValidator())  # type: ignore[arg-type]
