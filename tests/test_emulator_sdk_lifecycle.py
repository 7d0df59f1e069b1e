"""Our SDK against the emulator for what the raw-HTTP emulator tests also cover:
key expiry on the emulator's clock, permitted IPs and persistence across restarts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from descope_keys import (
    AsyncDescopeKeys,
    AuthenticationError,
    PermissionDeniedError,
    RetryPolicy,
)
from descope_keys.emulator import Emulator


def _client(emu: Emulator) -> AsyncDescopeKeys:
    return AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=RetryPolicy.disabled()
    )


async def test_an_expired_key_can_no_longer_be_exchanged() -> None:
    async with Emulator() as emu, _client(emu) as client:
        created = await client.access_keys.create("short", expire_time=timedelta(minutes=5))
        token = await client.exchange_access_key(created.cleartext)
        assert token.expires_at <= created.key.expire_time  # type: ignore[operator]
        emu.clock.advance(301)
        with pytest.raises(AuthenticationError):
            await client.exchange_access_key(created.cleartext)


async def test_a_caller_outside_permitted_ips_is_refused_and_inside_is_served() -> None:
    async with Emulator() as emu, _client(emu) as client:
        outside = await client.access_keys.create("far", permitted_ips=["10.0.0.0/8"])
        inside = await client.access_keys.create("near", permitted_ips=["127.0.0.0/8", "::1"])
        with pytest.raises(PermissionDeniedError):
            await client.exchange_access_key(outside.cleartext)
        assert (await client.exchange_access_key(inside.cleartext)).key_id == inside.key.id
        await client.access_keys.update(outside.key.id, name="far", permitted_ips=[])
        assert (await client.exchange_access_key(outside.cleartext)).key_id == outside.key.id


async def test_keys_survive_an_emulator_restart_with_a_database(tmp_path: Path) -> None:
    db = tmp_path / "keys.sqlite"
    async with Emulator(db=str(db)) as first, _client(first) as client:
        project_id, management_key = first.project_id, first.management_key
        created = await client.access_keys.create("durable", role_names=["viewer"])
    second = Emulator(project_id, management_key, db=str(db))
    async with second, _client(second) as client:
        loaded = await client.access_keys.load(created.key.id)
        token = await client.exchange_access_key(created.cleartext)
    assert loaded.name == "durable"
    assert loaded.role_names == ("viewer",)
    assert token.key_id == created.key.id
    assert token.roles == ("viewer",)
