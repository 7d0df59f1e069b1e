"""``load()`` throughput at concurrency 32: raw aiohttp, descope-keys, and the official SDK.

The emulator runs in its own process on a free port of 127.0.0.1, so the
clients (all in this process, one at a time) do not share its event loop.
Each client loads the same key with 32 calls in flight for a few seconds;
rounds are interleaved (raw, ours, official, ...) and the median round counts, so drift
in the machine's speed hits every client alike. The figures:

* ``raw_aiohttp``: ``session.get`` + ``json.loads``, the floor for any client;
* ``descope_keys``: ``AsyncDescopeKeys.access_keys.load`` with the default
  ``RetryPolicy`` (the success path never enters tenacity) and the result
  parsed into an ``AccessKey``;
* ``official_descope``: ``DescopeClientAsync.mgmt.access_key.load`` (httpx);
* ``raw_aiohttp_in_tenacity``: raw aiohttp with every call wrapped in
  tenacity's ``AsyncRetrying``, for the cost that descope-keys avoids.

Each figure also has the client's CPU time per request (this process only),
which a busy machine disturbs far less than the request rate.

Run::

    python -m benchmarks.management_throughput [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from benchmarks._common import emulator_process
from descope_keys._client import AsyncDescopeKeys

CONCURRENCY = 32
_HOST = "127.0.0.1"

Call = Callable[[], Awaitable[object]]


async def _drive(call: Call, seconds: float) -> dict[str, float]:
    """Calls by CONCURRENCY workers for ``seconds``; rate and latency figures."""
    latencies: list[float] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    stop_at = started + seconds

    async def worker() -> None:
        while (now := time.perf_counter()) < stop_at:
            await call()
            latencies.append(time.perf_counter() - now)

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))), seconds + 120)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    latencies.sort()
    return {
        "requests_per_second": len(latencies) / elapsed,
        # This process only (the emulator is another): steadier than the rate
        # on a busy machine, and what the client itself costs.
        "client_cpu_us_per_request": cpu / len(latencies) * 1e6,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
    }


def _median_round(rounds: list[dict[str, float]]) -> dict[str, Any]:
    ranked = sorted(rounds, key=lambda r: r["requests_per_second"])
    figures: dict[str, Any] = {k: round(v, 2) for k, v in ranked[len(ranked) // 2].items()}
    figures["rounds_requests_per_second"] = [round(r["requests_per_second"]) for r in rounds]
    return figures


async def _run(quick: bool) -> dict[str, Any]:
    from descope.descope_client_async import DescopeClientAsync

    seconds = 1.0 if quick else 4.0
    rounds = 3 if quick else 7
    # Started before the measured loop does anything: blocking here is fine.
    with emulator_process() as (base_url, project_id, management_key):
        connector = aiohttp.TCPConnector(limit=100)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            AsyncDescopeKeys(project_id, management_key, base_url=base_url) as ours,
            DescopeClientAsync(
                project_id, management_key=management_key, base_url=base_url
            ) as official,
        ):
            key_id = (await ours.access_keys.create("bench")).key.id
            load_url = f"{base_url}/v1/mgmt/accesskey"
            headers = {
                "Authorization": f"Bearer {project_id}:{management_key}",
                "Content-Type": "application/json",
            }
            params = {"id": key_id}

            async def raw() -> object:
                async with session.get(load_url, params=params, headers=headers) as resp:
                    body = json.loads(await resp.read())
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
                    return body

            async def raw_in_tenacity() -> object:
                retrying = AsyncRetrying(
                    stop=stop_after_attempt(4),
                    wait=wait_random_exponential(multiplier=0.2, max=5.0),
                    retry=retry_if_exception_type(aiohttp.ClientError),
                    reraise=True,
                )
                return await retrying(raw)

            async def descope_keys() -> object:
                return await ours.access_keys.load(key_id)

            async def official_sdk() -> object:
                return await official.mgmt.access_key.load(key_id)

            clients: dict[str, Call] = {
                "raw_aiohttp": raw,
                "descope_keys": descope_keys,
                "official_descope": official_sdk,
                "raw_aiohttp_in_tenacity": raw_in_tenacity,
            }
            for call in clients.values():  # warm up connections and caches
                await _drive(call, 0.5)
            results: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
            for _ in range(rounds):
                for name, call in clients.items():
                    results[name].append(await _drive(call, seconds))
    figures = {name: _median_round(r) for name, r in results.items()}
    rate = {name: f["requests_per_second"] for name, f in figures.items()}
    cpu = {
        name: statistics.median(x["client_cpu_us_per_request"] for x in r)
        for name, r in results.items()
    }
    return {
        "benchmark": "management_throughput",
        "operation": "load",
        "concurrency": CONCURRENCY,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "quick": quick,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "results": figures,
        "ratios": {
            "descope_keys_vs_raw_aiohttp": round(rate["descope_keys"] / rate["raw_aiohttp"], 3),
            "descope_keys_vs_official": round(rate["descope_keys"] / rate["official_descope"], 3),
            "tenacity_per_call_vs_raw_aiohttp": round(
                rate["raw_aiohttp_in_tenacity"] / rate["raw_aiohttp"], 3
            ),
            # The same ratio from client CPU: what throughput would be if the
            # client, not the emulator, were the bottleneck.
            "descope_keys_vs_raw_aiohttp_by_cpu": round(
                cpu["raw_aiohttp"] / cpu["descope_keys"], 3
            ),
            "descope_keys_vs_official_by_cpu": round(
                cpu["official_descope"] / cpu["descope_keys"], 3
            ),
        },
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Measure ``load()`` throughput at concurrency 32 for each client, in one run.

    Args:
        quick: Fewer and shorter rounds (seconds, not a minute), for smoke runs.

    Returns:
        Per client ``requests_per_second``, ``p50_ms``, ``p99_ms`` (median
        round), and the ratios of descope-keys to raw aiohttp and to the
        official SDK.
    """
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
