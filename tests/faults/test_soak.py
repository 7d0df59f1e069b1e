"""Seeded soak: creates, rotates and deletes through a random fault mix.

Workers share a few key names (so creates of one name overlap and their
reconciles must tell each other's keys apart) and each works on the keys it
created. Afterwards the emulator must hold exactly what the calls reported:
every key a call returned exists and its latest secret works; any other key
was named by an error as possibly existing, or is the one key an ambiguous
create said it may have made when it could not name it (its reconcile's
search failed too). Bounded in operations and time;
set DESCOPE_KEYS_SOAK_SEED to replay another mix.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

import pytest

from descope_keys._client import AsyncDescopeKeys
from descope_keys.emulator import Emulator
from descope_keys.errors import AmbiguousResultError, DescopeError
from tests.faults._proxy import HTML_502, Fault, FaultProxy
from tests.faults.conftest import BASE, CREATE, retry_creates_blindly, secret_works

SEED = int(os.environ.get("DESCOPE_KEYS_SOAK_SEED", "5150"))
WORKERS = 8
OPERATIONS = 240  # in all, across the workers
FAULT_RATE = 0.3
NAMES = ("alpha", "beta", "gamma")
MIX = [
    Fault.reset(),
    Fault.drop(),
    Fault.drop(),
    Fault.truncate(),
    Fault.drip(0.05),
    Fault.blackhole(),
    Fault.answer(503),
    Fault.answer(522),
    Fault.answer(502, HTML_502),
    Fault.after(502, HTML_502),
    Fault.after(500),
    Fault.answer(429, headers={"Retry-After": "0"}),
]


class Ledger:
    """What the calls reported, which is what the emulator must hold."""

    def __init__(self) -> None:
        #: Keys that calls said exist, with their latest secret (None: a
        #: rotate failed, so the secret is unknown but the key exists).
        self.live: dict[str, str | None] = {}
        #: Keys an error said may exist (ambiguous create, failed delete).
        self.maybe: set[str] = set()
        #: Names of ambiguous creates that could not name their candidates
        #: (the reconcile's own search failed): at most one key each.
        self.maybe_named: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()


async def _worker(sdk: AsyncDescopeKeys, rng: random.Random, count: int, ledger: Ledger) -> None:
    mine: list[str] = []
    for _ in range(count):
        roll = rng.random()
        if not mine or roll < 0.45:
            name = rng.choice(NAMES)
            try:
                created = await sdk.access_keys.create(name, role_names=["deployer"])
            except AmbiguousResultError as exc:
                ledger.maybe.update(exc.candidate_ids)
                if not exc.candidate_ids:
                    ledger.maybe_named[name] += 1
                ledger.outcomes["create ambiguous"] += 1
            except DescopeError:
                ledger.outcomes["create failed, nothing left"] += 1
            else:
                ledger.live[created.key.id] = created.cleartext
                mine.append(created.key.id)
                ledger.outcomes["create ok"] += 1
        elif roll < 0.75:
            key_id = rng.choice(mine)
            try:
                rotated = await sdk.access_keys.rotate(key_id)
            except DescopeError:
                ledger.live[key_id] = None
                ledger.outcomes["rotate failed"] += 1
            else:
                ledger.live[key_id] = rotated.cleartext
                ledger.outcomes["rotate ok"] += 1
        else:
            key_id = mine.pop(rng.randrange(len(mine)))
            try:
                await sdk.access_keys.delete(key_id)
            except DescopeError:
                del ledger.live[key_id]
                ledger.maybe.add(key_id)
                ledger.outcomes["delete failed"] += 1
            else:
                del ledger.live[key_id]
                ledger.outcomes["delete ok"] += 1


async def _soak(sdk: AsyncDescopeKeys, proxy: FaultProxy) -> Ledger:
    proxy.chaos(random.Random(SEED), FAULT_RATE, MIX, paths=[BASE])
    ledger = Ledger()
    workers = [
        _worker(sdk, random.Random(SEED * 1000 + i), OPERATIONS // WORKERS, ledger)
        for i in range(WORKERS)
    ]
    await asyncio.wait_for(asyncio.gather(*workers), 60)
    proxy.calm()
    return ledger


def _unexplained(emu: Emulator, ledger: Ledger) -> Counter[str]:
    """Stored keys that no call reported, counted by name."""
    reported = set(ledger.live) | ledger.maybe
    unreported = Counter(k["name"] for k in emu.stored_keys() if k["id"] not in reported)
    return unreported - ledger.maybe_named


@pytest.mark.slow
async def test_soak_state_matches_what_the_calls_reported(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator, direct: AsyncDescopeKeys
) -> None:
    ledger = await _soak(sdk, proxy)
    summary = f"seed {SEED}: {dict(ledger.outcomes)}, faults {len(proxy.applied)}"
    print(summary)
    stored = {k["id"] for k in emu.stored_keys()}
    assert set(ledger.live) <= stored, f"reported keys missing; {summary}"
    unexplained = _unexplained(emu, ledger)
    assert not unexplained, f"duplicates or orphans by name {dict(unexplained)}; {summary}"
    for key_id, secret in ledger.live.items():
        if secret is not None:
            assert await secret_works(direct, key_id, secret), f"{key_id}; {summary}"

    # The mix really exercised the dangerous paths.
    committed_create_faults = sum(
        1
        for path, _, kind in proxy.applied
        if path == CREATE and kind in {"drop", "truncate", "drip", "after"}
    )
    assert committed_create_faults >= 10, summary
    assert ledger.outcomes["create ok"] >= OPERATIONS // 4, summary
    assert sum(ledger.outcomes.values()) == OPERATIONS // WORKERS * WORKERS
    # The client's create bookkeeping drained: nothing in flight, pending or locked.
    creates = sdk._creates
    assert (creates._inflight, creates._pending, creates._locks, creates._idle) == ({}, {}, {}, {})
    assert creates._generation == {}


@pytest.mark.slow
async def test_soak_negative_control_catches_the_keys_blind_retries_leave(
    sdk: AsyncDescopeKeys, proxy: FaultProxy, emu: Emulator
) -> None:
    retry_creates_blindly(sdk)  # retry creates like the official SDKs do
    ledger = await _soak(sdk, proxy)
    assert sum(_unexplained(emu, ledger).values()) >= 5
