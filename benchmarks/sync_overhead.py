"""What the sync facade costs over the async client, and how it compares with the official SDK.

The emulator runs in its own process (``python -m descope_keys.emulator`` on a
free port of 127.0.0.1), so that it does not compete for this process's GIL.
Measurements:

* the hop alone: ``portal.run()`` of a coroutine that does nothing;
* sequential ``access_keys.load()``: ``DescopeKeys`` vs ``AsyncDescopeKeys``;
  the difference per call is the cost of the hop to the loop thread
  (goal: under 100 µs);
* ``validate_token`` with warm keys: the sync call runs in the calling thread
  (goal: within 1.1x of ``await client.validate_token``);
* ``load()`` from 32 threads sharing one client: ``DescopeKeys`` vs the
  official ``descope`` SDK's sync ``DescopeClient`` (goal: ahead).

Run::

    python -m benchmarks.sync_overhead [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks._common import emulator_process
from descope_keys._client import AsyncDescopeKeys
from descope_keys._portal import Portal
from descope_keys._retry import RetryPolicy
from descope_keys._sync import DescopeKeys

THREADS = 32
_HOST = "127.0.0.1"


def _per_call(calls: int, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


async def _async_per_call(calls: int, fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - started) / calls


@contextmanager
def _async_client(**kwargs: Any) -> Iterator[tuple[asyncio.AbstractEventLoop, AsyncDescopeKeys]]:
    """An AsyncDescopeKeys on a loop of this thread, driven round by round."""
    loop = asyncio.new_event_loop()
    client = AsyncDescopeKeys(**kwargs)
    try:
        yield loop, client
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


def _sequential_load(
    sync: DescopeKeys, project_id: str, management_key: str, base_url: str, key_id: str, quick: bool
) -> dict[str, Any]:
    calls = 300 if quick else 2_000
    rounds = 3 if quick else 11
    sync_times, async_times = [], []
    with _async_client(
        project_id=project_id,
        management_key=management_key,
        base_url=base_url,
        retry=RetryPolicy.disabled(),
    ) as (loop, client):
        # Rounds alternate, so that both clients see the same machine load.
        for calls_now, keep in [(100, False)] + [(calls, True)] * rounds:
            s = _per_call(calls_now, lambda: sync.access_keys.load(key_id))
            a = loop.run_until_complete(
                _async_per_call(calls_now, lambda: client.access_keys.load(key_id))
            )
            if keep:
                sync_times.append(s)
                async_times.append(a)
    sync_us = statistics.median(sync_times) * 1e6
    async_us = statistics.median(async_times) * 1e6
    # The overhead is the median of each round's own difference: the two
    # halves of a round ran back to back under the same machine load, while
    # the difference of the two medians can pair a quiet round with a busy one.
    overhead_us = (
        statistics.median(s - a for s, a in zip(sync_times, async_times, strict=True)) * 1e6
    )
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "sync_us_per_call": round(sync_us, 1),
        "async_us_per_call": round(async_us, 1),
        "overhead_us_per_call": round(overhead_us, 1),
        "goal_overhead_under_100_us": overhead_us < 100,
    }


def _validation(
    sync: DescopeKeys, project_id: str, base_url: str, jwt: str, quick: bool
) -> dict[str, Any]:
    calls = 20_000 if quick else 200_000
    rounds = 3 if quick else 7
    sync_times, async_times = [], []
    sync.validate_token(jwt)  # warm keys
    with _async_client(project_id=project_id, base_url=base_url) as (loop, client):
        loop.run_until_complete(client.validate_token(jwt))
        for _ in range(rounds):
            sync_times.append(_per_call(calls, lambda: sync.validate_token(jwt)))
            async_times.append(
                loop.run_until_complete(_async_per_call(calls, lambda: client.validate_token(jwt)))
            )
    # Best of the rounds: CPU-bound nanoseconds, where noise only ever adds.
    sync_ns, async_ns = min(sync_times) * 1e9, min(async_times) * 1e9
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "sync_ns_per_call": round(sync_ns),
        "async_ns_per_call": round(async_ns),
        "sync_over_async": round(sync_ns / async_ns, 3),
        "median_sync_over_async": round(
            statistics.median(sync_times) / statistics.median(async_times), 3
        ),
        "goal_within_1_1x": sync_ns / async_ns <= 1.1,
    }


def _portal_hop(quick: bool) -> dict[str, Any]:
    """The hop alone: a coroutine that does nothing, run through the portal.

    Separates the portal's own cost from what the machine adds around real
    I/O (waking a thread whose core went to another process meanwhile).
    """

    class _Noop:
        async def noop(self) -> None:
            return None

        async def aclose(self) -> None:
            return None

    calls = 2_000 if quick else 20_000
    portal: Portal[_Noop] = Portal(_Noop, name="bench")
    try:
        _per_call(500, lambda: portal.run(portal.target.noop()))
        times = [_per_call(calls, lambda: portal.run(portal.target.noop())) for _ in range(5)]
    finally:
        portal.close()
    return {"calls_per_round": calls, "us_per_call": round(statistics.median(times) * 1e6, 1)}


def _threaded(calls: int, fn: Callable[[], object]) -> dict[str, float]:
    """``calls`` calls of ``fn`` spread over THREADS threads; throughput and latency."""
    per_thread = calls // THREADS
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS + 1, timeout=60)

    def work() -> None:
        mine = []
        try:
            barrier.wait()
            for _ in range(per_thread):
                started = time.perf_counter()
                fn()
                mine.append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=work, daemon=True) for _ in range(THREADS)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in pool:
        t.join(300)
    elapsed = time.perf_counter() - started
    if errors or any(t.is_alive() for t in pool):
        raise RuntimeError(f"threaded run failed: {errors[:1]!r}")
    latencies.sort()
    done = per_thread * THREADS
    return {
        "requests": done,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(done / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def _threaded_load(
    sync: DescopeKeys, project_id: str, management_key: str, base_url: str, key_id: str, quick: bool
) -> dict[str, Any]:
    from descope import DescopeClient  # the official SDK: a benchmark-only dependency

    calls = 1_600 if quick else 16_000
    official = DescopeClient(project_id, management_key=management_key, base_url=base_url)
    _threaded(THREADS * 4, lambda: sync.access_keys.load(key_id))  # warm the connection pool
    ours = _threaded(calls, lambda: sync.access_keys.load(key_id))
    _threaded(THREADS * 4, lambda: official.mgmt.access_key.load(key_id))
    theirs = _threaded(calls, lambda: official.mgmt.access_key.load(key_id))
    return {
        "threads": THREADS,
        "descope_keys_sync": ours,
        "official_descope_sync": theirs,
        "speedup": round(ours["requests_per_second"] / theirs["requests_per_second"], 2),
        "goal_ahead_of_official": ours["requests_per_second"] > theirs["requests_per_second"],
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Measure the sync facade's overhead and threaded throughput against the emulator.

    Args:
        quick: Fewer calls (a few seconds), for smoke runs.

    Returns:
        ``sequential_load``, ``validate_token`` and ``threaded_load`` figures,
        each with a ``goal_*`` flag.
    """
    with (
        emulator_process() as (base_url, project_id, management_key),
        DescopeKeys(
            project_id, management_key, base_url=base_url, retry=RetryPolicy.disabled()
        ) as sync,
    ):
        created = sync.access_keys.create("bench")
        key_id = created.key.id
        jwt = sync.exchange_access_key(created.cleartext).jwt
        return {
            "benchmark": "sync_overhead",
            "quick": quick,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "portal_hop": _portal_hop(quick),
            "sequential_load": _sequential_load(
                sync, project_id, management_key, base_url, key_id, quick
            ),
            "validate_token": _validation(sync, project_id, base_url, jwt, quick),
            "threaded_load": _threaded_load(
                sync, project_id, management_key, base_url, key_id, quick
            ),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
