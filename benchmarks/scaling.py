"""How local validation scales with worker processes (and, for contrast, with threads).

Validation is CPU work (an RSA verify per distinct token) done under the GIL,
so a web server scales it with processes, as gunicorn and uvicorn workers do.
Two worker processes (spawned once, kept for every round) validate for a
fixed time each; rounds interleave 1 and 2 active workers, and the median
aggregate rate is kept. The same is measured with 1 and 2 threads of one
process. Each worker uses its own ``DescopeKeys`` with the keys pinned, as a
forked worker has its own client and JWKS cache.

On a machine shared with other work, two workers may not get two cores: so
besides the wall-clock rate, each worker's validations per CPU second of its
own and the cores the workers actually got are reported. Their ratio between
2 and 1 workers (``cpu_efficiency_2_vs_1``) is what two free cores would keep.
Linux with ``sched_autogroup`` (recorded) shares CPU time between sessions
first: while other sessions are busy, all the workers of one session share
that session's part, however many they are.

- ``distinct``: every token is new to the client (an RSA verify each),
- ``repeated``: the same token again (the verified-token cache).

Run::

    python -m benchmarks.scaling [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from descope_keys import DescopeKeys

from ._common import PROJECT_ID, no_descope_env, public_jwk, sign_tokens, signing_key

MODES = ("distinct", "repeated")
WORKERS = (1, 2)
_TIMEOUT = 120.0


def _validate_for(
    mode: str, seconds: float, tokens: list[str], jwk: dict[str, str]
) -> tuple[int, float, float]:
    """Validate for ``seconds``; return (validations, wall seconds, CPU seconds of this thread)."""
    count = 0
    started, cpu_started = time.perf_counter(), time.thread_time()
    deadline = started + seconds
    if mode == "distinct":
        while time.perf_counter() < deadline:
            # A fresh client per pass: no token is ever served from its cache.
            with DescopeKeys(PROJECT_ID, public_key=jwk) as client:
                validate = client.validate_token
                for token in tokens:
                    validate(token)
            count += len(tokens)
    else:
        with DescopeKeys(PROJECT_ID, public_key=jwk) as client:
            validate, token = client.validate_token, tokens[0]
            while time.perf_counter() < deadline:
                for _ in range(1000):
                    validate(token)
                count += 1000
    return count, time.perf_counter() - started, time.thread_time() - cpu_started


def _worker(conn: Connection, tokens: list[str], jwk: dict[str, str]) -> None:
    with no_descope_env():
        while True:
            command = conn.recv()
            if command is None:
                return
            mode, seconds = command
            conn.send(_validate_for(mode, seconds, tokens, jwk))


def _in_threads(
    count: int, mode: str, seconds: float, tokens: list[str], jwk: dict[str, str]
) -> list[tuple[int, float, float]]:
    runs: list[tuple[int, float, float]] = []
    barrier = threading.Barrier(count, timeout=_TIMEOUT)

    def run() -> None:
        barrier.wait()
        runs.append(_validate_for(mode, seconds, tokens, jwk))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_TIMEOUT)
    if len(runs) != count:
        raise RuntimeError("a validation thread failed or hung")
    return runs


def _figures(runs: list[tuple[int, float, float]]) -> tuple[float, float, float]:
    """Aggregate validations per wall second, validations per CPU second of a worker,
    and the cores the workers got."""
    rate = sum(n / wall for n, wall, _ in runs)
    per_cpu = statistics.mean(n / cpu for n, _, cpu in runs if cpu > 0)
    cores = sum(cpu / wall for _, wall, cpu in runs)
    return rate, per_cpu, cores


def _run(rounds: int, seconds: float, pool: int) -> dict[str, Any]:
    key = signing_key()
    tokens, jwk = sign_tokens(key, pool), public_jwk(key)
    # spawn: a clean interpreter per worker on every platform, nothing inherited.
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    for _ in range(max(WORKERS)):
        parent, child = context.Pipe()
        proc = context.Process(target=_worker, args=(child, tokens, jwk), daemon=True)
        proc.start()
        child.close()
        pipes.append(parent)
        procs.append(proc)

    def processes(count: int, mode: str, run_for: float) -> list[tuple[int, float, float]]:
        for pipe in pipes[:count]:
            pipe.send((mode, run_for))
        runs = []
        for pipe in pipes[:count]:
            if not pipe.poll(_TIMEOUT):
                raise RuntimeError("a validation worker did not answer")
            runs.append(pipe.recv())
        return runs

    samples: dict[str, dict[str, dict[int, list[tuple[float, float, float]]]]] = {
        kind: {mode: {n: [] for n in WORKERS} for mode in MODES}
        for kind in ("processes", "threads")
    }
    try:
        for mode in MODES:  # warm-up: imports, caches
            processes(max(WORKERS), mode, min(0.2, seconds))
        for _ in range(rounds):
            for mode in MODES:
                for n in WORKERS:
                    samples["processes"][mode][n].append(_figures(processes(n, mode, seconds)))
                    samples["threads"][mode][n].append(
                        _figures(_in_threads(n, mode, seconds, tokens, jwk))
                    )
    finally:
        for pipe in pipes:
            pipe.send(None)
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
                proc.join()
    result: dict[str, Any] = {}
    for kind, modes in samples.items():
        result[kind] = {}
        for mode, by_count in modes.items():
            rate, per_cpu, cores = (
                {n: statistics.median(f[i] for f in values) for n, values in by_count.items()}
                for i in range(3)
            )
            result[kind][mode] = {
                "validations_per_second": {str(n): round(r) for n, r in rate.items()},
                "per_cpu_second": {str(n): round(r) for n, r in per_cpu.items()},
                "cores_used": {str(n): round(c, 2) for n, c in cores.items()},
                "speedup_2_vs_1": round(rate[2] / rate[1], 2),
                # What each worker keeps of its single-worker speed per CPU second:
                # times 2, the speedup two free cores would give.
                "cpu_efficiency_2_vs_1": round(per_cpu[2] / per_cpu[1], 2),
            }
    return result


def _autogroup() -> bool | None:
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as flag:
            return flag.read().strip() == "1"
    except OSError:  # not Linux, or no such scheduler feature
        return None


def main(quick: bool = False) -> dict[str, Any]:
    """Measure validation throughput with 1 and 2 worker processes, and 1 and 2 threads.

    Args:
        quick: One round of 0.3 s runs instead of five of 2 s.

    Returns:
        ``processes`` and ``threads``, each per mode (``distinct``,
        ``repeated``) with, for 1 and 2 workers, validations per second (all
        workers), per CPU second (one worker) and the cores they got, the
        wall-clock speedup and the CPU efficiency; the usable CPU count.
    """
    rounds, seconds, pool = (1, 0.3, 100) if quick else (5, 2.0, 400)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        usable = os.cpu_count() or 1
    with no_descope_env():
        result = _run(rounds, seconds, pool)
    return {
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "scheduler_autogroup": _autogroup(),
        "rounds": rounds,
        "seconds_per_run": seconds,
        "distinct_tokens": pool,
        **result,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
