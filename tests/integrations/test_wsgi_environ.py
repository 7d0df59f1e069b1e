"""WSGI specifics, driven through the PEP 3333 interface directly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from descope_keys import AsyncDescopeKeys
from descope_keys.errors import InvalidArgumentError
from descope_keys.integrations import wsgi
from tests._jwt_factory import PROJECT_ID
from tests.integrations._tokens import PinnedSyncValidator, jwt


class StartResponse:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.calls.append((status, headers))
        return lambda data: None


def inner_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    token = wsgi.get_token(environ)
    return [b"open" if token is None else token.key_id.encode()]


def environ(path: str = "/x", authorization: str | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": ""}
    if authorization is not None:
        env["HTTP_AUTHORIZATION"] = authorization
    return env


def test_token_is_put_in_the_environ() -> None:
    app = wsgi.DescopeMiddleware(inner_app, PinnedSyncValidator())
    env = environ(authorization=f"Bearer {jwt()}")
    start = StartResponse()
    assert b"".join(app(env, start)) == b"K2AccessKey0001"
    assert env["descope_keys.token"].key_id == "K2AccessKey0001"
    assert start.calls[0][0] == "200 OK"


def test_refusal_is_answered_without_calling_the_app() -> None:
    app = wsgi.DescopeMiddleware(inner_app, PinnedSyncValidator(), roles=["admin"])
    start = StartResponse()
    body = b"".join(app(environ(authorization=f"Bearer {jwt()}"), start))
    ((status, headers),) = start.calls
    assert status == "403 Forbidden"
    assert ("WWW-Authenticate", 'Bearer error="insufficient_scope"') in headers
    assert ("Content-Length", str(len(body))) in headers
    assert json.loads(body) == {"error": "insufficient_scope", "reason": "missing_role"}


def test_non_ascii_exclusions_match_pep3333_paths() -> None:
    app = wsgi.DescopeMiddleware(inner_app, PinnedSyncValidator(), exclude=["/café"])
    start = StartResponse()
    path = "/café/menu".encode().decode("latin-1")  # how WSGI servers present it
    assert b"".join(app(environ(path), start)) == b"open"


async def test_an_async_client_is_refused_at_construction() -> None:
    async with AsyncDescopeKeys(PROJECT_ID, public_key=None, base_url="http://127.0.0.1:9") as c:
        with pytest.raises(InvalidArgumentError, match="DescopeKeys"):
            wsgi.DescopeMiddleware(inner_app, c)  # type: ignore[arg-type]
