"""The JWKS cache against a real (counting) JWKS server on 127.0.0.1.

Freshness runs on a fake monotonic clock moved by hand, so TTLs, cooldowns
and staleness are exact; token times stay real.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from descope_keys._jwks import JwksPolicy
from descope_keys._tokens import TokenValidator
from descope_keys.errors import (
    RequestTimeoutError,
    TokenValidationError,
    TransportError,
    UnknownKeyError,
)
from tests._jwt_factory import (
    PROJECT_ID,
    FakeClock,
    JwksServer,
    claims,
    mint,
    private_key,
    public_jwk,
    until,
    use_clock,
)

POLICY = JwksPolicy(ttl=100.0, unknown_kid_cooldown=30.0, max_stale=1000.0, timeout=2.0)
# Refresh-ahead starts at 80% of the lifetime.
REFRESH_AHEAD = 81.0


@pytest.fixture
async def server() -> AsyncIterator[JwksServer]:
    async with JwksServer({"keys": [public_jwk(private_key(0), "k1")]}) as jwks_server:
        yield jwks_server


@pytest.fixture
async def validator(server: JwksServer) -> AsyncIterator[TokenValidator]:
    validator = TokenValidator(PROJECT_ID, fetch=server.fetch, policy=POLICY)
    yield validator
    await validator.aclose()


@pytest.fixture
def clock(validator: TokenValidator) -> FakeClock:
    return use_clock(validator, FakeClock())


def token(kid: str = "k1", key: int = 0, **overrides: Any) -> str:
    return mint(private_key(key), claims(**overrides), kid=kid)


async def warm(validator: TokenValidator, server: JwksServer) -> None:
    await asyncio.wait_for(validator.validate(token()), 5)
    assert server.requests == 1


async def test_cold_cache_is_fetched_on_first_validation(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    jwt = token()
    assert validator.validate_local(jwt) is None  # must fetch first
    assert server.requests == 0
    validated = await asyncio.wait_for(validator.validate(jwt), 5)
    assert validated.key_id == "K2AccessKey0001"
    assert validator.validate_local(jwt) is validated
    assert server.requests == 1


async def test_cold_stampede_makes_exactly_one_request(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.delay = 0.2
    jwts = [token(sub=f"K{i}") for i in range(200)]
    results = await asyncio.wait_for(asyncio.gather(*(validator.validate(j) for j in jwts)), 10)
    assert [r.key_id for r in results] == [f"K{i}" for i in range(200)]
    assert server.requests == 1


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.delay = 0.2
    first = asyncio.ensure_future(validator.validate(token()))
    second = asyncio.ensure_future(validator.validate(token(sub="K2")))
    await until(lambda: server.requests == 1)
    first.cancel()
    assert (await asyncio.wait_for(second, 5)).key_id == "K2"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert server.requests == 1


async def test_malformed_tokens_never_cause_a_fetch(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    for bad in ("x.y.z", "a", token(kid="../k")):
        with pytest.raises(TokenValidationError):
            await validator.validate(bad)
    assert server.requests == 0


async def test_warm_validations_do_not_wait_for_a_refresh(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.delay = 3.0  # the refresh hangs for a while
    clock.advance(REFRESH_AHEAD)
    assert validator.validate_local(token(sub="K-during-refresh")) is not None
    await until(lambda: server.requests == 2)  # refresh started in the background
    for i in range(20):  # distinct tokens, all verified while the fetch is in flight
        validated = await asyncio.wait_for(validator.validate(token(sub=f"K{i}")), 0.5)
        assert validated.key_id == f"K{i}"
    assert server.requests == 2


async def test_refresh_ahead_happens_once(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.delay = 0.1
    clock.advance(REFRESH_AHEAD)
    for _ in range(50):
        assert validator.validate_local(token()) is not None
        await asyncio.sleep(0)
    await until(lambda: server.requests == 2)
    await asyncio.sleep(0.3)
    assert server.requests == 2


def snapshot_has(validator: TokenValidator, kid: str) -> bool:
    snap = validator._cache.snapshot
    return snap is not None and kid in snap.keys


async def test_key_rotation_is_picked_up_by_the_ttl_refresh(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.jwks = {"keys": [public_jwk(private_key(0), "k1"), public_jwk(private_key(1), "k2")]}
    clock.advance(REFRESH_AHEAD)
    assert validator.validate_local(token()) is not None
    await until(lambda: server.requests == 2)
    # The refresh reached the server; wait until its answer is the key set
    # (until then k2 is an unknown kid inside the cooldown, UnknownKeyError).
    await until(lambda: snapshot_has(validator, "k2"))
    assert validator.validate_local(token("k2", key=1)) is not None
    assert server.requests == 2


async def test_a_new_key_is_picked_up_by_an_unknown_kid_once_the_cooldown_allows(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.jwks = {"keys": [public_jwk(private_key(0), "k1"), public_jwk(private_key(1), "k2")]}
    new = token("k2", key=1)
    clock.advance(POLICY.unknown_kid_cooldown - 1)
    with pytest.raises(UnknownKeyError):  # too soon after the last fetch
        await validator.validate(new)
    assert server.requests == 1
    clock.advance(1)
    assert (await asyncio.wait_for(validator.validate(new), 5)).key_id == "K2AccessKey0001"
    assert server.requests == 2


async def test_a_random_kid_storm_is_rate_limited(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    good = token()
    clock.advance(POLICY.unknown_kid_cooldown)
    server.delay = 0.05

    async def storm() -> None:
        forged = [token(secrets.token_hex(8)) for _ in range(300)]
        results = await asyncio.wait_for(
            asyncio.gather(*(validator.validate(f) for f in forged), return_exceptions=True), 10
        )
        assert all(isinstance(r, UnknownKeyError) for r in results)
        # Keys in the set keep validating, without waiting.
        assert validator.validate_local(good) is not None

    await storm()
    assert server.requests == 2  # one refresh for the whole storm
    for _ in range(3):
        clock.advance(POLICY.unknown_kid_cooldown / 3 - 0.1)
        await storm()
    assert server.requests == 2  # still inside the cooldown
    clock.advance(1)
    await storm()
    assert server.requests == 3
    assert validator.validate_local(good) is not None


async def test_unknown_kids_fail_fast_inside_the_cooldown(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    with pytest.raises(UnknownKeyError) as info:
        validator.validate_local(token("nope"))
    assert info.value.reason == "unknown_kid"
    assert server.requests == 1


async def test_a_key_removed_from_the_set_rejects_its_cached_tokens(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    jwt = token()
    assert validator.validate_local(jwt) is not None
    server.jwks = {"keys": [public_jwk(private_key(1), "k2")]}
    clock.advance(REFRESH_AHEAD)
    validator.validate_local(jwt)  # served, and starts the refresh
    await until(lambda: server.requests == 2)
    await until(lambda: "k1" not in validator._cache.snapshot.keys)  # type: ignore[union-attr]
    with pytest.raises(UnknownKeyError):
        validator.validate_local(jwt)


async def test_stale_keys_are_served_when_the_refresh_fails(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.status = 503
    clock.advance(POLICY.ttl + 1)  # expired: the next validation must try a fetch
    assert validator.validate_local(token()) is None
    validated = await asyncio.wait_for(validator.validate(token()), 5)
    assert validated.key_id == "K2AccessKey0001"
    assert server.requests == 2
    # While failing, validations use the stale set at once.
    for i in range(10):
        assert validator.validate_local(token(sub=f"K{i}")) is not None
    assert server.requests == 2


async def test_a_failed_refresh_ahead_keeps_serving(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.status = 500
    clock.advance(REFRESH_AHEAD)
    assert validator.validate_local(token()) is not None
    await until(lambda: server.requests == 2)
    await until(lambda: validator._cache._failing)
    clock.advance(POLICY.ttl)  # past the lifetime, inside max_stale
    assert validator.validate_local(token(sub="K-stale")) is not None


async def test_the_cache_recovers_when_the_server_does(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.status = 500
    clock.advance(POLICY.ttl + 1)
    await asyncio.wait_for(validator.validate(token()), 5)
    assert server.requests == 2
    server.status = 200
    server.jwks = {"keys": [public_jwk(private_key(0), "k1"), public_jwk(private_key(1), "k2")]}
    clock.advance(5)  # past the failure backoff: the stale set asks for a retry
    validator.validate_local(token())
    await until(lambda: server.requests == 3)
    await until(lambda: not validator._cache._failing)
    assert validator.validate_local(token("k2", key=1)) is not None


async def test_failures_behind_a_stale_set_back_off_exponentially(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.status = 500
    clock.advance(POLICY.ttl + 1)
    cache = validator._cache
    delays = []
    for failures in range(1, 8):
        before = server.requests
        clock.advance(125)  # past any backoff (the cap is 120 s), inside max_stale
        await asyncio.wait_for(validator.validate(token(sub=f"K{failures}")), 5)
        await until(lambda before=before: server.requests == before + 1)  # type: ignore[misc]
        await until(lambda: not cache._fetching)
        assert cache._failures == failures
        delays.append(cache._retry_at - clock.now)
    # Half to full of 5, 10, 20, 40, 80, 120, 120 s (the cap).
    assert 2.5 <= delays[0] <= 5
    assert 60 <= delays[-1] <= 120
    assert max(delays) <= 120


async def test_failing_closed_keeps_the_short_backoff(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.status = 500
    for failures in range(1, 5):
        with pytest.raises(TransportError):
            await asyncio.wait_for(validator.validate(token()), 5)
        assert validator._cache._failures == failures
        assert validator._cache._retry_at - clock.now <= 5
        clock.advance(5)


async def test_past_max_stale_validation_fails_closed(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.status = 500
    clock.advance(POLICY.ttl + POLICY.max_stale + 1)
    with pytest.raises(TransportError, match="jwks: no usable key set; last fetch: HTTP 500"):
        await asyncio.wait_for(validator.validate(token()), 5)
    assert server.requests == 2
    # Inside the failure backoff: no new request, still closed.
    with pytest.raises(TransportError):
        validator.validate_local(token())
    with pytest.raises(TransportError):
        await validator.validate(token())
    assert server.requests == 2


async def test_cold_cache_with_the_server_down_fails_closed_then_retries(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.status = 500
    with pytest.raises(TransportError) as info:
        await asyncio.wait_for(validator.validate(token()), 5)
    assert info.value.__cause__ is not None  # the fetch error, for diagnosis
    with pytest.raises(TransportError):
        await validator.validate(token())
    assert server.requests == 1
    server.status = 200
    clock.advance(5)
    assert (await asyncio.wait_for(validator.validate(token()), 5)).key_id == "K2AccessKey0001"
    assert server.requests == 2


async def test_a_key_set_without_usable_keys_counts_as_a_failure(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    hs256 = {"kty": "oct", "kid": "k1", "k": "c2VjcmV0", "alg": "HS256"}
    server.jwks = {"keys": [hs256]}
    clock.advance(POLICY.ttl + 1)
    assert (await asyncio.wait_for(validator.validate(token()), 5)) is not None
    assert server.requests == 2
    assert validator._cache._failing


async def test_a_non_json_answer_counts_as_a_failure(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.raw_body = b"<html>oops</html>"
    with pytest.raises(TransportError):
        await asyncio.wait_for(validator.validate(token()), 5)


async def test_the_fetch_has_a_timeout(server: JwksServer) -> None:
    policy = JwksPolicy(timeout=0.2)
    validator = TokenValidator(PROJECT_ID, fetch=server.fetch, policy=policy)
    server.delay = 3.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportError):
        await asyncio.wait_for(validator.validate(token()), 5)
    assert loop.time() - started < 2.0
    await validator.aclose()


async def test_a_hanging_fetcher_is_cut_by_the_policy_timeout() -> None:
    async def hangs(timeout: float) -> tuple[object, str | None]:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    validator = TokenValidator(PROJECT_ID, fetch=hangs, policy=JwksPolicy(timeout=0.1))
    with pytest.raises(TransportError, match="timed out"):
        await asyncio.wait_for(validator.validate(token()), 5)
    await validator.aclose()


async def test_cache_control_max_age_shortens_the_lifetime(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.cache_control = "public, max-age=40"
    await warm(validator, server)
    clock.advance(40 * 0.8 - 1)
    validator.validate_local(token())
    await asyncio.sleep(0.05)
    assert server.requests == 1
    clock.advance(2)
    validator.validate_local(token())
    await until(lambda: server.requests == 2)


async def test_aclose_cancels_a_background_refresh(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.delay = 5.0
    clock.advance(REFRESH_AHEAD)
    validator.validate_local(token())
    await until(lambda: server.requests == 2)
    task = validator._cache._task
    assert task is not None
    await asyncio.wait_for(validator.aclose(), 1)
    assert task.cancelled()
    await asyncio.wait_for(validator.aclose(), 1)  # idempotent
    assert validator.validate_local(token()) is not None  # warm keys still validate


async def test_unknown_kids_respect_the_cooldown_while_the_server_fails(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    server.status = 500
    clock.advance(POLICY.ttl + 1)
    await asyncio.wait_for(validator.validate(token()), 5)  # stale, after one failed fetch
    assert server.requests == 2
    clock.advance(6)  # past the failure backoff, inside the unknown-kid cooldown
    with pytest.raises(UnknownKeyError):
        await validator.validate(token("random-kid"))
    assert server.requests == 2


async def test_a_validation_waiting_on_a_fetch_fails_closed_when_closed(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.delay = 5.0
    pending = asyncio.ensure_future(validator.validate(token()))
    await until(lambda: server.requests == 1)
    await asyncio.wait_for(validator.aclose(), 1)
    with pytest.raises(TransportError):
        await asyncio.wait_for(pending, 1)


async def test_an_outage_warns_once_and_never_logs_tokens(
    validator: TokenValidator,
    server: JwksServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await warm(validator, server)
    server.status = 503
    jwt = token()
    with caplog.at_level("DEBUG", logger="descope_keys"):
        clock.advance(POLICY.ttl + 1)
        await asyncio.wait_for(validator.validate(jwt), 5)
        for _ in range(3):
            clock.advance(6)
            validator.validate_local(jwt)
            await until(lambda: not validator._cache._fetching)
    assert server.requests >= 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "JWKS refresh failed" in warnings[0].getMessage()
    for record in caplog.records:
        assert jwt.split(".")[2] not in record.getMessage()


async def test_a_forked_child_never_schedules_on_its_parents_loop(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    await warm(validator, server)
    validator._cache._loop_pid = -1  # as seen from a child after os.fork()
    clock.advance(REFRESH_AHEAD)
    assert validator.validate_local(token()) is not None
    await asyncio.sleep(0.05)
    assert server.requests == 1
    assert not validator._cache._kick_pending


async def test_a_fetch_that_outlives_the_jwks_timeout_fails_as_a_request_timeout() -> None:
    async def hangs(timeout: float) -> tuple[object, str | None]:
        await asyncio.sleep(30)
        raise AssertionError("not reached")  # pragma: no cover

    validator = TokenValidator(PROJECT_ID, fetch=hangs, policy=JwksPolicy(timeout=0.05))
    try:
        with pytest.raises(RequestTimeoutError, match=r"timed out after 0\.05s") as info:
            await asyncio.wait_for(validator.validate(token()), 5)
    finally:
        await validator.aclose()
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, RequestTimeoutError)


async def test_the_transports_own_timeout_is_kept_as_the_cause() -> None:
    raised = RequestTimeoutError("request timed out", operation="jwks")

    async def times_out(timeout: float) -> tuple[object, str | None]:
        raise raised

    validator = TokenValidator(PROJECT_ID, fetch=times_out, policy=POLICY)
    try:
        with pytest.raises(RequestTimeoutError) as info:
            await asyncio.wait_for(validator.validate(token()), 5)
    finally:
        await validator.aclose()
    # Not replaced by the cache's own "timed out after 2s" (from Python 3.11
    # on, the transport's error is an asyncio.TimeoutError as well).
    assert info.value.__cause__ is raised
    assert str(info.value) == "jwks: no usable key set; last fetch: request timed out"


async def test_a_key_set_unavailable_for_another_reason_is_no_timeout(
    validator: TokenValidator, server: JwksServer, clock: FakeClock
) -> None:
    server.status = 500
    with pytest.raises(TransportError) as info:
        await asyncio.wait_for(validator.validate(token()), 5)
    assert not isinstance(info.value, TimeoutError)
