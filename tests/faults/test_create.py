"""Create under injected faults: never a duplicate, never an orphan, every secret works.

Each scenario counts what crossed the proxy (create attempts, reconcile
searches and deletes) and then inspects the emulator: exactly the keys the
calls reported, each one's secret exchangeable.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time

import pytest

from descope_keys._client import AsyncDescopeKeys
from descope_keys._retry import RetryPolicy
from descope_keys.emulator import Emulator
from descope_keys.errors import AmbiguousResultError, RateLimitError, ServerError, TransportError
from tests.faults._proxy import HTML_502, Fault, FaultProxy
from tests.faults.conftest import (
    CREATE,
    DELETE,
    MANAGEMENT_KEY,
    PROJECT_ID,
    ROTATE,
    SEARCH,
    SHORT,
    TIMEOUT,
    always,
    audit,
    client_of,
    duplicates,
    retries,
    retry_creates_blindly,
)

# (fault on the first create attempt, did the server make a key?, is the
# outcome ambiguous to the client?)
ONE_FAULT = [
    pytest.param(Fault.reset(), False, True, id="reset-before-forwarding"),
    pytest.param(Fault.drop(), True, True, id="forwarded-then-dropped"),
    pytest.param(Fault.truncate(), True, True, id="truncated-body"),
    pytest.param(Fault.drip(0.05), True, True, id="drip-past-timeout"),
    pytest.param(Fault.blackhole(), False, True, id="black-hole"),
    pytest.param(Fault.mangle(lambda body: {}), True, True, id="2xx-without-key"),
    pytest.param(Fault.answer(502, HTML_502), False, True, id="html-502"),
    pytest.param(Fault.after(502, HTML_502), True, True, id="html-502-after-commit"),
    pytest.param(Fault.after(500), True, True, id="500-after-commit"),
    pytest.param(Fault.after(504), True, True, id="504-after-commit"),
    pytest.param(Fault.after(520), True, True, id="520-after-commit"),
    pytest.param(Fault.after(524), True, True, id="524-after-commit"),
    pytest.param(Fault.answer(503), False, False, id="503"),
    pytest.param(Fault.answer(521), False, False, id="521"),
    pytest.param(Fault.answer(522), False, False, id="522"),
    pytest.param(Fault.answer(530), False, False, id="530"),
    pytest.param(Fault.answer(429, headers={"Retry-After": "0"}), False, False, id="429"),
]


@pytest.mark.parametrize(("fault", "made", "ambiguous"), ONE_FAULT)
async def test_create_survives_one_fault_with_exactly_one_working_key(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    retry_log: pytest.LogCaptureFixture,
    fault: Fault,
    made: bool,
    ambiguous: bool,
) -> None:
    proxy.script(CREATE, fault)
    created = await sdk.access_keys.create("ci-bot", role_names=["deployer"])
    assert proxy.counts[CREATE] == 2
    assert proxy.forwarded[CREATE] == (2 if fault.reaches_server else 1)
    # Only an ambiguous failure is reconciled; only a made key is deleted.
    assert proxy.counts[SEARCH] == (1 if ambiguous else 0)
    assert proxy.counts[DELETE] == (1 if made else 0)
    assert len(retries(retry_log, "access_keys.create")) == 1
    await audit(emu, direct, {created.key.id: created.cleartext})
    assert duplicates(emu) == {}


async def test_create_that_fails_every_attempt_ambiguously_leaves_nothing_behind(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, *(Fault.drop() for _ in range(4)))
    with pytest.raises(TransportError) as info:
        await sdk.access_keys.create("ci-bot")
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert proxy.forwarded[CREATE] == 4
    assert proxy.counts[DELETE] == 4  # each attempt's orphan, the last one included
    await audit(emu, direct, {})


async def test_create_retries_a_503_burst_without_reconciling(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, *(Fault.answer(503) for _ in range(3)))
    created = await sdk.access_keys.create("ci-bot")
    assert proxy.counts[CREATE] == 4
    assert proxy.counts[SEARCH] == 0
    await audit(emu, direct, {created.key.id: created.cleartext})


async def test_create_gives_up_after_a_longer_503_burst_and_says_how_often_it_tried(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, *(Fault.answer(503) for _ in range(10)))
    with pytest.raises(ServerError) as info:
        await sdk.access_keys.create("ci-bot")
    assert info.value.status == 503
    assert info.value.attempts == 4
    assert proxy.counts[CREATE] == 4
    assert proxy.forwarded[CREATE] == 0
    await audit(emu, direct, {})


async def test_create_waits_out_a_retry_after_in_seconds(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    retry_log: pytest.LogCaptureFixture,
) -> None:
    proxy.script(CREATE, Fault.answer(429, headers={"Retry-After": "0.3"}))
    started = time.monotonic()
    created = await sdk.access_keys.create("ci-bot")
    assert time.monotonic() - started >= 0.3
    (record,) = retries(retry_log, "access_keys.create")
    assert record.wait == pytest.approx(0.3)  # type: ignore[attr-defined]
    assert record.reason == "RateLimitError HTTP 429"  # type: ignore[attr-defined]
    await audit(emu, direct, {created.key.id: created.cleartext})


async def test_create_waits_out_a_retry_after_http_date(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    retry_log: pytest.LogCaptureFixture,
) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    proxy.script(CREATE, Fault.answer(429, headers={"Retry-After": when}))
    started = time.monotonic()
    created = await sdk.access_keys.create("ci-bot")
    (record,) = retries(retry_log, "access_keys.create")
    # An HTTP date has whole seconds: two seconds from now, truncated.
    assert 1.0 - 0.05 <= record.wait <= 2.0  # type: ignore[attr-defined]
    assert time.monotonic() - started >= record.wait  # type: ignore[attr-defined]
    await audit(emu, direct, {created.key.id: created.cleartext})


@pytest.mark.parametrize(
    "retry_after",
    ["86400", "Fri, 01 Jan 2100 00:00:00 GMT", "61"],
    ids=["a-day", "year-2100", "just-over-the-limit"],
)
async def test_create_raises_rate_limit_at_once_for_an_absurd_retry_after(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    retry_after: str,
) -> None:
    proxy.script(CREATE, Fault.answer(429, headers={"Retry-After": retry_after}))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        await sdk.access_keys.create("ci-bot")
    assert time.monotonic() - started < 0.5
    assert info.value.retry_after is not None
    assert info.value.retry_after > 60
    assert info.value.attempts == 1
    assert proxy.counts[CREATE] == 1
    await audit(emu, direct, {})


async def test_create_ignores_an_unreadable_retry_after(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.answer(429, headers={"Retry-After": "soon-ish"}))
    created = await sdk.access_keys.create("ci-bot")
    assert proxy.counts[CREATE] == 2
    await audit(emu, direct, {created.key.id: created.cleartext})


async def test_create_against_a_refusing_port_makes_every_attempt_and_sends_nothing(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.refuse()
    with pytest.raises(TransportError) as info:
        await sdk.access_keys.create("ci-bot")
    assert info.value.request_sent is False
    assert info.value.attempts == 4
    assert not isinstance(info.value, AmbiguousResultError)
    assert proxy.counts[CREATE] == 0
    await audit(emu, direct, {})


class _AcceptAfter(logging.Handler):
    """Lets the proxy accept connections again once the SDK logged ``n`` retries."""

    def __init__(self, proxy: FaultProxy, n: int) -> None:
        super().__init__(logging.INFO)
        self.proxy, self.n = proxy, n

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "wait"):
            self.n -= 1
            if self.n == 0:
                self.proxy.accept()


async def test_create_retries_refused_connections_until_the_port_opens(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    retry_log: pytest.LogCaptureFixture,
) -> None:
    handler = _AcceptAfter(proxy, 2)
    logger = logging.getLogger("descope_keys")
    logger.addHandler(handler)
    try:
        proxy.refuse()
        created = await sdk.access_keys.create("ci-bot")
    finally:
        logger.removeHandler(handler)
    reasons = [r.reason for r in retries(retry_log, "access_keys.create")]  # type: ignore[attr-defined]
    assert reasons == ["TransportError (ClientConnectorError)"] * 2
    assert proxy.counts[CREATE] == 1
    assert proxy.counts[SEARCH] == 0
    await audit(emu, direct, {created.key.id: created.cleartext})


async def test_create_never_touches_a_same_name_key_made_before_the_call(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    emu.clock.advance(-3600)
    older = await direct.access_keys.create("ci-bot")
    emu.clock.reset()
    proxy.script(CREATE, Fault.drop())
    created = await sdk.access_keys.create("ci-bot")
    assert proxy.counts[DELETE] == 1
    await audit(emu, direct, {older.key.id: older.cleartext, created.key.id: created.cleartext})


async def test_create_never_takes_a_key_it_returned_earlier_for_an_orphan(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    first = await sdk.access_keys.create("ci-bot")
    proxy.script(CREATE, Fault.drop())
    second = await sdk.access_keys.create("ci-bot")
    assert proxy.counts[DELETE] == 1
    await audit(emu, direct, {first.key.id: first.cleartext, second.key.id: second.cleartext})


async def test_create_with_other_attributes_is_not_a_candidate(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    other = await direct.access_keys.create("ci-bot", role_names=["admin"])
    proxy.script(CREATE, Fault.drop())
    created = await sdk.access_keys.create("ci-bot", role_names=["viewer"])
    assert proxy.counts[DELETE] == 1
    await audit(emu, direct, {other.key.id: other.cleartext, created.key.id: created.cleartext})


@pytest.mark.parametrize(
    "difference",
    [
        {"description": "worker B"},
        {"custom_claims": {"team": "b"}},
        {"permitted_ips": ["127.0.0.0/8", "10.0.0.0/8"]},
        {"custom_attributes": {"worker": "b"}},
    ],
    ids=["description", "custom-claims", "permitted-ips", "custom-attributes"],
)
async def test_a_same_name_key_made_elsewhere_during_the_call_is_never_deleted(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    direct: AsyncDescopeKeys,
    difference: dict[str, object],
) -> None:
    # Another worker's key, same name and roles, made inside this call's
    # window; this call's attempt is turned away before the origin (no orphan).
    theirs = await direct.access_keys.create("ci-bot", role_names=["deployer"], **difference)
    proxy.script(CREATE, Fault.answer(502, HTML_502))
    ours = await sdk.access_keys.create("ci-bot", role_names=["deployer"])
    assert proxy.counts[DELETE] == 0
    await audit(emu, direct, {theirs.key.id: theirs.cleartext, ours.key.id: ours.cleartext})


async def test_create_cannot_tell_its_orphan_from_a_twin_made_elsewhere_and_says_so(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    twin = await direct.access_keys.create("ci-bot")  # another process, same seconds
    proxy.script(CREATE, Fault.drop())
    with pytest.raises(AmbiguousResultError) as info:
        await sdk.access_keys.create("ci-bot")
    stored = {k["id"] for k in emu.stored_keys()}
    assert len(stored) == 2
    assert set(info.value.candidate_ids) == stored  # the twin and the orphan, both named
    assert twin.key.id in info.value.candidate_ids
    assert proxy.counts[DELETE] == 0  # nothing deleted on a guess
    assert info.value.attempts == 1
    await audit(emu, direct, {twin.key.id: twin.cleartext}, also=info.value.candidate_ids)


async def test_create_whose_reconcile_search_fails_raises_ambiguous_result(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    always(proxy, SEARCH, Fault.after(500))  # the search fails until the deadline
    async with client_of(proxy) as client:
        with pytest.raises(AmbiguousResultError) as info:
            await client.access_keys.create("ci-bot")
        assert "search" in str(info.value)
        assert info.value.candidate_ids == ()
        # Cleanup outlives the call's attempt count: it ran until the deadline.
        assert proxy.counts[SEARCH] > SHORT.attempts
        assert proxy.counts[CREATE] == 1
        # The orphan may exist, and the error says the outcome is unknown: not silent.
        assert len(emu.stored_keys()) == 1
        (pending,) = client.pending_cleanups
        assert (pending.name, pending.key_ids) == ("ci-bot", ())
        proxy.calm()
    # Closing the client made the cleanup's last attempt: nothing is left.
    await audit(emu, direct, {})


async def test_create_whose_orphan_cannot_be_deleted_names_it(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop())
    always(proxy, DELETE, Fault.answer(503))  # the delete fails until the deadline
    async with client_of(proxy) as client:
        with pytest.raises(AmbiguousResultError) as info:
            await client.access_keys.create("ci-bot")
        (orphan,) = (k["id"] for k in emu.stored_keys())
        assert info.value.candidate_ids == (orphan,)
        assert proxy.counts[CREATE] == 1
        assert proxy.counts[DELETE] > SHORT.attempts
        assert [p.key_ids for p in client.pending_cleanups] == [(orphan,)]
        proxy.calm()
    await audit(emu, direct, {})


async def test_create_without_a_secret_in_the_answer_deletes_the_key_and_reports(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.mangle(lambda body: {"key": body["key"]}))
    with pytest.raises(TransportError, match="no cleartext") as info:
        await sdk.access_keys.create("ci-bot")
    assert not isinstance(info.value, AmbiguousResultError)
    assert proxy.counts[CREATE] == 1
    assert proxy.counts[DELETE] == 1
    await audit(emu, direct, {})


async def test_concurrent_same_name_creates_under_faults_each_get_one_working_key(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    proxy.script(CREATE, Fault.drop(), Fault.after(502, HTML_502), Fault.reset(), Fault.drop())
    created = await asyncio.wait_for(
        asyncio.gather(*(sdk.access_keys.create("fleet") for _ in range(8))), 20
    )
    assert len({c.key.id for c in created}) == 8
    await audit(emu, direct, {c.key.id: c.cleartext for c in created})


async def test_create_retry_is_bounded_by_the_deadline(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    deadline = 1.0
    policy = RetryPolicy(attempts=10, deadline=deadline, initial_wait=0.001, max_wait=0.005)
    proxy.script(CREATE, *(Fault.blackhole() for _ in range(10)))
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=proxy.base_url, timeout=TIMEOUT, retry=policy
    ) as client:
        started = time.monotonic()
        with pytest.raises(TransportError) as info:
            await client.access_keys.create("ci-bot")
    # The deadline ends the call, not the attempt count: black holes of
    # TIMEOUT each fit about deadline / TIMEOUT times (fewer when timers fire
    # late on a loaded machine, which made an exact count flaky), then the
    # reconcile searches run on top.
    assert time.monotonic() - started < deadline + 2 * TIMEOUT
    assert info.value.attempts == proxy.counts[CREATE]
    assert 2 <= info.value.attempts <= deadline / TIMEOUT + 1 < policy.attempts
    await audit(emu, direct, {})


async def test_the_reconcile_runs_within_what_is_left_of_the_deadline(
    proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The create's answer is lost, then every reconcile search is turned away:
    # past the deadline the reconcile makes one bare search, not a new schedule.
    policy = RetryPolicy(attempts=10, deadline=0.5, initial_wait=0.05, max_wait=0.05)
    proxy.script(CREATE, Fault.blackhole())
    proxy.script(SEARCH, *(Fault.answer(503) for _ in range(20)))
    # When each search reached the proxy: a cleanup retries until the deadline
    # (not `attempts` times), so time, not a count, is what bounds it.
    searches: list[float] = []
    fault_for = proxy._fault_for

    def timed(path: str) -> Fault | None:
        if path == SEARCH:
            searches.append(time.monotonic())
        return fault_for(path)

    monkeypatch.setattr(proxy, "_fault_for", timed)
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=proxy.base_url, timeout=TIMEOUT, retry=policy
    ) as client:
        started = time.monotonic()
        with pytest.raises(AmbiguousResultError):
            await client.access_keys.create("ci-bot")
        elapsed = time.monotonic() - started
        # The call's searches; closing the client then gives its pending cleanup one more.
        searched = list(searches)
    # The create black-holes for TIMEOUT; the searches share the rest of 0.5 s.
    assert elapsed < 0.5 + TIMEOUT
    assert searched, "the reconcile searched"
    past = [t for t in searched if t - started >= 0.5]
    assert len(past) <= 1, f"{len(past)} searches started past the deadline"
    await audit(emu, direct, {})


# -- negative control -----------------------------------------------------------


async def test_negative_control_blind_retry_leaves_a_duplicate_that_the_audit_catches(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    retry_creates_blindly(sdk)  # retry like the official SDKs do
    proxy.script(CREATE, Fault.drop())
    created = await sdk.access_keys.create("ci-bot")
    assert proxy.forwarded[CREATE] == 2
    assert proxy.counts[SEARCH] == 0
    assert duplicates(emu) == {"ci-bot": 2}
    with pytest.raises(AssertionError, match="keys nobody holds a secret for"):
        await audit(emu, direct, {created.key.id: created.cleartext})


async def test_retry_and_reconcile_logs_and_errors_never_carry_a_secret(
    sdk: AsyncDescopeKeys,
    proxy: FaultProxy,
    emu: Emulator,
    retry_log: pytest.LogCaptureFixture,
) -> None:
    proxy.script(CREATE, Fault.drop(), Fault.answer(503))
    created = await sdk.access_keys.create("ci-bot")
    proxy.script(CREATE, Fault.drop())
    # A search answer without a key list: undecidable at once, and the cleanup is pending.
    proxy.script(SEARCH, Fault.mangle(lambda body: {}))
    with pytest.raises(AmbiguousResultError) as info:
        await sdk.access_keys.create("ci-bot")
    proxy.script(ROTATE, Fault.truncate())
    rotated = await sdk.access_keys.rotate(created.key.id)
    texts = [retry_log.text, str(info.value), repr(info.value), repr(created), repr(rotated)]
    texts += [str(getattr(r, "reason", "")) for r in retry_log.records]
    for secret in (MANAGEMENT_KEY, created.cleartext, rotated.cleartext):
        assert all(secret not in text for text in texts)
    assert "retrying in" in retry_log.text  # the logs are there, just clean
