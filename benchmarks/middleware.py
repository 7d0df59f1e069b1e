"""What the aiohttp middleware costs per request, over real HTTP on one server core.

Goal (issue 7): the middleware costs no more than the validation itself plus
10 µs per request.

Two measurements, both with a real session JWT exchanged on the emulator:

- ``http``: requests per second of a trivial aiohttp endpoint served by a
  child process pinned to one CPU, in three variants: ``bare`` (no
  middleware), ``noop`` (an empty middleware: aiohttp's own middleware
  chain) and ``descope`` (``descope_middleware``). Every variant gets the
  same requests, carrying the same valid bearer token (a machine reuses its
  JWT until it expires), so only the middleware differs. The load generator
  runs in this process, on another CPU when there is one, and keeps requests
  pipelined on keep-alive connections so that it is never the bottleneck.
  Variants are interleaved over rounds and the median is kept. Besides the
  rate, the server's CPU time per request is read from ``/proc`` (Linux):
  that is the figure the goal is judged on, since a busy machine moves
  wall-clock rates far more than CPU time. The servers validate against the
  emulator's key set, pinned (no network while timed).
- ``in_process``: microseconds per call of the handler alone, of
  ``validate_token`` alone (warm keys, the same token) and of the middleware
  around the handler; their difference is the middleware's own work.

Run::

    python -m benchmarks.middleware [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from benchmarks._common import serve_app
from descope_keys import AsyncDescopeKeys
from descope_keys.emulator import Emulator
from descope_keys.integrations.aiohttp import descope_middleware

VARIANTS = ("bare", "noop", "descope")
GOAL_EXTRA_US = 10.0
_HOST = "127.0.0.1"
_CONNECTIONS = 8
_DEPTH = 16  # requests in flight per connection
_ROOT = Path(__file__).resolve().parents[1]
_BODY = b'{"ok":true}'
_STATUS_LINE = b"HTTP/1.1 "
_OK_LINE = b"HTTP/1.1 200 "


# -- the server (child process) ------------------------------------------------------


async def _hello(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")


@web.middleware
async def _noop(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    return response


async def _serve(variant: str, config: dict[str, Any]) -> None:
    client = AsyncDescopeKeys(config["project_id"], public_key=config["jwks"])
    middlewares: list[Any] = []
    if variant == "noop":
        middlewares = [_noop]
    elif variant == "descope":
        middlewares = [descope_middleware(client)]
    app = web.Application(middlewares=middlewares)
    app.router.add_get("/bench", _hello)
    await serve_app(app)
    await client.aclose()


def _serve_main(variant: str, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    config = json.loads(sys.stdin.readline())
    asyncio.run(_serve(variant, config))


# -- the load generator --------------------------------------------------------------


class _Pipeline(asyncio.Protocol):
    """Keeps ``_DEPTH`` requests in flight on one connection; counts the responses."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.total = 0
        self.ok = 0
        self._tail_total = b""
        self._tail_ok = b""
        self._owed = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request * _DEPTH)

    def data_received(self, data: bytes) -> None:
        # Markers split across reads are found through a tail shorter than the marker.
        chunk = self._tail_total + data
        done = chunk.count(_STATUS_LINE)
        self._tail_total = chunk[-(len(_STATUS_LINE) - 1) :]
        chunk = self._tail_ok + data
        self.ok += chunk.count(_OK_LINE)
        self._tail_ok = chunk[-(len(_OK_LINE) - 1) :]
        self.total += done
        self._owed += done
        # Refill in batches: one write per response would make this process,
        # not the server, the bottleneck.
        if self._owed >= _DEPTH // 2 and self.transport is not None:
            self.transport.write(self.request * self._owed)
            self._owed = 0


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _rate(
    pid: int, port: int, jwt: str, seconds: float
) -> tuple[float, float | None, float, int]:
    """Responses per second on ``port`` over ``seconds``, the server's CPU µs per
    response, this process's CPU share, and how many responses were not 200."""
    request = (
        f"GET /bench HTTP/1.1\r\nHost: {_HOST}:{port}\r\nAuthorization: Bearer {jwt}\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    pipes = []
    for _ in range(_CONNECTIONS):
        _, pipe = await loop.create_connection(lambda: _Pipeline(request), _HOST, port)
        pipes.append(pipe)
    try:
        await asyncio.sleep(min(0.3, seconds / 3))  # warm up
        start_total = sum(p.total for p in pipes)
        start_ok = sum(p.ok for p in pipes)
        start_cpu = _cpu_seconds(pid)
        start_own = time.process_time()
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - started
        own_share = (time.process_time() - start_own) / elapsed
        end_cpu = _cpu_seconds(pid)
        total = sum(p.total for p in pipes) - start_total
        ok = sum(p.ok for p in pipes) - start_ok
    finally:
        for pipe in pipes:
            if pipe.transport is not None:
                pipe.transport.close()
    cpu_us = None
    if start_cpu is not None and end_cpu is not None and total:
        cpu_us = (end_cpu - start_cpu) / total * 1e6
    return total / elapsed, cpu_us, own_share, total - ok


async def _start_server(variant: str, config: dict[str, Any], cpu: int | None) -> Any:
    args = [sys.executable, "-m", "benchmarks.middleware", "--serve", variant]
    if cpu is not None:
        args += ["--cpu", str(cpu)]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps(config).encode() + b"\n")
    await proc.stdin.drain()
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not line.strip():
        raise RuntimeError(f"the {variant} server did not start")
    proc.port = int(line)
    return proc


