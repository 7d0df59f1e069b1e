"""The same small service in aiohttp, FastAPI and Flask, each on a real server on 127.0.0.1.

Routes: ``/health`` (excluded), ``/healthz`` (not excluded), ``/whoami``,
``/admin`` (per-route: role admin) and ``/t1/admin`` (per-route: role admin
in tenant T1). Each answers ``{"key_id": ...}`` with the token it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

import uvicorn
from aiohttp import web
from fastapi import Depends, FastAPI, Request
from flask import Flask, request
from waitress import wasyncore
from waitress.server import create_server

from descope_keys import AccessKeyToken
from descope_keys.integrations import aiohttp as dk_aiohttp
from descope_keys.integrations import fastapi as dk_fastapi
from descope_keys.integrations import flask as dk_flask

EXCLUDE = ("/health",)
# Module level: FastAPI resolves these (string) annotations in this module's globals.
AdminToken = Annotated[AccessKeyToken, Depends(dk_fastapi.require(roles=["admin"]))]
T1AdminToken = Annotated[AccessKeyToken, Depends(dk_fastapi.require(roles=["admin"], tenant="T1"))]
_STOP_TIMEOUT = 10.0


def aiohttp_app(client: Any, **options: Any) -> web.Application:
    async def whoami(request: web.Request) -> web.Response:
        token = dk_aiohttp.get_token(request)
        # API.md's spelling and the typed key reach the same entry.
        assert token is request.get("descope_token") is request.get(dk_aiohttp.TOKEN_KEY)
        return web.json_response({"key_id": token.key_id if token else None})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"key_id": None})

    app = web.Application(middlewares=[dk_aiohttp.descope_middleware(client, **options)])
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", health)
    app.router.add_get("/healthz", whoami)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/admin", dk_aiohttp.require(roles=["admin"])(whoami))
    app.router.add_get("/t1/admin", dk_aiohttp.require(roles=["admin"], tenant="T1")(whoami))
    app.router.add_get("/{user}/profile", whoami)
    return app


def fastapi_app(client: Any, **options: Any) -> Any:
    started = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        started.append(True)
        yield {"lifespan": "ran"}  # ends up in every request's scope["state"]

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(dk_fastapi.DescopeMiddleware, client=client, **options)

    def answer(request: Request) -> dict[str, Any]:
        token = dk_fastapi.get_token(request)
        return {
            "key_id": token.key_id if token else None,
            "lifespan": getattr(request.state, "lifespan", None),
            "same": token is getattr(request.state, "descope_token", None),
        }

    @app.get("/health")
    @app.get("/health/live")
    @app.get("/healthz")
    @app.get("/whoami")
    @app.get("/{user}/profile")
    def whoami(request: Request) -> dict[str, Any]:
        return answer(request)

    @app.get("/admin")
    def admin(request: Request, token: AdminToken) -> Any:
        assert token is dk_fastapi.get_token(request)
        return answer(request)

    @app.get("/t1/admin")
    def t1_admin(request: Request, token: T1AdminToken) -> Any:
        assert token is dk_fastapi.get_token(request)
        return answer(request)

    app.state.started = started
    return app


def flask_app(client: Any, **options: Any) -> Any:
    app = Flask(__name__)
    app.wsgi_app = dk_flask.DescopeMiddleware(app.wsgi_app, client, **options)  # type: ignore[method-assign]

    def whoami(**_path: str) -> dict[str, Any]:
        token = dk_flask.get_token(request.environ)
        assert token is request.environ.get("descope_keys.token")
        return {"key_id": token.key_id if token else None}

    for rule in ("/health", "/health/live", "/healthz", "/whoami", "/<user>/profile"):
        app.add_url_rule(rule, rule, whoami)
    app.add_url_rule("/admin", "admin", dk_flask.require(roles=["admin"])(whoami))
    t1_admin = dk_flask.require(roles=["admin"], tenant="T1")(whoami)
    app.add_url_rule("/t1/admin", "t1_admin", t1_admin)
    return app


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, *, root_path: str = "") -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on this loop (so it shares the client's loop); always stops."""
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="none",
        http="h11",
        root_path=root_path,
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + _STOP_TIMEOUT
        while not server.started:
            if task.done():
                task.result()  # raises what stopped the server
                raise RuntimeError("uvicorn exited before it started")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("uvicorn did not start")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, _STOP_TIMEOUT)
        sock.close()


@contextlib.asynccontextmanager
async def serve_wsgi(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with waitress (8 threads) in a background thread; always stops."""
    server = create_server(
        app, host="127.0.0.1", port=0, threads=8, channel_timeout=5, asyncore_loop_timeout=0.1
    )
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Sockets belong to waitress's loop thread: close them all there, which
        # empties its map and ends the loop; then stop the worker threads.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        await asyncio.to_thread(thread.join, _STOP_TIMEOUT)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "waitress did not stop"
