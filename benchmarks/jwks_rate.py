"""JWKS requests per hour under the default ``JwksPolicy``, computed by running the real cache.

Not a timing: the JWKS cache of ``descope_keys._jwks`` runs for one simulated
hour on a virtual clock, with an instant fetch, and the fetches are counted.
Traffic is one validation a second (any steady traffic gives the same count:
refreshes are driven by the clock, not by the number of calls). Scenarios:

- ``steady``: tokens signed by a known key; the server sends no
  ``Cache-Control`` (the key set lives ``ttl`` and is refreshed at 80%).
- ``max_age_0``: the server sends ``Cache-Control: max-age=0``; the cache
  still keeps the set for its 30 s floor.
- ``unknown_kid_storm``: besides the steady traffic, every second a token
  with a new random ``kid`` (an attacker, or a key not yet published).
- ``outage``: the JWKS endpoint fails from minute 1 on; the last good set
  keeps validating (``max_stale``) while refreshes are retried.
- ``idle``: one validation at the start, then none.

Per-process figures times the number of processes give a fleet's load on the
JWKS endpoint: every worker process has its own cache. Run::

    python -m benchmarks.jwks_rate
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

from descope_keys import JwksPolicy, TransportError, UnknownKeyError
from descope_keys._jwks import JwksCache

from ._common import KID, public_jwk, signing_key

HOUR = 3600
FLEETS = (1, 4, 16, 64, 256)


class _Simulation:
    def __init__(self, jwks: dict[str, Any], cache_control: str | None, fail_after: float) -> None:
        self.now = 0.0
        self.fetches: list[float] = []
        self.failed: list[float] = []
        self.rejected = 0
        self._jwks = jwks
        self._cache_control = cache_control
        self._fail_after = fail_after
        self.cache = JwksCache(self._fetch, JwksPolicy(), clock=lambda: self.now)

    async def _fetch(self, timeout: float) -> tuple[object, str | None]:
        self.fetches.append(self.now)
        if self.now >= self._fail_after:
            self.failed.append(self.now)
            raise TransportError("JWKS endpoint down (simulated)", operation="jwks")
        return self._jwks, self._cache_control

    async def validate(self, kid: str) -> None:
        # The same steps as TokenValidator.validate around the cache.
        try:
            if self.cache.lookup(kid, may_fetch=True) is None:
                await self.cache.refresh()
                self.cache.lookup(kid, may_fetch=False)
        except (UnknownKeyError, TransportError):
            self.rejected += 1
        await self.settle()

    async def settle(self) -> None:
        # A refresh-ahead is started in the background: let it finish at this instant.
        task = self.cache._task
        if task is not None and not task.done():
            await asyncio.wait({task})


async def _scenario(
    jwks: dict[str, Any],
    *,
    cache_control: str | None = None,
    storm: bool = False,
    fail_after: float = float("inf"),
    idle: bool = False,
) -> dict[str, Any]:
    """Two simulated hours: the first (cold start included) and the second (steady state)."""
    sim = _Simulation(jwks, cache_control, fail_after)
    for second in range(2 * HOUR):
        sim.now = float(second)
        if idle and second > 0:
            continue
        await sim.validate(KID)
        if storm:
            await sim.validate(f"storm{second}")
    await sim.cache.aclose()
    second_hour = [t for t in sim.fetches if t >= HOUR]
    # Fetches a steady hour makes, from the mean interval: a count would
    # depend on where the hour starts.
    interval = (
        (second_hour[-1] - second_hour[0]) / (len(second_hour) - 1)
        if len(second_hour) > 1
        else None
    )
    return {
        "first_hour": sum(t < HOUR for t in sim.fetches),
        "per_hour": round(HOUR / interval, 2) if interval else float(len(second_hour)),
        "interval_s": None if interval is None else round(interval, 1),
        "failed_fetches_per_hour": sum(t >= HOUR for t in sim.failed),
        "rejected_validations_per_hour": round(sim.rejected / 2),
    }


async def _run() -> dict[str, Any]:
    # The outage scenario would log one warning; the count is the result here.
    logging.getLogger("descope_keys.jwks").setLevel(logging.ERROR)
    jwks = {"keys": [public_jwk(signing_key())]}
    scenarios = {
        "steady": await _scenario(jwks),
        "max_age_0": await _scenario(jwks, cache_control="max-age=0"),
        "unknown_kid_storm": await _scenario(jwks, storm=True),
        "outage": await _scenario(jwks, fail_after=60.0),
        "idle": await _scenario(jwks, idle=True),
    }
    policy = JwksPolicy()
    return {
        "policy": {
            "ttl": policy.ttl,
            "unknown_kid_cooldown": policy.unknown_kid_cooldown,
            "max_stale": policy.max_stale,
            "timeout": policy.timeout,
        },
        "per_process": scenarios,
        "fleet_per_hour": {
            str(n): {name: round(s["per_hour"] * n, 1) for name, s in scenarios.items()}
            for n in FLEETS
        },
    }


def main(quick: bool = False) -> dict[str, Any]:
    """Count the JWKS fetches of one simulated hour per scenario, per process and per fleet.

    Args:
        quick: Accepted for the suite's sake; the simulation is always exact and fast.

    Returns:
        ``policy`` (the defaults simulated), ``per_process`` (fetches, failed
        fetches and rejected validations per scenario) and ``fleet_per_hour``
        (fetches per hour for fleets of N processes).
    """
    return asyncio.run(_run())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="same as without")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
