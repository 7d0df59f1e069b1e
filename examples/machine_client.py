"""A machine calling protected APIs with its access key, through httpx and requests.

The machine holds only its access key. ``client.credentials()`` exchanges it
once, keeps the session token fresh, and the adapters send it on every
request (on a 401 they fetch a fresh token and resend once). This runs the
Flask and aiohttp example apps on 127.0.0.1 against an in-process emulator,
calls them, prints what came back, and exits:

    python examples/machine_client.py

On a real machine: ``export DESCOPE_PROJECT_ID=... DESCOPE_ACCESS_KEY=...`` and
``DescopeKeys().credentials()`` finds both.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import requests
from aiohttp import web
from aiohttp_app import create_app as create_aiohttp_app  # the example next to this one
from flask_app import create_app as create_flask_app

from descope_keys import AsyncDescopeKeys, DescopeKeys
from descope_keys.emulator import ThreadedEmulator
from descope_keys.integrations.httpx import AccessKeyAuth as HttpxAuth
from descope_keys.integrations.requests import AccessKeyAuth as RequestsAuth


def show(tool: str, method: str, path: str, who: str, status: int, body: str) -> None:
    print(f"{tool:8} {method:4} {path:8} as {who:13} -> {status} {body.strip()}")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the output to the answers


@contextmanager
def flask_service(emu: ThreadedEmulator) -> Iterator[str]:
    """The Flask example app on a free port; it validates with a project id only."""
    with DescopeKeys(emu.project_id, base_url=emu.base_url) as client:
        server = make_server("127.0.0.1", 0, create_flask_app(client), handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)


def sync_machines(emu: ThreadedEmulator, reader_key: str, deployer_key: str) -> None:
    with flask_service(emu) as api, DescopeKeys(emu.project_id, base_url=emu.base_url) as client:
        # requests: the reporting bot. One exchange, however many calls.
        reader = client.credentials(reader_key)
        with requests.Session() as session:
            session.auth = RequestsAuth(reader)
            for method, path in [("GET", "/reports"), ("GET", "/reports"), ("POST", "/deploy")]:
                r = session.request(method, api + path, timeout=10)
                show("requests", method, path, "reporting-bot", r.status_code, r.text)
        r = requests.get(api + "/reports", timeout=10)  # no auth at all
        show("requests", "GET", "/reports", "nobody", r.status_code, r.json()["error"])

        # httpx (sync): the CI bot, which may deploy.
        deployer = client.credentials(deployer_key)
        with httpx.Client(base_url=api, auth=HttpxAuth(deployer), timeout=10) as http:
            r = http.post("/deploy")
            show("httpx", "POST", "/deploy", "ci-bot", r.status_code, r.text)


async def async_machine(emu: ThreadedEmulator, reader_key: str) -> None:
    async with AsyncDescopeKeys(emu.project_id, base_url=emu.base_url) as service_client:
        runner = web.AppRunner(create_aiohttp_app(service_client), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        api = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with AsyncDescopeKeys(emu.project_id, base_url=emu.base_url) as client:
                reader = client.credentials(reader_key)
                async with httpx.AsyncClient(base_url=api, auth=HttpxAuth(reader)) as http:
                    answers = await asyncio.gather(*(http.get("/reports") for _ in range(3)))
                    for r in answers:
                        show("httpx", "GET", "/reports", "reporting-bot", r.status_code, r.text)
        finally:
            await runner.cleanup()


def main() -> None:
    with ThreadedEmulator() as emu:
        # An operator creates the keys and hands each machine its secret.
        with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as admin:
            reader = admin.access_keys.create("reporting-bot", role_names=["reader"]).cleartext
            deployer = admin.access_keys.create("ci-bot", role_names=["deployer"]).cleartext
        sync_machines(emu, reader, deployer)
        asyncio.run(async_machine(emu, reader))
        exchanges = emu.request_counts["/v1/auth/accesskey/exchange"]
        print(f"{exchanges} exchanges for 7 authenticated calls: one per machine and client")


if __name__ == "__main__":
    main()
