"""Our requests equal the official ``descope`` SDK's for the same operation.

Both SDKs talk to one capture server on 127.0.0.1; we compare method, path,
query, the Authorization header and the JSON body after dropping nulls and
empty values (docs/wire.md §3: the server treats null, empty and missing alike).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp import web

from descope_keys import AsyncDescopeKeys, DescopeError, KeyTenant, RetryPolicy
from tests._servers import serve
from tests._wire import key_json
from tests.conftest import MANAGEMENT_KEY, PROJECT_ID

descope = pytest.importorskip("descope")

Captured = tuple[str, str, dict[str, str], str, Any]
EXPIRES = datetime(2999, 1, 1, tzinfo=timezone.utc)


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


@contextlib.asynccontextmanager
async def capture_server() -> AsyncIterator[tuple[str, list[Captured]]]:
    captured: list[Captured] = []

    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        if request.path == "/v1/mgmt/license":
            return web.json_response({"rateLimitTier": "free"})
        captured.append(
            (
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("Authorization", ""),
                body,
            )
        )
        if request.path.endswith(("/create", "/rotate")):
            return web.json_response({"key": key_json(), "cleartext": "secret"})
        if request.path.endswith("/search"):
            return web.json_response({"keys": [key_json()]})
        if request.path == "/v1/auth/accesskey/exchange":
            return web.json_response({"sessionJwt": "x.y.z", "keyId": "K1", "expiration": 1})
        return web.json_response({"key": key_json()})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with serve(app) as url:
        yield url, captured


OurCall = Callable[[AsyncDescopeKeys], Awaitable[Any]]
TheirCall = Callable[[Any], Awaitable[Any]]

CASES: list[tuple[str, OurCall, TheirCall]] = [
    (
        "create",
        lambda c: c.access_keys.create(
            "bot",
            expire_time=EXPIRES,
            key_tenants=[KeyTenant("T1", ["Admin"])],
            user_id="U1",
            custom_claims={"a": "b"},
            description="d",
            permitted_ips=["10.0.0.0/8"],
            custom_attributes={"team": "x"},
        ),
        lambda d: d.mgmt.access_key.create(
            "bot",
            expire_time=int(EXPIRES.timestamp()),
            key_tenants=[descope.AssociatedTenant("T1", ["Admin"])],
            user_id="U1",
            custom_claims={"a": "b"},
            description="d",
            permitted_ips=["10.0.0.0/8"],
            custom_attributes={"team": "x"},
        ),
    ),
    (
        "create-minimal",
        lambda c: c.access_keys.create("bot", role_names=["Viewer"]),
        lambda d: d.mgmt.access_key.create("bot", role_names=["Viewer"]),
    ),
    ("load", lambda c: c.access_keys.load("K1"), lambda d: d.mgmt.access_key.load("K1")),
    (
        "search",
        lambda c: c.access_keys.search(
            tenant_ids=["T1"], bound_user_id="U1", creating_user="U2", custom_attributes={"a": 1}
        ),
        lambda d: d.mgmt.access_key.search_all_access_keys(
            tenant_ids=["T1"], bound_user_id="U1", creating_user="U2", custom_attributes={"a": 1}
        ),
    ),
    (
        "update",
        lambda c: c.access_keys.update(
            "K1",
            name="n",
            description="d",
            permitted_ips=["1.2.3.4"],
            custom_claims={"x": 1},
            custom_attributes={"y": 2},
        ),
        lambda d: d.mgmt.access_key.update(
            "K1",
            "n",
            description="d",
            permitted_ips=["1.2.3.4"],
            custom_claims={"x": 1},
            custom_attributes={"y": 2},
        ),
    ),
    (
        "activate",
        lambda c: c.access_keys.activate("K1"),
        lambda d: d.mgmt.access_key.activate("K1"),
    ),
    (
        "deactivate",
        lambda c: c.access_keys.deactivate("K1"),
        lambda d: d.mgmt.access_key.deactivate("K1"),
    ),
    ("delete", lambda c: c.access_keys.delete("K1"), lambda d: d.mgmt.access_key.delete("K1")),
    ("rotate", lambda c: c.access_keys.rotate("K1"), lambda d: d.mgmt.access_key.rotate("K1")),
    (
        "activate-batch",
        lambda c: c.access_keys.activate_many(["K1", "K2"]),
        lambda d: d.mgmt.access_key.activate_batch(["K1", "K2"]),
    ),
    (
        "deactivate-batch",
        lambda c: c.access_keys.deactivate_many(["K1", "K2"]),
        lambda d: d.mgmt.access_key.deactivate_batch(["K1", "K2"]),
    ),
    (
        "delete-batch",
        lambda c: c.access_keys.delete_many(["K1", "K2"]),
        lambda d: d.mgmt.access_key.delete_batch(["K1", "K2"]),
    ),
    (
        "exchange",
        lambda c: c.exchange_access_key("the-secret", custom_claims={"n": 1}, selected_tenant="T1"),
        lambda d: d.exchange_access_key(
            "the-secret",
            login_options=descope.AccessKeyLoginOptions(
                custom_claims={"n": 1}, selected_tenant="T1"
            ),
        ),
    ),
    (
        "exchange-no-options",
        lambda c: c.exchange_access_key("the-secret"),
        lambda d: d.exchange_access_key("the-secret"),
    ),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
async def test_request_matches_the_official_sdk(
    name: str, ours: OurCall, theirs: TheirCall
) -> None:
    async with capture_server() as (url, captured):
        async with AsyncDescopeKeys(
            PROJECT_ID, MANAGEMENT_KEY, base_url=url, retry=RetryPolicy.disabled()
        ) as client:
            # The fake JWT of the exchange fails local validation: only the request matters.
            with contextlib.suppress(DescopeError):
                await ours(client)
        official = descope.DescopeClientAsync(
            PROJECT_ID, management_key=MANAGEMENT_KEY, base_url=url
        )
        try:
            with contextlib.suppress(descope.AuthException):
                await theirs(official)
        finally:
            await official.aclose()
    assert len(captured) == 2, captured
    (m1, p1, q1, a1, b1), (m2, p2, q2, a2, b2) = captured
    assert (m1, p1, q1, a1) == (m2, p2, q2, a2)
    assert _prune(b1) == _prune(b2)
    if name.startswith("create"):
        assert b1 == b2, "create sends every field exactly as the official SDK does"
