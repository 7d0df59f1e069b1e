"""Metrics on the ``descope_keys`` meter, for each operation family."""

from __future__ import annotations

import pytest

from descope_keys import (
    AsyncDescopeKeys,
    AuthenticationError,
    TokenValidationError,
    TransportError,
)
from descope_keys.emulator import Emulator

from .conftest import Otel


async def test_validations_are_counted_by_result(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    secret = (await client.access_keys.create("machine", role_names=["reader"])).cleartext
    jwt = (await client.exchange_access_key(secret)).jwt
    # Counts are process-wide and cumulative: compare with what was there.
    ok, bad = (
        otel.value("descope_keys.validations", result="ok"),
        otel.value("descope_keys.validations", result="malformed"),
    )
    for _ in range(5):
        await client.validate_token(jwt)
    for _ in range(2):
        with pytest.raises(TokenValidationError):
            await client.validate_token("not-a-jwt")
    assert otel.value("descope_keys.validations", result="ok") == ok + 5
    assert otel.value("descope_keys.validations", result="malformed") == bad + 2


def test_sync_validations_in_the_callers_thread_are_counted(otel: Otel, signing_pem: str) -> None:
    from descope_keys import DescopeKeys
    from descope_keys.emulator import ThreadedEmulator

    with (
        ThreadedEmulator(signing_key=signing_pem) as emu,
        DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as client,
    ):
        secret = client.access_keys.create("machine").cleartext
        jwt = client.exchange_access_key(secret).jwt
        ok = otel.value("descope_keys.validations", result="ok")
        bad = otel.value("descope_keys.validations", result="bad_signature")
        for _ in range(3):
            client.validate_token(jwt)  # warm: validate_local, no loop hop
        header, payload, signature = jwt.split(".")
        flipped = "A" if signature[10] != "A" else "B"
        forged = f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}"
        for _ in range(2):
            with pytest.raises(TokenValidationError) as caught:
                client.validate_token(forged)
            assert caught.value.reason == "bad_signature"
    assert otel.value("descope_keys.validations", result="ok") == ok + 3
    assert otel.value("descope_keys.validations", result="bad_signature") == bad + 2


async def test_operation_durations_by_operation_and_error_type(
    otel: Otel, client: AsyncDescopeKeys
) -> None:
    await client.access_keys.search()
    await client.access_keys.search()
    with pytest.raises(AuthenticationError):
        await client.exchange_access_key("K1:not-a-real-secret")
    durations = otel.points("descope_keys.operation.duration")
    search = [p for p in durations if p.attributes == {"descope.operation": "access_keys.search"}]
    assert search[0].count == 2
    assert 0 < search[0].sum < 10
    (failed,) = [
        p for p in durations if p.attributes.get("descope.operation") == "exchange_access_key"
    ]
    assert failed.attributes["error.type"] == "AuthenticationError"


async def test_retries_by_operation_and_reason(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    emu.inject_fault("/v1/mgmt/accesskey/search", status=503, times=2)
    emu.inject_fault("/v1/mgmt/accesskey/create", status=429, retry_after=0.01)
    await client.access_keys.search()
    created = await client.access_keys.create("bot")
    await client.access_keys.load(created.key.id)
    assert (
        otel.value(
            "descope_keys.retries",
            descope_operation="access_keys.search",
            reason="ServerError HTTP 503",
        )
        == 2
    )
    assert otel.value("descope_keys.retries", reason="RateLimitError HTTP 429") == 1
    assert otel.value("descope_keys.retries") == 3


async def test_retry_budget_level(otel: Otel, client: AsyncDescopeKeys, emu: Emulator) -> None:
    await client.access_keys.search()
    full = client._api._budget.capacity  # type: ignore[union-attr]
    assert otel.value("descope_keys.retry_budget.tokens") <= full
    emu.inject_fault("/v1/mgmt/accesskey/search", status=503, times=2)
    async with AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=client._api.policy
    ) as other:
        await other.access_keys.search()
        # Two retries spent 10 tokens; the success paid one of them back.
        assert otel.value("descope_keys.retry_budget.tokens") == full - 5


async def test_jwks_fetches_by_outcome_and_stale_age(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    secret = (await client.access_keys.create("machine")).cleartext
    jwt = (await client.exchange_access_key(secret)).jwt
    assert otel.value("descope_keys.jwks.fetches", outcome="ok") == 1

    cache = client._validator._cache
    now = [cache._clock()]
    cache._clock = lambda: now[0]
    assert cache.snapshot is not None
    now[0] = cache.snapshot.fresh_until + 42  # past its lifetime
    emu.inject_fault("/v2/keys", status=503, times=None)
    # The refresh fails: the last good set is served stale, and says how stale.
    await client.validate_token(jwt)
    assert otel.value("descope_keys.jwks.fetches", outcome="error", error_type="ServerError") == 1
    (point,) = otel.points("descope_keys.jwks.stale_age")
    assert point.count == 1
    assert point.sum == pytest.approx(42)
    # Past max_stale nothing is served: validation fails closed.
    now[0] = cache.snapshot.stale_until + 1
    with pytest.raises(TransportError):
        await client.validate_token(jwt)
    emu.clear_faults()


async def test_credentials_refreshes_by_outcome(otel: Otel, client: AsyncDescopeKeys) -> None:
    secret = (await client.access_keys.create("machine")).cleartext
    await client.credentials(secret).token()
    with pytest.raises(AuthenticationError):
        await client.credentials("K1:not-a-real-secret").token()
    assert otel.value("descope_keys.credentials.refreshes", outcome="ok") == 1
    assert (
        otel.value(
            "descope_keys.credentials.refreshes",
            outcome="error",
            error_type="AuthenticationError",
        )
        == 1
    )
