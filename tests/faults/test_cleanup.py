"""Cleanup persistence, pending cleanups, and the error every operation raises after
an ambiguous attempt.

A create's reconcile (its search, then its deletes) is what keeps the project
free of keys whose secret nobody holds: it retries until the call's deadline,
outside the retry budget, and what it cannot finish stays pending on the
client until it is done or, logged at WARNING, abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from descope_keys._client import AsyncDescopeKeys
from descope_keys._models import CreatedAccessKey
from descope_keys._reconcile import _SEARCH_HORIZON
from descope_keys.emulator import Emulator
from descope_keys.errors import AmbiguousResultError, DescopeError, ServerError, TransportError
from tests.faults._proxy import Fault, FaultProxy
from tests.faults.conftest import (
    BASE,
    CREATE,
    DELETE,
    FAST,
    MANAGEMENT_KEY,
    PROJECT_ID,
    ROTATE,
    SEARCH,
    SHORT,
    TIMEOUT,
    always,
    audit,
    client_of,
    secret_works,
)

# -- persistence ------------------------------------------------------------------


async def test_a_search_that_fails_8_times_then_succeeds_still_leaves_nothing_behind(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    proxy.script(SEARCH, *(Fault.answer(503) for _ in range(4)), *(Fault.after(500),) * 4)
    created = await sdk.access_keys.create("ci-bot")
    assert proxy.counts[SEARCH] == 9 > FAST.attempts
    assert proxy.counts[DELETE] == 1  # the orphan of the dropped attempt
    assert sdk.pending_cleanups == ()
    await audit(emu, direct, {created.key.id: created.cleartext})


async def test_deletes_of_the_orphan_also_outlive_the_attempt_count(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    proxy.script(DELETE, *(Fault.answer(503) for _ in range(7)))
    created = await sdk.access_keys.create("ci-bot")
    assert proxy.counts[DELETE] == 8
    await audit(emu, direct, {created.key.id: created.cleartext})


async def test_cleanup_runs_when_the_retry_budget_is_spent(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    sdk._api._budget._tokens = 0  # type: ignore[union-attr]  # a client that retried a lot
    proxy.script(CREATE, Fault.drop())
    proxy.script(SEARCH, *(Fault.answer(503) for _ in range(3)))
    # The create itself may not retry (no budget), but its cleanup still finishes.
    with pytest.raises(TransportError) as info:
        await sdk.access_keys.create("ci-bot")
    assert not isinstance(info.value, AmbiguousResultError)  # nothing was left behind
    assert proxy.counts[SEARCH] == 4
    assert proxy.counts[CREATE] == 1
    await audit(emu, direct, {})


# -- pending cleanups -------------------------------------------------------------


async def test_a_pending_search_is_finished_in_the_background_while_the_client_lives(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    always(proxy, SEARCH, Fault.answer(503))
    async with client_of(proxy) as client:
        client._creates.cleanups.initial_wait = 0.01
        with pytest.raises(AmbiguousResultError, match="background"):
            await client.access_keys.create("ci-bot")
        assert len(client.pending_cleanups) == 1
        assert len(emu.stored_keys()) == 1
        proxy.calm()  # the bad minute is over
        for _ in range(500):
            if not client.pending_cleanups:
                break
            await asyncio.sleep(0.01)
        assert client.pending_cleanups == ()
        await audit(emu, direct, {})
        # The ledger holds nothing for the name any more.
        ledger = client._creates
        assert (ledger._queued, ledger._locks, ledger._holders, ledger._generation) == (
            {},
            {},
            {},
            {},
        )


async def test_pending_cleanups_back_off_while_they_keep_failing(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    always(proxy, DELETE, Fault.answer(503))
    async with client_of(proxy) as client:
        queue = client._creates.cleanups
        queue.initial_wait, queue.max_wait = 0.02, 0.08
        with pytest.raises(AmbiguousResultError):
            await client.access_keys.create("ci-bot")
        before = proxy.counts[DELETE]
        await asyncio.sleep(0.6)
        rounds = proxy.counts[DELETE] - before
        # Waits of at most 0.02, 0.04, then 0.08 s: a handful of rounds, not a spin.
        assert 3 <= rounds <= 0.6 / 0.01
        (pending,) = client.pending_cleanups
        assert pending.attempts == rounds
        proxy.calm()
    await audit(emu, direct, {})


async def test_a_pending_cleanup_is_finished_in_aclose(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    always(proxy, DELETE, Fault.answer(503))
    client = AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=proxy.base_url, timeout=TIMEOUT, retry=SHORT
    )
    client._creates.cleanups.initial_wait = 3600.0  # no background round before the close
    with pytest.raises(AmbiguousResultError):
        await client.access_keys.create("ci-bot")
    (orphan,) = (k["id"] for k in emu.stored_keys())
    assert [p.key_ids for p in client.pending_cleanups] == [(orphan,)]
    proxy.calm()
    await client.aclose()
    assert client.pending_cleanups == ()
    await audit(emu, direct, {})


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


async def test_an_abandoned_delete_is_a_warning_naming_the_key_id(
    proxy: FaultProxy, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    proxy.script(CREATE, Fault.drop())
    always(proxy, DELETE, Fault.answer(503))
    async with client_of(proxy) as client:
        client._creates.cleanups.initial_wait = 3600.0
        with pytest.raises(AmbiguousResultError):
            await client.access_keys.create("ci-bot")
        assert not _warnings(caplog)  # pending is not abandoned
    (orphan,) = (k["id"] for k in emu.stored_keys())
    (warning,) = _warnings(caplog)
    assert orphan in warning.getMessage()
    assert "abandoned" in warning.getMessage()
    assert warning.key_ids == (orphan,)  # type: ignore[attr-defined]
    assert client.pending_cleanups == ()


async def test_an_abandoned_search_is_a_warning_naming_the_name_and_time_window(
    proxy: FaultProxy, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    proxy.script(CREATE, Fault.drop())
    always(proxy, SEARCH, Fault.answer(503))
    async with client_of(proxy) as client:
        client._creates.cleanups.initial_wait = 3600.0
        with pytest.raises(AmbiguousResultError):
            await client.access_keys.create("ci-bot")
        (pending,) = client.pending_cleanups
    (warning,) = _warnings(caplog)
    message = warning.getMessage()
    assert "'ci-bot'" in message
    assert pending.created_after.isoformat() in message
    assert pending.created_before.isoformat() in message
    assert pending.created_after <= pending.created_before
    assert warning.key_name == "ci-bot"  # type: ignore[attr-defined]
    assert len(emu.stored_keys()) == 1  # the orphan the warning tells an operator about


async def test_a_cleanup_left_by_a_closing_client_is_abandoned_at_once(
    proxy: FaultProxy, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    proxy.script(CREATE, Fault.drop())
    always(proxy, SEARCH, Fault.answer(503))
    async with client_of(proxy) as client:
        create = asyncio.ensure_future(client.access_keys.create("ci-bot"))
        await asyncio.sleep(0.1)  # the reconcile's search is retrying
        await client._creates.cleanups.aclose(0.1)
        with pytest.raises(AmbiguousResultError):
            await create
        assert client.pending_cleanups == ()
    assert len(_warnings(caplog)) == 1


# -- the error of every operation after an ambiguous attempt ----------------------

Op = Callable[[AsyncDescopeKeys, CreatedAccessKey], Awaitable[object]]

# (path, call, error after [committed-then-500, 503, 503, 503])
AFTER_AMBIGUOUS: list[object] = [
    pytest.param(BASE, lambda s, k: s.access_keys.load(k.key.id), ServerError, id="load"),
    pytest.param(SEARCH, lambda s, k: s.access_keys.search(), ServerError, id="search"),
    pytest.param(
        f"{BASE}/update",
        lambda s, k: s.access_keys.update(k.key.id, name="n"),
        ServerError,
        id="update",
    ),
    pytest.param(
        f"{BASE}/activate",
        lambda s, k: s.access_keys.activate(k.key.id),
        ServerError,
        id="activate",
    ),
    pytest.param(
        f"{BASE}/deactivate",
        lambda s, k: s.access_keys.deactivate(k.key.id),
        ServerError,
        id="deactivate",
    ),
    pytest.param(
        f"{BASE}/activate/batch",
        lambda s, k: s.access_keys.activate_many([k.key.id]),
        ServerError,
        id="activate-many",
    ),
    pytest.param(
        f"{BASE}/deactivate/batch",
        lambda s, k: s.access_keys.deactivate_many([k.key.id]),
        ServerError,
        id="deactivate-many",
    ),
    pytest.param(
        "/v1/auth/accesskey/exchange",
        lambda s, k: s.exchange_access_key(k.cleartext),
        ServerError,
        id="exchange",
    ),
    pytest.param(
        ROTATE, lambda s, k: s.access_keys.rotate(k.key.id), AmbiguousResultError, id="rotate"
    ),
    pytest.param(
        DELETE, lambda s, k: s.access_keys.delete(k.key.id), AmbiguousResultError, id="delete"
    ),
    pytest.param(
        f"{BASE}/delete/batch",
        lambda s, k: s.access_keys.delete_many([k.key.id]),
        AmbiguousResultError,
        id="delete-many",
    ),
    # The dropped create is reconciled (its orphan found and deleted), so
    # the 503s that follow are all there is to say.
    pytest.param(
        CREATE, lambda s, k: s.access_keys.create("fresh"), ServerError, id="create-reconciled"
    ),
]


@pytest.mark.parametrize(("path", "op", "expected"), AFTER_AMBIGUOUS)
async def test_the_error_each_operation_raises_after_an_ambiguous_attempt(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    path: str,
    op: Op,
    expected: type[DescopeError],
) -> None:
    key = await direct.access_keys.create("ci-bot")
    proxy.script(path, Fault.after(500), *(Fault.answer(503) for _ in range(3)))
    with pytest.raises(DescopeError) as info:
        await op(sdk, key)
    error = info.value
    assert type(error) is expected
    assert error.attempts == 4  # type: ignore[attr-defined]
    if isinstance(error, AmbiguousResultError):
        assert error.key_ids == (key.key.id,)
        assert isinstance(error.__cause__, ServerError)
        assert error.last_error is error.__cause__
        assert key.key.id in str(error)
    if path == CREATE:
        await audit(emu, direct, {key.key.id: key.cleartext})  # the orphan is gone


async def test_an_ambiguous_rotate_says_the_old_secret_may_be_revoked_and_what_to_do(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    key = await direct.access_keys.create("ci-bot")
    proxy.script(ROTATE, Fault.drop(), *(Fault.answer(503) for _ in range(3)))
    with pytest.raises(AmbiguousResultError) as info:
        await sdk.access_keys.rotate(key.key.id)
    assert "the old secret may have been revoked: rotate again to get a working one" in str(
        info.value
    )
    assert not await secret_works(direct, key.key.id, key.cleartext)  # it was, indeed
    rotated = await sdk.access_keys.rotate(key.key.id)  # what the error says to do
    await audit(emu, direct, {key.key.id: rotated.cleartext})


async def test_a_rotate_that_never_reached_the_server_is_a_plain_error_and_the_secret_works(
    proxy: FaultProxy, direct: AsyncDescopeKeys
) -> None:
    key = await direct.access_keys.create("ci-bot")
    # 503 and 429 are turned away before any work: nothing was rotated.
    proxy.script(ROTATE, Fault.answer(503), Fault.answer(429, headers={"Retry-After": "0"}))
    proxy.script(ROTATE, *(Fault.answer(503) for _ in range(2)))
    # A generous read timeout: on a loaded machine an answer slower than the
    # suite's TIMEOUT is a timeout after sending, which is ambiguous (rightly),
    # and not what this test is about.
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=proxy.base_url, timeout=10.0, retry=FAST
    ) as sdk:
        with pytest.raises(ServerError) as info:
            await sdk.access_keys.rotate(key.key.id)
    assert not isinstance(info.value, AmbiguousResultError)
    assert await secret_works(direct, key.key.id, key.cleartext)


async def test_a_pending_search_older_than_the_horizon_is_abandoned_not_guessed(
    proxy: FaultProxy, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    proxy.script(CREATE, Fault.drop())
    always(proxy, SEARCH, Fault.answer(503))
    async with client_of(proxy) as client:
        queue = client._creates.cleanups
        queue.initial_wait = 3600.0
        with pytest.raises(AmbiguousResultError):
            await client.access_keys.create("ci-bot")
        proxy.calm()
        (cleanup,) = queue._items
        cleanup.ended -= _SEARCH_HORIZON + 1  # as if long ago: returned ids may be forgotten
        await queue._round()
        assert client.pending_cleanups == ()
        (warning,) = _warnings(caplog)
        assert "pending for too long" in warning.getMessage()
    assert len(emu.stored_keys()) == 1  # left for an operator, not deleted on a guess


async def test_a_pending_search_that_finds_more_keys_than_it_can_own_deletes_none(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="descope_keys")
    proxy.script(CREATE, Fault.drop())
    always(proxy, SEARCH, Fault.answer(503))
    async with client_of(proxy) as client:
        queue = client._creates.cleanups
        queue.initial_wait = 3600.0
        with pytest.raises(AmbiguousResultError):
            await client.access_keys.create("ci-bot")
        proxy.calm()
        await direct.access_keys.create("ci-bot")  # another process's twin, same seconds
        await queue._round()
        assert client.pending_cleanups == ()
    stored = sorted(k["id"] for k in emu.stored_keys())
    assert len(stored) == 2
    assert proxy.counts[DELETE] == 0
    (warning,) = _warnings(caplog)
    assert sorted(warning.key_ids) == stored  # type: ignore[attr-defined]


async def test_a_background_round_that_cannot_decide_or_breaks_keeps_the_cleanup(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    always(proxy, SEARCH, Fault.answer(503))
    async with client_of(proxy) as client:
        queue = client._creates.cleanups
        queue.initial_wait = 3600.0
        with pytest.raises(AmbiguousResultError):
            await client.access_keys.create("ci-bot")
        proxy.calm()
        proxy.script(SEARCH, Fault.mangle(lambda body: {}))  # no key list: undecided
        assert not await queue._round()
        honest = queue._attempt

        async def broken(cleanup: object) -> bool:
            raise RuntimeError("a bug")

        queue._attempt = broken  # type: ignore[assignment,method-assign]
        assert not await queue._round()  # logged, and the other cleanups go on
        queue._attempt = honest  # type: ignore[method-assign]
        (pending,) = client.pending_cleanups
        assert pending.attempts == 2
        assert await queue._round()
        assert client.pending_cleanups == ()
    await audit(emu, direct, {})
