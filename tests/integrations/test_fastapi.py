"""The FastAPI module: its route dependency, called with Starlette connections (no socket)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.requests import HTTPConnection

from descope_keys.integrations import asgi
from descope_keys.integrations import fastapi as dk_fastapi
from tests.integrations._tokens import token


def connection(**state: Any) -> HTTPConnection:
    return HTTPConnection({"type": "http", "path": "/x", "headers": [], "state": state})


def test_require_returns_the_token_the_middleware_attached() -> None:
    attached = token(roles=["admin"])
    dependency = dk_fastapi.require(roles=["admin"])
    assert dependency(connection(descope_token=attached)) is attached


def test_require_without_a_validated_token_raises_401_with_the_challenge() -> None:
    with pytest.raises(HTTPException) as raised:
        dk_fastapi.require()(connection())
    assert raised.value.status_code == 401
    assert raised.value.detail == {"error": "invalid_token", "reason": "missing_token"}
    assert raised.value.headers == {
        "WWW-Authenticate": 'Bearer error="invalid_token"',
        "Cache-Control": "no-store",
    }


def test_require_lacking_a_role_raises_403() -> None:
    with pytest.raises(HTTPException) as raised:
        dk_fastapi.require(roles=["admin"])(connection(descope_token=token(roles=[])))
    assert raised.value.status_code == 403
    assert raised.value.detail == {"error": "insufficient_scope", "reason": "missing_role"}
    assert raised.value.headers is not None
    assert raised.value.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'


def test_the_middleware_and_token_helpers_are_the_asgi_ones() -> None:
    assert dk_fastapi.DescopeMiddleware is asgi.DescopeMiddleware
    assert dk_fastapi.get_token is asgi.get_token
    assert dk_fastapi.TOKEN_KEY == asgi.TOKEN_KEY
