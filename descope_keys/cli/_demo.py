"""``descope-keys demo``: the whole key lifecycle against an in-process emulator."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web

from .._client import AsyncDescopeKeys
from .._config import ENV_PUBLIC_KEY
from .._endpoints import EXCHANGE
from .._models import KeyTenant
from .._tokens import AccessKeyToken
from ..emulator import Emulator
from ..errors import AuthenticationError, DescopeError, NotFoundError
from ..integrations.aiohttp import access_key_auth, descope_middleware, get_token
from ._console import Io
from ._errors import EXIT_FAILURE, EXIT_OK, Context, describe
from ._output import abbreviate, key_rows, key_table, now_utc, rows, token_rows

__all__ = ["run_demo"]

_TENANT = "acme"
_ROLES = ("deployer", "viewer")
_PERMISSIONS = {"deployer": ["deploy", "read"], "viewer": ["read"]}
_INDENT = "     "
# The machine step's tokens live this long, so that a refresh happens within
# the demo's seconds (Descope's default is minutes).
_MACHINE_TTL = 2


class _DemoFailure(Exception):
    """The emulator or the SDK did not behave as the demo expects."""


class _Steps:
    """Prints each step as it runs, or, with ``--json``, collects them for one document."""

    def __init__(self, io: Io) -> None:
        self._io = io
        self._number = 0
        self.collected: list[dict[str, Any]] = []

    def step(self, title: str, command: str) -> None:
        self._number += 1
        if self._io.json:
            self.collected.append(
                {"step": self._number, "title": title, "command": command, "output": []}
            )
            return
        self._io.print("", f"{self._number}. {title}", f"{_INDENT}$ descope-keys {command}")

    def show(self, *lines: str) -> None:
        if self._io.json:
            self.collected[-1]["output"].extend(line.rstrip() for line in lines)
            return
        self._io.print(*(f"{_INDENT}{line}" for line in lines))
        self._io.out.flush()


async def _refused(
    steps: _Steps,
    what: str,
    attempt: Callable[[], Awaitable[object]],
    expected: type[Exception],
    key_id: str,
) -> None:
    """Run ``attempt`` and show its failure; succeeding would be a demo failure."""
    try:
        await attempt()
    except expected as exc:
        context = Context.EXCHANGE if expected is AuthenticationError else Context.MANAGEMENT
        _, message = describe(exc, context, key_id=key_id)
        steps.show(f"-> {what} fails as it should: {type(exc).__name__}: {message}")
        return
    raise _DemoFailure(f"{what} unexpectedly succeeded")


def _check(condition: bool, problem: str) -> None:
    if not condition:
        raise _DemoFailure(problem)


async def _lifecycle(client: AsyncDescopeKeys, steps: _Steps, pinned: bool) -> None:
    keys = client.access_keys
    tenant_arg = f"{_TENANT}:{','.join(_ROLES)}"

    steps.step(
        "Create an access key with roles in a tenant",
        f"keys create --name demo-ci-bot --tenant {tenant_arg} --expires-in 30d",
    )
    created = await keys.create(
        "demo-ci-bot",
        key_tenants=[KeyTenant(_TENANT, _ROLES)],
        expire_time=timedelta(days=30),
        description="made by descope-keys demo",
        custom_claims={"team": "platform"},
    )
    key_id, secret = created.key.id, created.cleartext
    steps.show(*rows([*key_rows(created.key, now_utc()), ("secret", abbreviate(secret))]))
    steps.show("-> the secret is shown only at creation (the demo hides most of it)")

    steps.step("Load it by id, and search the tenant's keys", f"keys search --tenant {_TENANT}")
    loaded = await keys.load(key_id)
    _check(loaded.key_tenants[0].role_names == _ROLES, "load returned other roles")
    found = await keys.search(tenant_ids=[_TENANT])
    _check([k.id for k in found] == [key_id], "search did not find exactly the new key")
    steps.show(f"load {key_id}: {loaded.name}, {loaded.status}", *key_table(found, now_utc()))

    steps.step("Exchange the secret for a session JWT", "exchange - < secret.txt")
    token = await client.exchange_access_key(secret)
    steps.show(f"jwt  {abbreviate(token.jwt, 20)}")

    steps.step("Validate the JWT locally and show its claims", "validate - < jwt.txt")
    validated = await client.validate_token(token.jwt)
    _check(validated.key_id == key_id, "the JWT names another key")
    _check(validated.has_role("deployer", _TENANT), "the JWT lacks the tenant role")
    _check(validated.has_permission("deploy", _TENANT), "the JWT lacks the role's permission")
    steps.show(*rows(token_rows(validated, now_utc())))
    steps.show("-> checked in-process against the cached JWKS: no network call per request")

    steps.step("Deactivate the key: the exchange now fails", f"keys deactivate {key_id}")
    await keys.deactivate(key_id)
    steps.show(f"status: {(await keys.load(key_id)).status}")
    await _refused(
        steps, "exchange", lambda: client.exchange_access_key(secret), AuthenticationError, key_id
    )
    still: AccessKeyToken = await client.validate_token(token.jwt)
    steps.show(f"-> the JWT issued before stays valid until it expires ({still.key_id})")

    steps.step("Activate it again: the exchange works", f"keys activate {key_id}")
    await keys.activate(key_id)
    await client.exchange_access_key(secret)
    steps.show("-> exchange succeeds")

    steps.step("Rotate the secret: the old one fails, the new one works", f"keys rotate {key_id}")
    rotated = await keys.rotate(key_id)
    _check(rotated.cleartext != secret, "rotation kept the old secret")
    steps.show(f"new secret  {abbreviate(rotated.cleartext)}")
    await _refused(
        steps,
        "exchange with the old secret",
        lambda: client.exchange_access_key(secret),
        AuthenticationError,
        key_id,
    )
    fresh = await client.exchange_access_key(rotated.cleartext)
    _check(fresh.key_id == key_id, "the new secret belongs to another key")
    steps.show("-> exchange with the new secret succeeds")

    await _machine(steps, pinned)

    steps.step("Delete the key", f"keys delete {key_id}")
    await keys.delete(key_id)
    await _refused(steps, "load", lambda: keys.load(key_id), NotFoundError, key_id)


async def _protected_api(client: AsyncDescopeKeys) -> tuple[web.AppRunner, str]:
    """A tiny aiohttp API behind descope_middleware, on a free loopback port."""

    async def reports(request: web.Request) -> web.Response:
        token = get_token(request)
        assert token is not None  # the middleware let the request through
        left = token.expires_at.timestamp() - time.time()
        return web.json_response({"exp": token.expires_at.timestamp(), "left": left})

    app = web.Application(middlewares=[descope_middleware(client)])
    app.router.add_get("/reports", reports)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _machine(steps: _Steps, pinned: bool) -> None:
    steps.step(
        "A machine calls a protected API with its key, across a token refresh",
        "token   # in Python: ClientSession(middlewares=[access_key_auth(creds)])",
    )
    async with (
        Emulator(role_permissions=_PERMISSIONS, session_ttl=_MACHINE_TTL) as emulator,
        AsyncDescopeKeys(
            emulator.project_id,
            emulator.management_key,
            base_url=emulator.base_url,
            public_key=emulator.jwks() if pinned else None,
        ) as client,
    ):
        created = await client.access_keys.create("demo-machine", role_names=["viewer"])
        runner, url = await _protected_api(client)
        try:
            creds = client.credentials(created.cleartext)
            async with aiohttp.ClientSession(middlewares=[access_key_auth(creds)]) as http:
                expiries: list[float] = []
                lefts: list[float] = []
                deadline = time.monotonic() + 4 * _MACHINE_TTL
                # Call until a second token has been in use for a few calls.
                while len(set(expiries)) < 2 or expiries.count(expiries[-1]) < 3:
                    _check(time.monotonic() < deadline, "the token was not refreshed in time")
                    async with http.get(f"{url}/reports") as response:
                        _check(response.status == 200, f"the API answered {response.status}")
                        body = await response.json()
                    expiries.append(body["exp"])
                    lefts.append(body["left"])
                    await asyncio.sleep(0.1)
        finally:
            await runner.cleanup()
        exchanges = emulator.request_counts[EXCHANGE]
    steps.show(
        f"tokens live {_MACHINE_TTL} s here (session_ttl), so the refresh comes within seconds",
        f"-> {len(expiries)} calls, all 200 OK, on {len(set(expiries))} tokens from "
        f"{exchanges} exchanges: the next token was ready before the first expired",
        f"-> every call had time left on its token (at least {min(lefts):.1f} s)",
    )


async def run_demo(io: Io) -> int:
    """Start an emulator on 127.0.0.1, walk through the lifecycle, stop it."""
    started = time.perf_counter()
    async with Emulator(role_permissions=_PERMISSIONS) as emulator:
        if not io.json:
            io.print(
                "descope-keys demo: the access-key lifecycle against an embedded emulator",
                f"(a throwaway Descope-compatible server at {emulator.base_url}, "
                f"project {emulator.project_id}; no account or credentials needed)",
            )
        # A pinned key from the environment would not match the emulator's.
        pinned = emulator.jwks() if os.environ.get(ENV_PUBLIC_KEY) else None
        async with AsyncDescopeKeys(
            emulator.project_id,
            emulator.management_key,
            base_url=emulator.base_url,
            public_key=pinned,
        ) as client:
            steps = _Steps(io)
            try:
                await _lifecycle(client, steps, pinned is not None)
            except (_DemoFailure, DescopeError) as exc:
                io.out.flush()
                io.error(f"demo failed: {exc}")
                return EXIT_FAILURE
    elapsed = time.perf_counter() - started
    if io.json:
        document = {"ok": True, "seconds": round(elapsed, 3), "steps": steps.collected}
        io.print(json.dumps(document, indent=2))
        return EXIT_OK
    io.print(
        "",
        f"Done in {elapsed:.2f} s: create, load, search, exchange, validate, deactivate, "
        "activate, rotate, a machine calling an API across a token refresh, delete.",
        "Against your project: export DESCOPE_PROJECT_ID and DESCOPE_MANAGEMENT_KEY, "
        "then descope-keys --help.",
    )
    return EXIT_OK
