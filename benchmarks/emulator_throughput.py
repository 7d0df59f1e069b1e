"""How many requests a second the emulator serves, so it is never the bottleneck.

The emulator runs in its own process (``python -m descope_keys.emulator`` on a
free port of 127.0.0.1) and a raw aiohttp client in this process keeps 32
requests in flight: ``load`` (the management read path) and ``exchange``
(RS256 signing on every call). Run::

    python -m benchmarks.emulator_throughput [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

import aiohttp

from benchmarks._common import emulator_process

CONCURRENCY = 32
_HOST = "127.0.0.1"


async def _drive(
    session: aiohttp.ClientSession,
    requests: int,
    send: Any,
) -> dict[str, float | int]:
    """Send ``requests`` calls with CONCURRENCY workers; return rate and latency figures."""
    latencies: list[float] = []
    errors = 0
    remaining = requests

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with send(session) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(requests / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


async def _run(quick: bool) -> dict[str, Any]:
    load_requests = 3_000 if quick else 30_000
    exchange_requests = 500 if quick else 5_000
    # Started before the measured loop does anything: blocking here is fine.
    with emulator_process() as (base_url, project_id, management_key):
        mgmt = {"Authorization": f"Bearer {project_id}:{management_key}"}
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async with session.post(
                f"{base_url}/v1/mgmt/accesskey/create", json={"name": "bench"}, headers=mgmt
            ) as resp:
                created = await resp.json()
            key_id, secret = created["key"]["id"], created["cleartext"]
            load_url = f"{base_url}/v1/mgmt/accesskey"
            exchange_url = f"{base_url}/v1/auth/accesskey/exchange"
            exchange_auth = {"Authorization": f"Bearer {project_id}:{secret}"}

            def load(s: aiohttp.ClientSession) -> Any:
                return s.get(load_url, params={"id": key_id}, headers=mgmt)

            def exchange(s: aiohttp.ClientSession) -> Any:
                return s.post(exchange_url, json={"loginOptions": {}}, headers=exchange_auth)

            await _drive(session, 200, load)  # warm up connections and caches
            load_stats = await _drive(session, load_requests, load)
            exchange_stats = await _drive(session, exchange_requests, exchange)
    return {
        "benchmark": "emulator_throughput",
        "concurrency": CONCURRENCY,
        "quick": quick,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load": load_stats,
        "exchange": exchange_stats,
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Measure the emulator's ``load`` and ``exchange`` throughput at concurrency 32.

    Args:
        quick: Fewer requests (seconds, not tens of seconds), for smoke runs.

    Returns:
        The figures: ``load`` and ``exchange`` each with ``requests_per_second``,
        ``p50_ms``, ``p99_ms``, ``errors``.
    """
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
