"""Whether memory stays flat over many validations and management calls.

Resident set size (``/proc/self/statm``) of this process is read at ten
checkpoints, after a warm-up that fills every cache, each reading after a
``gc.collect()``. A leak grows with the work done; allocator noise does not.

- ``validation``: 100k ``DescopeKeys.validate_token`` calls in the calling
  thread, cycling over more distinct tokens than the verified-token cache
  holds (so it evicts all the time), one in ten with a broken signature
  (the error path).
- ``management_async`` / ``management_sync``: 20k ``access_keys.load()``
  calls each, one in ten for a missing id (404, ``NotFoundError``), through
  ``AsyncDescopeKeys`` (32 in flight) and through ``DescopeKeys`` from 8
  threads. The emulator runs in a child process so that only the client's
  memory is measured.

Verdict: flat when the growth from the first to the last checkpoint is at
most ``THRESHOLD_MIB``. Run::

    python -m benchmarks.memory [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import json
from collections.abc import Callable
from typing import Any

from descope_keys import (
    AsyncDescopeKeys,
    DescopeKeys,
    NotFoundError,
    RetryPolicy,
    TokenValidationError,
)

from ._common import (
    PROJECT_ID,
    emulator_process,
    no_descope_env,
    public_jwk,
    rss_bytes,
    sign_tokens,
    signing_key,
)

# One pymalloc arena is 1 MiB (256 KiB before 3.10) and RSS moves in such
# steps; 2 MiB over the run is under 21 bytes per validation and 105 bytes
# per management call, far below any object leaked per call.
THRESHOLD_MIB = 2.0
_CHECKPOINTS = 10
_CONCURRENCY = 32
_THREADS = 8
_MISSING_ID = "K2doesnotexist0000000000000"


def _tamper(jwt: str) -> str:
    head, _, signature = jwt.rpartition(".")
    flipped = "A" if signature[10] != "A" else "B"
    return f"{head}.{signature[:10]}{flipped}{signature[11:]}"


def _track(total: int, segment: Callable[[int, int], None]) -> dict[str, Any]:
    """Run ``segment(start, count)`` over ``total`` operations; RSS at each checkpoint."""
    step = total // _CHECKPOINTS
    gc.collect()
    points = [(0, rss_bytes())]
    for i in range(_CHECKPOINTS):
        segment(i * step, step)
        gc.collect()
        points.append(((i + 1) * step, rss_bytes()))
    growth = points[-1][1] - points[0][1]
    # Least-squares slope: a leak is a trend, a single arena step is not.
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return {
        "operations": step * _CHECKPOINTS,
        "rss_start_mib": round(points[0][1] / 2**20, 2),
        "rss_end_mib": round(points[-1][1] / 2**20, 2),
        "growth_mib": round(growth / 2**20, 3),
        "slope_bytes_per_op": round(slope, 2),
        "checkpoints": [[ops, round(rss / 2**20, 3)] for ops, rss in points],
        "flat": growth <= THRESHOLD_MIB * 2**20,
    }


def _validation(total: int, pool: int) -> dict[str, Any]:
    key = signing_key()
    good = sign_tokens(key, pool)
    tokens = [_tamper(t) if i % 10 == 9 else t for i, t in enumerate(good)]
    rejected = 0
    with DescopeKeys(PROJECT_ID, public_key=public_jwk(key)) as client:

        def segment(start: int, count: int) -> None:
            nonlocal rejected
            validate = client.validate_token
            for i in range(start, start + count):
                try:
                    validate(tokens[i % pool])
                except TokenValidationError:
                    rejected += 1

        segment(0, max(3 * pool, total // 10))  # warm-up: every cache full
        rejected = 0
        result = _track(total, segment)
    result.update(distinct_tokens=pool, rejected=rejected)
    return result


async def _management_async(
    base_url: str, project_id: str, management_key: str, total: int
) -> dict[str, Any]:
    async with AsyncDescopeKeys(
        project_id, management_key, base_url=base_url, retry=RetryPolicy.disabled()
    ) as client:
        key_id = (await client.access_keys.create("bench-memory")).key.id
        missing = 0

        async def one(i: int) -> None:
            nonlocal missing
            try:
                await client.access_keys.load(_MISSING_ID if i % 10 == 9 else key_id)
            except NotFoundError:
                missing += 1

        async def segment(start: int, count: int) -> None:
            for j in range(start, start + count, _CONCURRENCY):
                await asyncio.gather(
                    *(one(i) for i in range(j, min(j + _CONCURRENCY, start + count)))
                )

        loop = asyncio.get_running_loop()
        await segment(0, max(1000, total // 10))  # warm-up: connection pool, caches

        # _track is synchronous: give it segments that block on this loop's work.
        def run_segment(start: int, count: int) -> None:
            asyncio.run_coroutine_threadsafe(segment(start, count), loop).result(300)

        missing = 0
        result = await loop.run_in_executor(None, _track, total, run_segment)
    result.update(concurrency=_CONCURRENCY, not_found=missing)
    return result


def _management_sync(
    base_url: str, project_id: str, management_key: str, total: int
) -> dict[str, Any]:
    missing = 0
    with (
        DescopeKeys(
            project_id, management_key, base_url=base_url, retry=RetryPolicy.disabled()
        ) as client,
        concurrent.futures.ThreadPoolExecutor(_THREADS) as pool,
    ):
        key_id = client.access_keys.create("bench-memory").key.id

        def one(i: int) -> None:
            nonlocal missing
            try:
                client.access_keys.load(_MISSING_ID if i % 10 == 9 else key_id)
            except NotFoundError:
                missing += 1  # a lost update under threads only skews a count

        def segment(start: int, count: int) -> None:
            list(pool.map(one, range(start, start + count), timeout=300))

        segment(0, max(1000, total // 10))
        missing = 0
        result = _track(total, segment)
    result.update(threads=_THREADS, not_found=missing)
    return result


def main(quick: bool = False) -> dict[str, Any]:
    """Measure RSS growth over validations and management calls after a warm-up.

    Args:
        quick: 5k validations over 100 tokens and 1k management calls per
            client, instead of 100k over 1,500 and 20k.

    Returns:
        ``validation``, ``management_async`` and ``management_sync``, each with
        the growth in MiB, the slope in bytes per operation, the checkpoints
        and a ``flat`` verdict; ``threshold_mib``; ``goal``.
    """
    validations, pool, calls = (5_000, 100, 1_000) if quick else (100_000, 1_500, 20_000)
    with no_descope_env():
        phases = {"validation": _validation(validations, pool)}
        with emulator_process() as (base_url, project_id, management_key):
            phases["management_async"] = asyncio.run(
                _management_async(base_url, project_id, management_key, calls)
            )
            phases["management_sync"] = _management_sync(
                base_url, project_id, management_key, calls
            )
    return {
        "threshold_mib": THRESHOLD_MIB,
        **phases,
        "goal": {
            "rule": f"RSS growth after warm-up <= {THRESHOLD_MIB:g} MiB in every phase",
            "met": all(phase["flat"] for phase in phases.values()),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
