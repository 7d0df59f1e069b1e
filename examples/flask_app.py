"""Protect a Flask service with access-key tokens (WSGI middleware, sync client).

Runs against an in-process emulator on 127.0.0.1, serves the app with the
standard library's WSGI server on a free port, calls it a few times, prints
what came back, and exits:

    python examples/flask_app.py
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Flask, request

from descope_keys import DescopeKeys
from descope_keys.emulator import ThreadedEmulator
from descope_keys.integrations.flask import DescopeMiddleware, get_token, require


def create_app(client: DescopeKeys) -> Flask:
    app = Flask(__name__)
    # Wrap the WSGI app (not the Flask object) so Flask keeps its own routing and errors.
    app.wsgi_app = DescopeMiddleware(app.wsgi_app, client, exclude=["/health"])  # type: ignore[method-assign]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/reports")
    def reports() -> dict[str, Any]:
        token = request.environ["descope_keys.token"]  # the validated AccessKeyToken
        return {"reports": [], "caller": token.key_id}

    @app.post("/deploy")
    @require(roles=["deployer"])
    def deploy() -> dict[str, Any]:
        token = get_token(request.environ)  # the same token, typed
        assert token is not None
        return {"deployed": True, "by": token.key_id}

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the demo output to the answers


def call(method: str, url: str, jwt: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {jwt}"} if jwt else {}
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode().strip()


def main() -> None:
    with ThreadedEmulator() as emu:
        with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as admin:
            reader = admin.access_keys.create("reporting-bot", role_names=["reader"])
            deployer = admin.access_keys.create("ci-bot", role_names=["deployer"])
            reader_jwt = admin.exchange_access_key(reader.cleartext).jwt
            deployer_jwt = admin.exchange_access_key(deployer.cleartext).jwt

        # The service only validates: a project id is all it needs (no management key).
        with DescopeKeys(emu.project_id, base_url=emu.base_url) as client:
            server = make_server("127.0.0.1", 0, create_app(client), handler_class=_QuietHandler)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            url = f"http://127.0.0.1:{server.server_port}"
            try:
                for method, path, jwt, who in [
                    ("GET", "/health", None, "anyone"),
                    ("GET", "/reports", None, "no token"),
                    ("GET", "/reports", reader_jwt, "reporting-bot"),
                    ("POST", "/deploy", reader_jwt, "reporting-bot"),
                    ("POST", "/deploy", deployer_jwt, "ci-bot"),
                ]:
                    status, body = call(method, url + path, jwt)
                    print(f"{method:4} {path:9} as {who:14} -> {status} {body}")
            finally:
                server.shutdown()
                server.server_close()
                thread.join(10)


if __name__ == "__main__":
    main()
