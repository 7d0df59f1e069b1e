"""Bad input is rejected before any I/O, naming the argument."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from descope_keys import AsyncDescopeKeys, InvalidArgumentError, KeyTenant
from tests._aioresponses_compat import compat_aioresponses

Call = Callable[[AsyncDescopeKeys], Awaitable[Any]]

CASES: list[tuple[str, Call, str]] = [
    ("empty name", lambda c: c.access_keys.create(""), "name"),
    ("blank name", lambda c: c.access_keys.create("   "), "name"),
    ("non-string name", lambda c: c.access_keys.create(7), "name"),  # type: ignore[arg-type]
    (
        "naive expiry",
        lambda c: c.access_keys.create("n", expire_time=datetime(2999, 1, 1)),
        "expire_time",
    ),
    (
        "past expiry",
        lambda c: c.access_keys.create("n", expire_time=datetime(2000, 1, 1, tzinfo=timezone.utc)),
        "expire_time",
    ),
    (
        "negative duration",
        lambda c: c.access_keys.create("n", expire_time=timedelta(seconds=-1)),
        "expire_time",
    ),
    (
        "epoch int expiry",
        lambda c: c.access_keys.create("n", expire_time=1_900_000_000),  # type: ignore[arg-type]
        "expire_time",
    ),
    (
        "roles and tenants together",
        lambda c: c.access_keys.create("n", role_names=["a"], key_tenants=[KeyTenant("T")]),
        "role_names",
    ),
    (
        "role names as one string",
        lambda c: c.access_keys.create("n", role_names="admin"),  # type: ignore[arg-type]
        "role_names",
    ),
    (
        "tenant not a KeyTenant",
        lambda c: c.access_keys.create("n", key_tenants=[{"tenantId": "T"}]),  # type: ignore[list-item]
        "key_tenants[0]",
    ),
    (
        "empty tenant id",
        lambda c: c.access_keys.create("n", key_tenants=[KeyTenant("")]),
        "key_tenants[0].tenant_id",
    ),
    (
        "malformed ip",
        lambda c: c.access_keys.create("n", permitted_ips=["10.0.0.300"]),
        "permitted_ips[0]",
    ),
    (
        "malformed cidr",
        lambda c: c.access_keys.create("n", permitted_ips=["10.0.0.1", "10.0.0.0/33"]),
        "permitted_ips[1]",
    ),
    (
        "ips as one string",
        lambda c: c.access_keys.create("n", permitted_ips="10.0.0.1"),  # type: ignore[arg-type]
        "permitted_ips",
    ),
    (
        "non-json claims",
        lambda c: c.access_keys.create("n", custom_claims={"a": object()}),
        "custom_claims",
    ),
    (
        "nan claim",
        lambda c: c.access_keys.create("n", custom_claims={"a": float("nan")}),
        "custom_claims",
    ),
    (
        "too many claims",
        lambda c: c.access_keys.create("n", custom_claims={f"c{i}": i for i in range(101)}),
        "custom_claims",
    ),
    (
        "claim name too long",
        lambda c: c.access_keys.create("n", custom_claims={"x" * 61: 1}),
        "custom_claims",
    ),
    (
        "claim value too long",
        lambda c: c.access_keys.create("n", custom_claims={"x": "y" * 501}),
        "custom_claims",
    ),
    (
        "non-string attribute keys",
        lambda c: c.access_keys.create("n", custom_attributes={1: "a"}),  # type: ignore[dict-item]
        "custom_attributes",
    ),
    ("empty load id", lambda c: c.access_keys.load(""), "key_id"),
    ("none load id", lambda c: c.access_keys.load(None), "key_id"),  # type: ignore[arg-type]
    ("empty update id", lambda c: c.access_keys.update("", name="n"), "key_id"),
    ("empty update name", lambda c: c.access_keys.update("K1", name=""), "name"),
    (
        "bad update ip",
        lambda c: c.access_keys.update("K1", name="n", permitted_ips=["nope"]),
        "permitted_ips[0]",
    ),
    ("empty activate id", lambda c: c.access_keys.activate(""), "key_id"),
    ("empty deactivate id", lambda c: c.access_keys.deactivate(""), "key_id"),
    ("empty delete id", lambda c: c.access_keys.delete(""), "key_id"),
    ("empty rotate id", lambda c: c.access_keys.rotate(""), "key_id"),
    ("empty id list", lambda c: c.access_keys.delete_many([]), "key_ids"),
    ("id list as string", lambda c: c.access_keys.activate_many("K1"), "key_ids"),
    ("empty id in list", lambda c: c.access_keys.deactivate_many(["K1", ""]), "key_ids[1]"),
    (
        "too many ids",
        lambda c: c.access_keys.delete_many([f"K{i}" for i in range(1001)]),
        "key_ids",
    ),
    (
        "search tenants as string",
        lambda c: c.access_keys.search(tenant_ids="T1"),  # type: ignore[arg-type]
        "tenant_ids",
    ),
    ("empty exchange secret", lambda c: c.exchange_access_key(""), "access_key"),
    ("secret with a newline", lambda c: c.exchange_access_key("K1:secret\n"), "access_key"),
    ("secret with a space", lambda c: c.exchange_access_key("K1 secret"), "access_key"),
    (
        "bad exchange claims",
        lambda c: c.exchange_access_key("s", custom_claims={"a": {1, 2}}),
        "custom_claims",
    ),
    (
        "empty selected tenant",
        lambda c: c.exchange_access_key("s", selected_tenant=""),
        "selected_tenant",
    ),
]


@pytest.mark.parametrize(("case", "call", "argument"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_rejected_before_io_naming_the_argument(
    client: AsyncDescopeKeys,
    mocked: compat_aioresponses,
    case: str,
    call: Call,
    argument: str,
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await call(client)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
    assert isinstance(info.value, ValueError)
    assert mocked.requests == {}
