"""Mounted ASGI apps: ``exclude`` names app-relative paths, as Starlette routes do."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import aiohttp
import pytest

from descope_keys import AsyncDescopeKeys
from descope_keys.integrations.asgi import DescopeMiddleware
from tests._jwt_factory import PROJECT_ID
from tests.integrations._apps import serve_asgi
from tests.integrations._tokens import jwt, pinned_jwks


@pytest.fixture
async def client() -> AsyncIterator[AsyncDescopeKeys]:
    async with AsyncDescopeKeys(PROJECT_ID, public_key=pinned_jwks()) as c:
        yield c


async def status_of(client: AsyncDescopeKeys, path: str, root_path: str | None) -> int:
    """What the middleware answers for ``path`` without a token (200: the app ran)."""
    statuses: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        statuses.append(200)

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive() -> dict[str, Any]:  # pragma: no cover - never read
        return {"type": "http.disconnect"}

    scope: dict[str, Any] = {"type": "http", "path": path, "headers": []}
    if root_path is not None:
        scope["root_path"] = root_path
    middleware = DescopeMiddleware(app, client, exclude=["/public"])
    await middleware(scope, receive, send)
    return statuses[0]


@pytest.mark.parametrize(
    ("path", "root_path", "status"),
    [
        # uvicorn --root-path /api: the mount point is in both path and root_path.
        ("/api/public", "/api", 200),
        ("/api/public/docs", "/api", 200),
        ("/api/private", "/api", 401),
        ("/api", "/api", 401),
        ("/api/", "/api", 401),
        # The mount point is not a prefix of the exclusion.
        ("/public", "/public", 401),
        ("/public/x", "/public", 401),
        # A server that strips the mount point from path: matched whole.
        ("/public", "/api", 200),
        # "/ap" is no mount point of "/api/public": only whole segments strip.
        ("/api/public", "/ap", 401),
        ("/apipublic", "/api", 401),
        # Nested mounts and dot segments below the mount point still fail closed.
        ("/a/b/public", "/a/b", 200),
        ("/api/public/../private", "/api", 401),
        ("/api//public", "/api", 401),
        # No root path at all (or an empty one): the full path.
        ("/public", None, 200),
        ("/public", "", 200),
        ("/api/public", "", 401),
    ],
)
async def test_exclude_matches_the_path_below_the_root_path(
    client: AsyncDescopeKeys, path: str, root_path: str | None, status: int
) -> None:
    assert await status_of(client, path, root_path) == status


async def test_under_uvicorn_with_a_root_path(client: AsyncDescopeKeys) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"served"})

    middleware = DescopeMiddleware(app, client, exclude=["/public"])
    async with (
        serve_asgi(middleware, root_path="/api") as url,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
    ):
        # As behind a proxy that strips the mount point: uvicorn then serves
        # "/public" with path "/api/public" and root_path "/api".
        statuses = {}
        for path in ("/public", "/public/docs", "/private", "/api/public"):
            async with session.get(url + path) as response:
                statuses[path] = response.status
        headers = {"Authorization": f"Bearer {jwt()}"}
        async with session.get(url + "/private", headers=headers) as response:
            statuses["/private with a token"] = response.status
    assert statuses == {
        "/public": 200,
        "/public/docs": 200,
        "/private": 401,
        # The app's own path is /api/public here (path /api/api/public): not open.
        "/api/public": 401,
        "/private with a token": 200,
    }
