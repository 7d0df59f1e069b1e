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
import secrets
import signal
import statistics
import sys
import time
from typing import Any

import aiohttp

CONCURRENCY = 32
_HOST = "127.0.0.1"


async def _start_emulator(project_id: str, management_key: str) -> tuple[Any, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "descope_keys.emulator",
        "--host",
        _HOST,
        "--port",
        "0",
        "--project-id",
        project_id,
        "--management-key",
        management_key,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            break
        if line.startswith("DESCOPE_BASE_URI="):
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    await proc.wait()
    raise RuntimeError("the emulator did not start")


async def _stop_emulator(proc: Any) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


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
    project_id = "Pbench" + secrets.token_hex(8)
    management_key = secrets.token_urlsafe(24)
    mgmt = {"Authorization": f"Bearer {project_id}:{management_key}"}
    load_requests = 3_000 if quick else 30_000
    exchange_requests = 500 if quick else 5_000
    proc, base_url = await _start_emulator(project_id, management_key)
    try:
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
    finally:
        await _stop_emulator(proc)
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
