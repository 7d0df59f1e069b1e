"""Real tokens from real exchanges on an emulator on 127.0.0.1, for the integration tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization

from descope_keys import AsyncDescopeKeys, KeyTenant, RetryPolicy
from descope_keys.emulator import Emulator
from tests._jwt_factory import claims, mint, private_key

# Index 2 of the factory's keys signs for the emulator, so that tests can
# also mint tokens the emulator would never issue (dct without tenants,
# expired) under a kid its JWKS publishes.
_EMULATOR_KEY = 2
ROLE_PERMISSIONS = {"admin": ["write", "read"], "viewer": ["read"]}


@dataclass(frozen=True)
class Tokens:
    """Session JWTs for the keys of the scenario (each a real bearer credential)."""

    viewer: str  # project role viewer
    admin: str  # project role admin
    tenant: str  # T1: admin, T2: viewer; exchanged with selected_tenant="T1"
    dct_only: str  # no "tenants" claim: dct=T1 plus top-level roles [admin]
    expired: str
    forged: str  # the emulator's kid, another key's signature


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    pem = private_key(_EMULATOR_KEY).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    async with Emulator(role_permissions=ROLE_PERMISSIONS, signing_key=pem) as emu:
        yield emu


def new_client(emu: Emulator) -> AsyncDescopeKeys:
    """A fresh client (cold JWKS cache) for ``emu``, without retries."""
    return AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=RetryPolicy.disabled()
    )


def jwks_fetches(emu: Emulator) -> int:
    return emu.request_counts[f"/v2/keys/{emu.project_id}"]


@pytest.fixture
async def tokens(emulator: Emulator) -> Tokens:
    async with new_client(emulator) as client:
        keys = client.access_keys
        viewer = await keys.create("viewer-bot", role_names=["viewer"])
        admin = await keys.create("admin-bot", role_names=["admin"])
        tenant = await keys.create(
            "tenant-bot",
            key_tenants=[KeyTenant("T1", role_names=["admin"]), KeyTenant("T2", ["viewer"])],
        )
        exchanged = [
            await client.exchange_access_key(viewer.cleartext),
            await client.exchange_access_key(admin.cleartext),
            await client.exchange_access_key(tenant.cleartext, selected_tenant="T1"),
        ]
    kid = emulator.signing_kid
    now = int(time.time())
    dct_only = claims(
        emulator.project_id, tenants=None, dct="T1", roles=["admin"], permissions=["write"]
    )
    expired = claims(emulator.project_id, iat=now - 7200, exp=now - 3600)
    return Tokens(
        viewer=exchanged[0].jwt,
        admin=exchanged[1].jwt,
        tenant=exchanged[2].jwt,
        dct_only=mint(private_key(_EMULATOR_KEY), dct_only, kid=kid),
        expired=mint(private_key(_EMULATOR_KEY), expired, kid=kid),
        forged=mint(private_key(0), claims(emulator.project_id), kid=kid),
    )
