"""Protect an aiohttp.web service with access-key tokens.

Runs against an in-process emulator on 127.0.0.1, serves the app on a free
port, calls it a few times, prints what came back, and exits:

    python examples/aiohttp_app.py
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from descope_keys import AsyncDescopeKeys
from descope_keys.emulator import Emulator
from descope_keys.integrations.aiohttp import descope_middleware, get_token, require


def create_app(client: AsyncDescopeKeys) -> web.Application:
    """The service: every route needs a valid token except /health; /deploy needs a role."""
    routes = web.RouteTableDef()

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @routes.get("/reports")
    async def reports(request: web.Request) -> web.Response:
        token = request["descope_token"]  # the validated AccessKeyToken
        return web.json_response({"reports": [], "caller": token.key_id})

    @routes.post("/deploy")
    @require(roles=["deployer"])
    async def deploy(request: web.Request) -> web.Response:
        token = get_token(request)  # the same token, typed
        assert token is not None
        return web.json_response({"deployed": True, "by": token.key_id})

    app = web.Application(middlewares=[descope_middleware(client, exclude=["/health"])])
    app.add_routes(routes)
    return app


async def main() -> None:
    async with Emulator() as emu:
        # An operator creates the keys; each machine exchanges its own for a JWT.
        async with AsyncDescopeKeys(
            emu.project_id, emu.management_key, base_url=emu.base_url
        ) as admin:
            reader = await admin.access_keys.create("reporting-bot", role_names=["reader"])
            deployer = await admin.access_keys.create("ci-bot", role_names=["deployer"])
            reader_jwt = (await admin.exchange_access_key(reader.cleartext)).jwt
            deployer_jwt = (await admin.exchange_access_key(deployer.cleartext)).jwt

        # The service only validates: a project id is all it needs (no management key).
        async with AsyncDescopeKeys(emu.project_id, base_url=emu.base_url) as client:
            runner = web.AppRunner(create_app(client), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            try:
                async with aiohttp.ClientSession() as http:
                    for method, path, jwt, who in [
                        ("GET", "/health", None, "anyone"),
                        ("GET", "/reports", None, "no token"),
                        ("GET", "/reports", "not-a-jwt", "a forged token"),
                        ("GET", "/reports", reader_jwt, "reporting-bot"),
                        ("POST", "/deploy", reader_jwt, "reporting-bot"),
                        ("POST", "/deploy", deployer_jwt, "ci-bot"),
                    ]:
                        headers = {"Authorization": f"Bearer {jwt}"} if jwt else {}
                        async with http.request(method, url + path, headers=headers) as r:
                            print(f"{method:4} {path:9} as {who:15} -> {r.status} {await r.text()}")
            finally:
                await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
