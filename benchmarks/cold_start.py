"""How many JWKS requests a cold client makes under a stampede, and under an unknown-kid storm.

The emulator runs in this process, so its ``request_counts`` for
``/v2/keys/<projectId>`` are exact. Its JWKS answer is delayed by 100 ms (a
realistic round trip) so that every caller of a stampede arrives while the
first fetch is still in flight.

- ``cold_stampede``: a fresh client gets ``STAMPEDE`` concurrent
  ``validate_token`` calls over a few distinct tokens: ``AsyncDescopeKeys``
  (one event loop), ``DescopeKeys`` (from 32 threads), and the official
  ``descope`` SDK's async and sync clients the same way. Goal: exactly one
  fetch per stampede, for ours, and every call succeeds.
- ``unknown_kid_storm``: the warm client then gets ``STAMPEDE`` tokens whose
  ``kid`` is not in the key set (random kids, as an attacker would send).
  Ours refreshes at most once per ``unknown_kid_cooldown`` (30 s); the
  official SDK refetches for each one.

Run::

    python -m benchmarks.cold_start [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

from descope_keys import AsyncDescopeKeys, DescopeKeys, RetryPolicy
from descope_keys.emulator import Emulator

from ._common import no_descope_env, with_kid

STAMPEDE = 200
THREADS = 32
_DISTINCT_TOKENS = 8
_JWKS_DELAY = 0.1
_TIMEOUT = 120.0


def _threaded(calls: list[Callable[[], object]]) -> list[BaseException | None]:
    """Run ``calls`` on THREADS threads released together; the error of each (or None)."""
    outcome: list[BaseException | None] = [None] * len(calls)
    barrier = threading.Barrier(THREADS, timeout=_TIMEOUT)

    def work(index: int) -> None:
        barrier.wait()
        for i in range(index, len(calls), THREADS):
            try:
                calls[i]()
            except Exception as exc:
                outcome[i] = exc

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(work, t) for t in range(THREADS)]:
            future.result(_TIMEOUT)
    return outcome


class _Run:
    def __init__(self, emu: Emulator, tokens: list[str]) -> None:
        self.emu = emu
        self.tokens = tokens
        self.path = f"/v2/keys/{emu.project_id}"
        self.storm = [
            with_kid(tokens[0], "unknown" + secrets.token_hex(8)) for _ in range(STAMPEDE)
        ]

    def fetches(self) -> int:
        return self.emu.request_counts[self.path]

    def batch(self) -> list[str]:
        return [self.tokens[i % len(self.tokens)] for i in range(STAMPEDE)]

    async def in_threads(self, calls: list[Callable[[], object]]) -> list[BaseException | None]:
        # The emulator serves on this loop: block a worker thread, never the loop.
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(None, _threaded, calls), _TIMEOUT)

    async def measure(self, stampede: Any, storm: Any) -> dict[str, int]:
        """Fetches and failures of one cold stampede, then of one unknown-kid storm."""
        self.emu.inject_fault("/v2/keys", status=None, delay=_JWKS_DELAY, times=None)
        before = self.fetches()
        failures = sum(e is not None for e in await asyncio.wait_for(stampede(), _TIMEOUT))
        cold = self.fetches() - before
        self.emu.clear_faults()
        before = self.fetches()
        accepted = sum(e is None for e in await asyncio.wait_for(storm(), _TIMEOUT))
        return {
            "cold_fetches": cold,
            "cold_failures": failures,
            "storm_fetches": self.fetches() - before,
            "storm_accepted": accepted,
        }

    async def ours_async(self) -> dict[str, int]:
        emu = self.emu
        async with AsyncDescopeKeys(emu.project_id, base_url=emu.base_url) as client:

            async def each(tokens: list[str]) -> list[BaseException | None]:
                results = await asyncio.gather(
                    *(client.validate_token(t) for t in tokens), return_exceptions=True
                )
                return [r if isinstance(r, BaseException) else None for r in results]

            return await self.measure(lambda: each(self.batch()), lambda: each(self.storm))

    async def ours_sync(self) -> dict[str, int]:
        emu = self.emu
        client = DescopeKeys(emu.project_id, base_url=emu.base_url, retry=RetryPolicy.disabled())
        try:

            def each(tokens: list[str]) -> Any:
                return self.in_threads(
                    [functools.partial(client.validate_token, t) for t in tokens]
                )

            return await self.measure(lambda: each(self.batch()), lambda: each(self.storm))
        finally:
            await asyncio.get_running_loop().run_in_executor(None, client.close)

    async def official_async(self) -> dict[str, int]:
        from descope import DescopeClientAsync  # benchmark-only dependency

        client = DescopeClientAsync(self.emu.project_id, base_url=self.emu.base_url)
        try:

            async def each(tokens: list[str]) -> list[BaseException | None]:
                results = await asyncio.gather(
                    *(client.validate_session(t) for t in tokens), return_exceptions=True
                )
                return [r if isinstance(r, BaseException) else None for r in results]

            return await self.measure(lambda: each(self.batch()), lambda: each(self.storm))
        finally:
            await client.aclose()

    async def official_sync(self) -> dict[str, int]:
        from descope import DescopeClient  # benchmark-only dependency

        client = DescopeClient(self.emu.project_id, base_url=self.emu.base_url)

        def each(tokens: list[str]) -> Any:
            return self.in_threads([functools.partial(client.validate_session, t) for t in tokens])

        return await self.measure(lambda: each(self.batch()), lambda: each(self.storm))


async def _run(rounds: int) -> dict[str, Any]:
    async with Emulator() as emu:
        async with AsyncDescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as c:
            created = await c.access_keys.create("bench-stampede", role_names=["deployer"])
            tokens = [
                (await c.exchange_access_key(created.cleartext)).jwt
                for _ in range(_DISTINCT_TOKENS)
            ]
        run = _Run(emu, tokens)
        clients = {
            "descope_keys_async": run.ours_async,
            "descope_keys_sync_threads": run.ours_sync,
            "official_async": run.official_async,
            "official_sync_threads": run.official_sync,
        }
        samples: dict[str, list[dict[str, int]]] = {name: [] for name in clients}
        for _ in range(rounds):  # interleaved: every client sees the same conditions
            for name, measure in clients.items():
                samples[name].append(await measure())
    results: dict[str, Any] = {}
    for name, rows in samples.items():
        results[name] = {
            "cold_fetches_per_round": [r["cold_fetches"] for r in rows],
            "cold_failures": sum(r["cold_failures"] for r in rows),
            "storm_fetches_per_round": [r["storm_fetches"] for r in rows],
            "storm_accepted": sum(r["storm_accepted"] for r in rows),
        }
    ours = [results["descope_keys_async"], results["descope_keys_sync_threads"]]
    return {
        "stampede_calls": STAMPEDE,
        "distinct_tokens": _DISTINCT_TOKENS,
        "threads": THREADS,
        "jwks_delay_s": _JWKS_DELAY,
        "rounds": rounds,
        "clients": results,
        "goal": {
            "rule": "exactly 1 JWKS fetch per cold stampede and no failed call (ours)",
            "met": all(
                set(r["cold_fetches_per_round"]) == {1} and r["cold_failures"] == 0 for r in ours
            ),
        },
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Count JWKS requests of cold stampedes and unknown-kid storms, ours and the official SDK's.

    Args:
        quick: One round instead of five.

    Returns:
        Per client: JWKS fetches per cold stampede and per storm, failures,
        and the goal (exactly one fetch per cold stampede).
    """
    with no_descope_env():
        return asyncio.run(_run(1 if quick else 5))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
