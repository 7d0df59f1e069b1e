"""validate_local from threads other than the cache's loop (what the sync facade does)."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from descope_keys._jwks import JwksPolicy
from descope_keys._portal import LoopThread
from descope_keys._tokens import TokenValidator
from tests._jwt_factory import (
    PROJECT_ID,
    FakeClock,
    JwksServer,
    claims,
    mint,
    private_key,
    public_jwk,
    use_clock,
)

T = TypeVar("T")


class _Portal(LoopThread):
    """The package's event-loop thread (the sync facade's runner), every wait bounded."""

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 10.0) -> T:
        return super().run(coro, timeout)


@pytest.fixture
def portal() -> Iterator[_Portal]:
    portal = _Portal("jwks-test")
    portal.start()
    yield portal
    portal.stop()


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_refresh_ahead_requested_from_a_worker_thread_runs_on_the_owning_loop(
    portal: _Portal,
) -> None:
    server = JwksServer({"keys": [public_jwk(private_key(0), "k1")]})
    portal.run(server.__aenter__())
    policy = JwksPolicy(ttl=100.0)
    validator = TokenValidator(PROJECT_ID, fetch=server.fetch, policy=policy)
    clock = use_clock(validator, FakeClock())
    try:
        jwt = mint(private_key(0))
        assert validator.validate_local(jwt) is None  # cold: the caller hops to the loop
        portal.run(validator.validate(jwt))
        assert server.requests == 1

        server.delay = 2.0
        clock.advance(81.0)
        with ThreadPoolExecutor(max_workers=8) as pool:
            started = time.monotonic()
            results = list(
                pool.map(
                    lambda i: validator.validate_local(mint(private_key(0), claims(sub=f"K{i}"))),
                    range(32),
                )
            )
            # Nobody waited for the (slow) refresh.
            assert time.monotonic() - started < 2.0
        assert [r.key_id if r else None for r in results] == [f"K{i}" for i in range(32)]
        _wait(lambda: server.requests == 2)
        task = validator._cache._task
        assert task is not None
        assert task.get_loop() is portal.loop
    finally:
        portal.run(validator.aclose())
        portal.run(server.__aexit__(None, None, None))
    assert server.requests == 2


def test_concurrent_threads_validate_the_same_and_distinct_tokens(portal: _Portal) -> None:
    validator = TokenValidator(PROJECT_ID, fetch=None, public_key=public_jwk(private_key(0), "k1"))
    shared = mint(private_key(0))
    distinct = [mint(private_key(0), claims(sub=f"K{i}")) for i in range(64)]

    def work(i: int) -> tuple[str, str]:
        a = validator.validate_local(shared)
        b = validator.validate_local(distinct[i % len(distinct)])
        assert a is not None
        assert b is not None
        return a.key_id, b.key_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(2000)))
    assert {a for a, _ in results} == {"K2AccessKey0001"}
    assert [b for _, b in results] == [f"K{i % 64}" for i in range(2000)]
