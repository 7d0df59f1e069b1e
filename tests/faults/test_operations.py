"""Every other operation under injected faults: retried when safe, never when not.

Idempotent operations (load, search, update, (de)activate, their batch forms,
exchange) and rotate are retried after any failure that a repeat cannot make
worse; delete is, too, and a 404 after a lost answer means it worked. A
definite 4xx answer is never retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from descope_keys._client import AsyncDescopeKeys
from descope_keys._models import AccessKeyStatus, CreatedAccessKey
from descope_keys.emulator import Emulator
from descope_keys.errors import (
    AmbiguousResultError,
    BadRequestError,
    NotFoundError,
    ServerError,
    TransportError,
)
from tests.faults._proxy import HTML_502, Fault, FaultProxy
from tests.faults.conftest import BASE, DELETE, ROTATE, audit, retries, secret_works

EXCHANGE = "/v1/auth/accesskey/exchange"

Op = Callable[[AsyncDescopeKeys, CreatedAccessKey], Awaitable[object]]


async def _load(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> object:
    loaded = await sdk.access_keys.load(key.key.id)
    assert loaded.id == key.key.id
    return loaded


async def _search(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> object:
    found = await sdk.access_keys.search()
    assert [k.id for k in found] == [key.key.id]
    return found


async def _update(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> object:
    return await sdk.access_keys.update(key.key.id, name="renamed", description="d")


async def _deactivate(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> None:
    await sdk.access_keys.deactivate(key.key.id)


async def _activate(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> None:
    await sdk.access_keys.activate(key.key.id)


async def _deactivate_many(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> None:
    await sdk.access_keys.deactivate_many([key.key.id])


async def _activate_many(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> None:
    await sdk.access_keys.activate_many([key.key.id])


async def _exchange(sdk: AsyncDescopeKeys, key: CreatedAccessKey) -> object:
    token = await sdk.exchange_access_key(key.cleartext)
    assert token.key_id == key.key.id
    return token


# (operation name for logs, proxy path, call)
OPERATIONS = [
    pytest.param("access_keys.load", BASE, _load, id="load"),
    pytest.param("access_keys.search", f"{BASE}/search", _search, id="search"),
    pytest.param("access_keys.update", f"{BASE}/update", _update, id="update"),
    pytest.param("access_keys.deactivate", f"{BASE}/deactivate", _deactivate, id="deactivate"),
    pytest.param("access_keys.activate", f"{BASE}/activate", _activate, id="activate"),
    pytest.param(
        "access_keys.deactivate_many",
        f"{BASE}/deactivate/batch",
        _deactivate_many,
        id="deactivate-many",
    ),
    pytest.param(
        "access_keys.activate_many", f"{BASE}/activate/batch", _activate_many, id="activate-many"
    ),
    pytest.param("exchange_access_key", EXCHANGE, _exchange, id="exchange"),
]

FAULTS = [
    pytest.param(Fault.reset(), id="reset"),
    pytest.param(Fault.drop(), id="drop"),
    pytest.param(Fault.truncate(), id="truncate"),
    pytest.param(Fault.drip(0.05), id="drip"),
    pytest.param(Fault.blackhole(), id="black-hole"),
    pytest.param(Fault.answer(503), id="503"),
    pytest.param(Fault.answer(502, HTML_502), id="html-502"),
    pytest.param(Fault.after(500), id="500-after-commit"),
    pytest.param(Fault.after(504), id="504-after-commit"),
    pytest.param(Fault.answer(429, headers={"Retry-After": "0"}), id="429"),
]


@pytest.fixture
async def key(direct: AsyncDescopeKeys) -> CreatedAccessKey:
    return await direct.access_keys.create("ci-bot")


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("operation", "path", "op"), OPERATIONS)
async def test_idempotent_operation_is_retried_after_any_transient_fault(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    key: CreatedAccessKey,
    retry_log: pytest.LogCaptureFixture,
    operation: str,
    path: str,
    op: Op,
    fault: Fault,
) -> None:
    proxy.script(path, fault)
    await op(sdk, key)
    assert proxy.counts[path] == 2
    # aiohttp itself repeats a GET once when the connection drops before any
    # answer, so the SDK never sees that failure; every other one it retries.
    absorbed = path == BASE and fault.kind in {"reset", "drop"}
    assert len(retries(retry_log, operation)) == (0 if absorbed else 1)


@pytest.mark.parametrize(("operation", "path", "op"), OPERATIONS)
async def test_idempotent_operation_gives_up_after_the_policy_attempts(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    key: CreatedAccessKey,
    operation: str,
    path: str,
    op: Op,
) -> None:
    proxy.script(path, *(Fault.after(502, HTML_502) for _ in range(10)))
    with pytest.raises(ServerError) as info:
        await op(sdk, key)
    assert info.value.status == 502
    assert info.value.attempts == 4
    assert "non-JSON error body (text/html" in str(info.value)
    assert proxy.counts[path] == 4


@pytest.mark.parametrize(("operation", "path", "op"), OPERATIONS)
async def test_a_definite_client_error_is_never_retried(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    key: CreatedAccessKey,
    operation: str,
    path: str,
    op: Op,
) -> None:
    proxy.script(path, Fault.answer(400))
    with pytest.raises(BadRequestError) as info:
        await op(sdk, key)
    assert info.value.attempts == 1
    assert proxy.counts[path] == 1


# -- rotate -----------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
async def test_rotate_after_a_lost_answer_returns_a_newer_secret_that_works(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    key: CreatedAccessKey,
    fault: Fault,
) -> None:
    proxy.script(ROTATE, fault)
    rotated = await sdk.access_keys.rotate(key.key.id)
    assert proxy.counts[ROTATE] == 2
    assert proxy.forwarded[ROTATE] == (2 if fault.reaches_server else 1)
    assert rotated.cleartext != key.cleartext
    assert not await secret_works(direct, key.key.id, key.cleartext)
    await audit(emu, direct, {key.key.id: rotated.cleartext})


@pytest.mark.parametrize(
    "rewrite",
    [lambda body: {"key": body["key"]}, lambda body: {}, lambda body: {"key": 1, "cleartext": 2}],
    ids=["no-cleartext", "empty", "garbage"],
)
async def test_rotate_answered_without_a_usable_secret_is_retried_for_one_that_works(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    key: CreatedAccessKey,
    rewrite: Callable[[Any], Any],
) -> None:
    proxy.script(ROTATE, Fault.mangle(rewrite))
    rotated = await sdk.access_keys.rotate(key.key.id)
    assert proxy.counts[ROTATE] == 2
    assert proxy.forwarded[ROTATE] == 2
    assert not await secret_works(direct, key.key.id, key.cleartext)
    await audit(emu, direct, {key.key.id: rotated.cleartext})


async def test_rotate_that_fails_every_attempt_says_how_often_it_tried(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, key: CreatedAccessKey
) -> None:
    proxy.script(ROTATE, *(Fault.drop() for _ in range(4)))
    with pytest.raises(TransportError) as info:
        await sdk.access_keys.rotate(key.key.id)
    assert info.value.attempts == 4
    assert info.value.request_sent


# -- delete -------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
async def test_delete_succeeds_through_any_transient_fault(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    key: CreatedAccessKey,
    fault: Fault,
) -> None:
    proxy.script(DELETE, fault)
    await sdk.access_keys.delete(key.key.id)
    assert proxy.counts[DELETE] == 2
    await audit(emu, direct, {})


async def test_delete_of_a_missing_key_is_not_found_at_once(
    sdk: AsyncDescopeKeys, proxy: FaultProxy
) -> None:
    with pytest.raises(NotFoundError) as info:
        await sdk.access_keys.delete("K0000000000000000000000000000")
    assert info.value.attempts == 1
    assert proxy.counts[DELETE] == 1


async def test_delete_of_a_missing_key_after_a_refused_attempt_is_still_not_found(
    sdk: AsyncDescopeKeys, proxy: FaultProxy
) -> None:
    proxy.script(DELETE, Fault.answer(503))
    with pytest.raises(NotFoundError) as info:
        await sdk.access_keys.delete("K0000000000000000000000000000")
    assert info.value.attempts == 2


async def test_delete_many_after_a_lost_answer_reports_the_ambiguity(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    key: CreatedAccessKey,
) -> None:
    other = await direct.access_keys.create("other")
    path = f"{BASE}/delete/batch"
    proxy.script(path, Fault.drop())
    with pytest.raises(AmbiguousResultError) as info:
        await sdk.access_keys.delete_many([key.key.id, other.key.id])
    assert info.value.attempts == 2
    await audit(emu, direct, {})  # the first attempt did delete both


async def test_delete_many_through_a_fault_that_never_reached_the_server(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    key: CreatedAccessKey,
) -> None:
    path = f"{BASE}/delete/batch"
    proxy.script(path, Fault.reset(), Fault.answer(503))
    await sdk.access_keys.delete_many([key.key.id])
    assert proxy.counts[path] == 3
    await audit(emu, direct, {})


async def test_deactivate_through_faults_leaves_the_key_inactive(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, key: CreatedAccessKey
) -> None:
    proxy.script(f"{BASE}/deactivate", Fault.drop(), Fault.truncate())
    await sdk.access_keys.deactivate(key.key.id)
    assert (await sdk.access_keys.load(key.key.id)).status is AccessKeyStatus.INACTIVE