async def _stop_server(proc: Any) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


# -- in-process timing ---------------------------------------------------------------


async def _per_call_us(fn: Any, arg: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await fn(arg)
    return (time.perf_counter() - started) / n * 1e6


async def _in_process(client: AsyncDescopeKeys, jwt: str, rounds: int, n: int) -> dict[str, float]:
    request = make_mocked_request("GET", "/bench", headers={"Authorization": f"Bearer {jwt}"})
    middleware = descope_middleware(client)
    response = web.Response(body=_BODY)

    async def handler(_: web.Request) -> web.Response:
        return response

    async def guarded(req: web.Request) -> web.StreamResponse:
        return await middleware(req, handler)

    await client.validate_token(jwt)  # warm: keys fetched, token verified once
    samples: dict[str, list[float]] = {"handler": [], "validate_token": [], "middleware": []}
    for _ in range(rounds):
        samples["handler"].append(await _per_call_us(handler, request, n))
        samples["validate_token"].append(await _per_call_us(client.validate_token, jwt, n))
        samples["middleware"].append(await _per_call_us(guarded, request, n))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    medians["middleware_own_work"] = (
        medians["middleware"] - medians["handler"] - medians["validate_token"]
    )
    return {name: round(value, 3) for name, value in medians.items()}


# -- the run -------------------------------------------------------------------------


async def _run(quick: bool) -> dict[str, Any]:
    rounds, seconds, calls = (3, 1.0, 20_000) if quick else (7, 3.0, 200_000)
    cpus = os.cpu_count() or 1
    pinning = cpus >= 2 and hasattr(os, "sched_setaffinity")
    server_cpu, client_cpu = (0, 1) if pinning else (None, None)
    async with (
        Emulator() as emu,
        AsyncDescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as client,
    ):
        created = await client.access_keys.create("bench-bot", role_names=["bench"])
        jwt = (await client.exchange_access_key(created.cleartext)).jwt
        jwks = emu.jwks()
        in_process = await _in_process(client, jwt, rounds, calls)
        fetches = emu.request_counts[f"/v2/keys/{emu.project_id}"]
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})
    config = {"project_id": emu.project_id, "jwks": jwks}
    servers = {v: await _start_server(v, config, server_cpu) for v in VARIANTS}
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    generator_share: list[float] = []
    errors = 0
    try:
        for _ in range(rounds):
            for variant in VARIANTS:
                proc = servers[variant]
                # The same requests for every variant: only the middleware differs.
                rate, cpu_us, share, failed = await _rate(proc.pid, proc.port, jwt, seconds)
                rates[variant].append(rate)
                generator_share.append(share)
                if cpu_us is not None:
                    cpu[variant].append(cpu_us)
                errors += failed
    finally:
        for proc in servers.values():
            await _stop_server(proc)
    rps = {v: round(statistics.median(values), 1) for v, values in rates.items()}
    wall_us = {v: round(1e6 / r, 3) for v, r in rps.items()}
    # CPU time per request is what the middleware adds on its core, and unlike
    # wall-clock rates it barely moves when other work shares the machine.
    cpu_us = {v: round(statistics.median(values), 3) for v, values in cpu.items() if values}
    basis = cpu_us if len(cpu_us) == len(VARIANTS) else wall_us
    delta_us = round(basis["descope"] - basis["bare"], 3)
    limit_us = round(in_process["validate_token"] + GOAL_EXTRA_US, 3)
    return {
        "benchmark": "middleware",
        "quick": quick,
        "python": sys.version.split()[0],
        "cpus": cpus,
        "server_cpu": server_cpu,
        "load_generator_cpu": client_cpu,
        "connections": _CONNECTIONS,
        "pipeline_depth": _DEPTH,
        "rounds": rounds,
        "seconds_per_round": seconds,
        "http": {
            "requests_per_second": rps,
            "wall_us_per_request": wall_us,
            "server_cpu_us_per_request": cpu_us,
            "measured_on": "server_cpu_us_per_request" if basis is cpu_us else "wall",
            "descope_minus_bare_us": delta_us,
            "noop_minus_bare_us": round(basis["noop"] - basis["bare"], 3),
            "non_200_responses": errors,
            # Near 1.0: the load generator, not the server, limited the rates.
            "load_generator_cpu_share_max": round(max(generator_share), 2),
        },
        "in_process_us": in_process,
        "jwks_fetches_in_process": fetches,
        "goal": {
            "rule": f"descope_minus_bare_us <= validate_token + {GOAL_EXTRA_US:g} us",
            "limit_us": limit_us,
            "met": delta_us <= limit_us and errors == 0,
        },
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Measure the aiohttp middleware's cost per request (HTTP and in-process).

    Args:
        quick: Shorter rounds (a few seconds in all), for smoke runs.

    Returns:
        ``http`` (requests per second and µs per request of each variant, and
        the difference), ``in_process_us`` (handler, validate_token,
        middleware, and the middleware's own work), and ``goal``.
    """
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        _serve_main(options.serve, options.cpu)
    else:
        print(json.dumps(main(options.quick), indent=2))
