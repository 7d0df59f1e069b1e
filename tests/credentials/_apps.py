"""Applications the machine calls in the adapter tests, all on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from aiohttp import web

from descope_keys import AccessKeyToken, AsyncDescopeKeys, DescopeKeys
from descope_keys.integrations.aiohttp import descope_middleware, get_token
from descope_keys.integrations.wsgi import DescopeMiddleware


class Recorder:
    """Answers with ``statuses`` in turn (then ``then``), remembering each request."""

    def __init__(self, statuses: Iterable[int] = (), then: int = 401) -> None:
        self.statuses = list(statuses)
        self.then = then
        self.seen: list[tuple[str, bytes]] = []  # (Authorization, body)
        self._lock = threading.Lock()

    def next_status(self, authorization: str, body: bytes) -> int:
        with self._lock:
            self.seen.append((authorization, body))
            return self.statuses.pop(0) if self.statuses else self.then

    # aiohttp
    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.next_status(request.headers.get("Authorization", ""), body)
        return web.json_response({"status": status}, status=status)

    def aiohttp_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status = self.next_status(environ.get("HTTP_AUTHORIZATION", ""), body)
        start_response(f"{status} X", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


def _left(token: AccessKeyToken | None) -> dict[str, float]:
    assert token is not None
    return {"left": token.expires_at.timestamp() - time.time()}


def protected_aiohttp_app(validator: AsyncDescopeKeys) -> web.Application:
    """An aiohttp app behind descope_middleware; answers the seconds left on the token."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(_left(get_token(request)))

    app = web.Application(middlewares=[descope_middleware(validator)])
    app.router.add_get("/seconds-left", handler)
    return app


def protected_wsgi_app(validator: DescopeKeys) -> Callable[..., Any]:
    """A WSGI app behind DescopeMiddleware; answers the seconds left on the token."""
    import json

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = json.dumps(_left(environ["descope_keys.token"])).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return DescopeMiddleware(app, validator)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; yields its base URL."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
