"""Credentials against the emulator on 127.0.0.1, with tokens that expire within a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from descope_keys import AsyncDescopeKeys, DescopeKeys, RetryPolicy
from descope_keys._endpoints import EXCHANGE
from descope_keys.emulator import Emulator, ThreadedEmulator
from descope_keys.emulator._signing import generate_rsa_key

# Seconds a session token lives: long enough for a warm phase, short enough
# for several refreshes within a test. iat and exp are whole seconds, so a
# token lives between TTL - 1 and TTL seconds from its arrival.
TTL = 3
# No retries inside one exchange: the credentials' own backoff is under test.
NO_RETRY = RetryPolicy.disabled()


@pytest.fixture(autouse=True)
def _no_env_access_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESCOPE_ACCESS_KEY", raising=False)


@pytest.fixture(scope="session")
def signing_pem() -> str:
    return generate_rsa_key().as_pem(private=True).decode("ascii")


@pytest.fixture
async def emu(signing_pem: str) -> AsyncIterator[Emulator]:
    async with Emulator(
        signing_key=signing_pem, session_ttl=TTL, role_permissions={"reader": ["read"]}
    ) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncDescopeKeys]:
    async with AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=NO_RETRY, timeout=5
    ) as c:
        yield c


@pytest.fixture
async def secret(client: AsyncDescopeKeys) -> str:
    created = await client.access_keys.create("machine", role_names=["reader"], key_tenants=())
    return created.cleartext


@pytest.fixture
def threaded(signing_pem: str) -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(
        signing_key=signing_pem, session_ttl=TTL, role_permissions={"reader": ["read"]}
    ) as emulator:
        yield emulator


@pytest.fixture
def sync_client(threaded: ThreadedEmulator) -> Iterator[DescopeKeys]:
    with DescopeKeys(
        threaded.project_id,
        threaded.management_key,
        base_url=threaded.base_url,
        retry=NO_RETRY,
        timeout=5,
    ) as c:
        yield c


@pytest.fixture
def sync_secret(sync_client: DescopeKeys) -> str:
    return sync_client.access_keys.create("machine", role_names=["reader"]).cleartext


def exchanges(emu: Emulator | ThreadedEmulator) -> int:
    """How many exchange requests the emulator has received."""
    return emu.request_counts[EXCHANGE]
