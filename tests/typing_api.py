"""Typing-only checks of the public client API: mypy --strict reads this file, nobody runs it.

Each line states what a type checker must infer. For the sync facade that
means values, never coroutines: a sync method typed as returning a coroutine
would fail ``assert_type`` here, and a ``None``-returning one would be an
unused coroutine (an error under --strict). The ``type: ignore`` comments
prove that mistakes are caught (``warn_unused_ignores`` fails if they are not).
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from typing_extensions import assert_type

from descope_keys import (
    AccessKey,
    AccessKeyCredentials,
    AccessKeys,
    AccessKeyToken,
    AsyncAccessKeyCredentials,
    AsyncAccessKeys,
    AsyncDescopeKeys,
    CreatedAccessKey,
    DescopeKeys,
    KeyTenant,
    RetryPolicy,
)


def sync_surface() -> None:
    with DescopeKeys("P2", "K", base_url="http://127.0.0.1:1", retry=RetryPolicy.disabled()) as c:
        assert_type(c, DescopeKeys)
        assert_type(c.project_id, str)
        assert_type(c.base_url, str)
        keys = c.access_keys
        assert_type(keys, AccessKeys)

        created = keys.create(
            "bot", expire_time=timedelta(days=1), key_tenants=[KeyTenant("T1", ("admin",))]
        )
        assert_type(created, CreatedAccessKey)
        assert_type(created.cleartext, str)
        assert_type(keys.load("K1"), AccessKey)
        assert_type(keys.search(tenant_ids=["T1"]), list[AccessKey])
        assert_type(keys.update("K1", name="renamed"), AccessKey | None)
        assert_type(keys.rotate("K1"), CreatedAccessKey)
        keys.activate("K1")
        keys.deactivate("K1")
        keys.delete("K1")
        keys.activate_many(["K1", "K2"])
        keys.deactivate_many(("K1",))
        keys.delete_many(iter(["K1"]))

        token = c.exchange_access_key(created.cleartext, custom_claims={"a": 1})
        assert_type(token, AccessKeyToken)
        assert_type(c.validate_token(token.jwt, audience="api"), AccessKeyToken)
        assert_type(token.has_role("admin", tenant="T1"), bool)

        # Keyword-only parameters stay keyword-only, and types are checked.
        keys.create("bot", None)  # type: ignore[call-arg]
        keys.update("K1", "renamed")  # type: ignore[call-arg]
        c.validate_token(b"jwt")  # type: ignore[arg-type]
        c.access_keys.load(42)  # type: ignore[arg-type]

        creds = c.credentials(created.cleartext, selected_tenant="T1")
        assert_type(creds, AccessKeyCredentials)
        assert_type(creds.authorization(), str)
        assert_type(creds.token(), AccessKeyToken)
        creds.invalidate(creds.authorization())
        c.credentials(None, {"a": 1})  # type: ignore[call-arg]
    c.close()


async def async_surface() -> None:
    async with AsyncDescopeKeys("P2", "K") as c:
        assert_type(c, AsyncDescopeKeys)
        keys = c.access_keys
        assert_type(keys, AsyncAccessKeys)
        pending = assert_type(keys.load("K1"), Coroutine[Any, Any, AccessKey])
        assert_type(await pending, AccessKey)
        assert_type(await keys.search(), list[AccessKey])
        assert_type(await c.validate_token("jwt"), AccessKeyToken)
        await keys.delete("K1")
        creds = c.credentials()
        assert_type(creds, AsyncAccessKeyCredentials)
        assert_type(await creds.authorization(), str)
        assert_type(await creds.token(), AccessKeyToken)
    await c.aclose()


def sync_is_not_async(sync: DescopeKeys, async_client: AsyncDescopeKeys) -> None:
    # A sync result is a value: awaiting it or mistaking one client for the
    # other is a type error.
    key: AccessKey = async_client.access_keys.load("K1")  # type: ignore[assignment]
    token: AccessKeyToken = sync.validate_token("jwt")
    del key, token


def telemetry_surface() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from descope_keys import telemetry

    assert_type(telemetry.instrument(), None)
    telemetry.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    telemetry.instrument(tracer_provider=MeterProvider())  # type: ignore[arg-type]
    assert_type(telemetry.instrumented(), bool)
    telemetry.uninstrument()
