"""Protect a FastAPI service with access-key tokens (ASGI middleware, route dependency, uvicorn).

Runs against an in-process emulator on 127.0.0.1, serves the app with
uvicorn on a free port, calls it a few times, prints what came back, and exits:

    python examples/fastapi_app.py
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Annotated

import aiohttp
import uvicorn
from fastapi import Depends, FastAPI, Request

from descope_keys import AccessKeyToken, AsyncDescopeKeys, KeyTenant
from descope_keys.emulator import Emulator
from descope_keys.integrations.fastapi import DescopeMiddleware, get_token, require

# A route-level requirement on top of the middleware's: role "admin" within tenant T1.
T1Admin = Annotated[AccessKeyToken, Depends(require(roles=["admin"], tenant="T1"))]


def create_app(client: AsyncDescopeKeys) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()  # lifespan events pass through the middleware untouched

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(DescopeMiddleware, client=client, exclude=["/health"])

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(request: Request) -> dict[str, object]:
        token = get_token(request)  # also request.state.descope_token
        assert token is not None
        return {"key": token.key_id, "tenants": sorted(token.tenants)}

    @app.get("/tenants/T1/orders")
    async def t1_orders(token: T1Admin) -> dict[str, object]:
        return {"orders": [], "caller": token.key_id}

    return app


async def main() -> None:
    async with Emulator() as emu:
        async with AsyncDescopeKeys(
            emu.project_id, emu.management_key, base_url=emu.base_url
        ) as admin:
            t1 = await admin.access_keys.create(
                "t1-admin", key_tenants=[KeyTenant("T1", role_names=["admin"])]
            )
            t2 = await admin.access_keys.create(
                "t2-admin", key_tenants=[KeyTenant("T2", role_names=["admin"])]
            )
            t1_jwt = (await admin.exchange_access_key(t1.cleartext, selected_tenant="T1")).jwt
            t2_jwt = (await admin.exchange_access_key(t2.cleartext, selected_tenant="T2")).jwt

        # The service's own client: a project id is all validation needs.
        app = create_app(AsyncDescopeKeys(emu.project_id, base_url=emu.base_url))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none"))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.01)
            async with aiohttp.ClientSession() as http:
                for path, jwt, who in [
                    ("/health", None, "anyone"),
                    ("/me", None, "no token"),
                    ("/me", t2_jwt, "t2-admin"),
                    ("/tenants/T1/orders", t1_jwt, "t1-admin"),
                    ("/tenants/T1/orders", t2_jwt, "t2-admin"),
                ]:
                    headers = {"Authorization": f"Bearer {jwt}"} if jwt else {}
                    async with http.get(url + path, headers=headers) as r:
                        print(f"GET {path:19} as {who:9} -> {r.status} {await r.text()}")
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 10)
            sock.close()


if __name__ == "__main__":
    asyncio.run(main())
