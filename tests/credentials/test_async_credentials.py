"""AsyncAccessKeyCredentials against the emulator: one exchange, fresh tokens, failures absorbed."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from descope_keys import (
    AsyncAccessKeyCredentials,
    AsyncDescopeKeys,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    InvalidArgumentError,
    RateLimitError,
    RefreshPolicy,
    ServerError,
)
from descope_keys._endpoints import EXCHANGE
from descope_keys.emulator import Emulator
from tests._servers import closed_port
from tests.credentials.conftest import NO_RETRY, TTL, exchanges

# Refresh soon after each exchange, and back off briefly: a whole outage and
# its recovery fit in a second or two.
EAGER = RefreshPolicy(
    advisory_fraction=0.9, mandatory_fraction=0.5, jitter=0.0, retry_initial=0.05, retry_max=0.2
)


async def call_until_it_fails(creds: AsyncAccessKeyCredentials, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await creds.token()
        await asyncio.sleep(0.02)


async def test_no_access_key_is_a_configuration_error_before_any_io() -> None:
    base_url = f"http://127.0.0.1:{closed_port()}"
    async with AsyncDescopeKeys("P2nokey", base_url=base_url) as client:
        with pytest.raises(ConfigurationError, match="DESCOPE_ACCESS_KEY"):
            client.credentials()


async def test_the_access_key_falls_back_to_the_environment(
    emu: Emulator, client: AsyncDescopeKeys, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESCOPE_ACCESS_KEY", secret)
    creds = client.credentials()
    token = await creds.token()
    assert token.roles == ("reader",)
    assert exchanges(emu) == 1


async def test_an_unusable_environment_value_is_a_configuration_error_without_the_value(
    client: AsyncDescopeKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESCOPE_ACCESS_KEY", "secret-with-newline\n")
    with pytest.raises(ConfigurationError, match="DESCOPE_ACCESS_KEY") as caught:
        client.credentials()
    assert "secret-with-newline" not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"access_key": ""}, "access_key"),
        ({"access_key": "k", "selected_tenant": 3}, "selected_tenant"),
        ({"access_key": "k", "audience": ""}, "audience"),
        ({"access_key": "k", "custom_claims": {"x": object()}}, "custom_claims"),
        ({"access_key": "k", "refresh": 0.5}, "refresh"),
    ],
)
async def test_bad_arguments_are_refused_before_any_io(
    kwargs: dict[str, object], argument: str
) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}"
    async with AsyncDescopeKeys("P2nokey", base_url=base_url) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.credentials(**kwargs)  # type: ignore[arg-type]
    assert caught.value.argument == argument


async def test_a_cold_stampede_makes_exactly_one_exchange(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    headers = await asyncio.gather(*(creds.authorization() for _ in range(100)))
    assert exchanges(emu) == 1
    assert len(set(headers)) == 1
    token = await creds.token()
    assert headers[0] == f"Bearer {token.jwt}"


async def test_warm_calls_make_no_exchange(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    first = await creds.authorization()
    for _ in range(1000):
        assert await creds.authorization() == first
        await creds.token()
    assert exchanges(emu) == 1


async def test_every_refresh_sends_the_same_options(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    from descope_keys import KeyTenant

    created = await client.access_keys.create(
        "tenant-bot", key_tenants=[KeyTenant("T1", ["reader"])]
    )
    claims = {"region": "eu"}
    creds = client.credentials(
        created.cleartext, custom_claims=claims, selected_tenant="T1", refresh=EAGER
    )
    claims["region"] = "changed after the call"  # the options were copied
    first = await creds.token()
    deadline = time.monotonic() + TTL
    token = first
    while token.jwt == first.jwt and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        token = await creds.token()
    assert token.jwt != first.jwt, "no refresh happened"
    for t in (first, token):
        assert t.current_tenant == "T1"
        assert t.nsec == {"region": "eu"}


async def test_tokens_handed_out_always_have_time_left_and_refreshes_stay_near_one_per_lifetime(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    seen: set[str] = set()
    start = time.monotonic()
    lifetimes = 2
    while time.monotonic() - start < lifetimes * TTL:
        tokens = await asyncio.gather(*(creds.token() for _ in range(5)))
        for token in tokens:
            assert token.expires_at.timestamp() > time.time()
            seen.add(token.jwt)
        await asyncio.sleep(0.02)
    # Whole-second exp: a token lives TTL-1 to TTL seconds, refreshed a
    # quarter (less jitter) before its end. Never one exchange per call.
    assert lifetimes <= exchanges(emu) <= 2 * lifetimes + 1
    assert len(seen) == exchanges(emu)


async def test_a_failing_refresh_while_the_token_is_valid_fails_no_caller(
    emu: Emulator, client: AsyncDescopeKeys, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    creds = client.credentials(secret, refresh=EAGER)
    first = await creds.authorization()
    emu.inject_fault(EXCHANGE, status=503, times=None)
    try:
        # Through the advisory and into the mandatory window, the outage on.
        end = time.monotonic() + 1.2
        while time.monotonic() < end:
            assert await creds.authorization() == first
            await asyncio.sleep(0.01)
        failed = exchanges(emu) - 1
        assert failed >= 2, "the refresh was not retried"
        assert failed <= 30, "the retries did not back off"
    finally:
        emu.clear_faults()
    deadline = time.monotonic() + 1.0
    header = first
    while header == first and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        header = await creds.authorization()
    assert header != first, "no fresh token after the outage"
    assert any("the current token is still served" in r.getMessage() for r in caplog.records)


async def test_with_no_valid_token_left_callers_get_the_real_error(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret, refresh=EAGER)
    await creds.token()
    emu.inject_fault(EXCHANGE, status=503, times=None)
    try:
        with pytest.raises(ServerError) as caught:
            await call_until_it_fails(creds, TTL + 1)
        assert caught.value.status == 503
    finally:
        emu.clear_faults()


async def test_a_rate_limited_exchange_with_no_token_raises_rate_limit_error(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    emu.inject_fault(EXCHANGE, status=429, retry_after=1)
    creds = client.credentials(secret)
    with pytest.raises(RateLimitError):
        await creds.token()
    # Backing off (Retry-After): the same error again, without another request.
    with pytest.raises(RateLimitError):
        await creds.token()
    assert exchanges(emu) == 1


async def test_a_deactivated_key_raises_authentication_error_without_a_retry_loop(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    created = await client.access_keys.create("doomed")
    creds = client.credentials(created.cleartext)
    await creds.token()
    await client.access_keys.deactivate(created.key.id)
    before = exchanges(emu)
    with pytest.raises(AuthenticationError):
        await call_until_it_fails(creds, TTL + 1)
    assert 1 <= exchanges(emu) - before <= 2
    # Asked again and again, it answers from what it knows: no more exchanges.
    for _ in range(50):
        with pytest.raises(AuthenticationError):
            await creds.authorization()
    assert exchanges(emu) - before <= 2


async def test_invalidate_drops_the_token_and_the_next_call_exchanges(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    first = await creds.authorization()
    creds.invalidate("Bearer some-other-token")  # not the current one: kept
    assert await creds.authorization() == first
    assert exchanges(emu) == 1
    creds.invalidate(first)
    await asyncio.sleep(1.05)  # the emulator's iat is whole seconds: a new jwt
    second = await creds.authorization()
    assert exchanges(emu) == 2
    assert second != first
    creds.invalidate(first)  # a late 401 on the old token: the new one stays
    creds.invalidate(first.removeprefix("Bearer "))
    assert await creds.authorization() == second
    creds.invalidate()
    await creds.authorization()
    assert exchanges(emu) == 3


async def test_closing_the_client_stops_the_refresh_in_flight(emu: Emulator, secret: str) -> None:
    client = AsyncDescopeKeys(emu.project_id, base_url=emu.base_url, retry=NO_RETRY, timeout=5)
    creds = client.credentials(secret, refresh=EAGER)
    await creds.token()
    emu.inject_fault(EXCHANGE, status=None, delay=5.0)  # the next exchange hangs
    await asyncio.sleep(0.35)
    await creds.token()  # starts the background refresh
    flight = creds._flight
    assert flight is not None
    assert not flight.done()
    await client.aclose()
    await asyncio.sleep(0)
    assert flight.cancelled()
    with pytest.raises(ClientClosedError):
        await creds.token()
    with pytest.raises(ClientClosedError):
        await creds.authorization()
    emu.clear_faults()


async def test_a_caller_waiting_on_a_closed_client_gets_client_closed_error(
    emu: Emulator, secret: str
) -> None:
    client = AsyncDescopeKeys(emu.project_id, base_url=emu.base_url, retry=NO_RETRY, timeout=5)
    creds = client.credentials(secret)
    emu.inject_fault(EXCHANGE, status=None, delay=5.0)
    waiter = asyncio.ensure_future(creds.token())
    await asyncio.sleep(0.1)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(waiter, 2)
    emu.clear_faults()


async def test_a_cancelled_caller_does_not_cancel_the_shared_exchange(
    emu: Emulator, client: AsyncDescopeKeys, secret: str
) -> None:
    creds = client.credentials(secret)
    emu.inject_fault(EXCHANGE, status=None, delay=0.3)
    impatient = asyncio.ensure_future(creds.token())
    patient = asyncio.ensure_future(creds.token())
    await asyncio.sleep(0.1)
    impatient.cancel()
    token = await asyncio.wait_for(patient, 3)
    assert token.roles == ("reader",)
    assert exchanges(emu) == 1


async def test_secrets_and_jwts_stay_out_of_repr_and_logs(
    emu: Emulator, client: AsyncDescopeKeys, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = client.credentials(secret, refresh=EAGER)
    token = await creds.token()
    emu.inject_fault(EXCHANGE, status=503, times=None)
    try:
        await asyncio.sleep(0.4)
        await creds.token()
        await asyncio.sleep(0.1)
    finally:
        emu.clear_faults()
    text = repr(creds) + str(creds) + caplog.text
    assert secret not in text
    assert token.jwt not in text
    assert token.key_id in repr(creds)
    assert "cached" in repr(creds)


def test_a_token_that_arrives_without_time_left_is_a_failed_exchange() -> None:
    from datetime import datetime, timezone

    from descope_keys import AccessKeyToken, ExpiredTokenError
    from descope_keys._credentials import AsyncAccessKeyCredentials

    now = time.time()
    token = AccessKeyToken(
        jwt="j",
        key_id="K",
        project_id="P",
        issued_at=datetime.fromtimestamp(now - 0.5, timezone.utc),
        expires_at=datetime.fromtimestamp(now - 0.2, timezone.utc),
        roles=(),
        permissions=(),
        tenants={},
        nsec={},
        claims={},
    )

    async def exchange() -> AccessKeyToken:
        return token

    creds = AsyncAccessKeyCredentials(
        exchange, project_id="P", selected_tenant=None, policy=RefreshPolicy()
    )
    with pytest.raises(ExpiredTokenError):
        creds._schedule(token, time.monotonic())


@pytest.mark.parametrize("offset", [-3600.0, 3600.0])
def test_a_skewed_local_clock_times_refreshes_from_the_lifetime(
    offset: float, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import datetime, timezone

    from descope_keys import AccessKeyToken
    from descope_keys._credentials import AsyncAccessKeyCredentials

    # The issuer's clock is an hour off ours: the token's own lifetime (600 s)
    # decides, less iat's resolution and the round trip.
    issued = time.time() + offset
    token = AccessKeyToken(
        jwt="j",
        key_id="K",
        project_id="P",
        issued_at=datetime.fromtimestamp(int(issued), timezone.utc),
        expires_at=datetime.fromtimestamp(int(issued) + 600, timezone.utc),
        roles=(),
        permissions=(),
        tenants={},
        nsec={},
        claims={},
    )

    async def exchange() -> AccessKeyToken:
        return token

    creds = AsyncAccessKeyCredentials(
        exchange, project_id="P", selected_tenant=None, policy=RefreshPolicy(jitter=0.0)
    )
    sent = time.monotonic()
    fresh = creds._schedule(token, sent)
    left = fresh.expires_at - time.monotonic()
    assert 598.0 < left <= 600.0
    assert fresh.expires_at - fresh.refresh_at == pytest.approx(150.0)
    assert fresh.expires_at - fresh.mandatory_at == pytest.approx(60.0)
    assert "clock is" in caplog.text
