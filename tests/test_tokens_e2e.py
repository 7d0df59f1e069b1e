"""Exchange and validation end to end, against the embedded emulator on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from descope_keys import (
    AsyncDescopeKeys,
    JwksPolicy,
    KeyTenant,
    TenantClaims,
    TokenValidationError,
    UnknownKeyError,
)
from descope_keys.emulator import Emulator
from tests._jwt_factory import private_key, public_jwk

ROLE_PERMISSIONS = {"deployer": ["deploy"], "admin": ["keys:read", "keys:write"]}


def _pem(index: int) -> str:
    return (
        private_key(index)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(signing_key=_pem(0), role_permissions=ROLE_PERMISSIONS) as emulator:
        yield emulator


def _jwks_requests(emu: Emulator) -> int:
    return emu.request_counts[f"/v2/keys/{emu.project_id}"]


@pytest.fixture
async def client(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncDescopeKeys]:
    monkeypatch.delenv("DESCOPE_PUBLIC_KEY", raising=False)
    async with AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url
    ) as descope:
        yield descope


async def test_exchange_returns_a_validated_token_whose_claims_match_the_key(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    created = await client.access_keys.create(
        "ci-bot",
        role_names=["deployer"],
        custom_claims={"team": "platform", "tier": 2},
        expire_time=timedelta(days=1),
    )
    token = await client.exchange_access_key(created.cleartext, custom_claims={"run": "42"})
    assert token.key_id == created.key.id
    assert token.project_id == emu.project_id
    assert token.roles == ("deployer",)
    assert token.permissions == ("deploy",)
    assert token.has_role("deployer")
    assert token.has_permission("deploy")
    assert token.tenants == {}
    # Custom claims stored on the key are trusted top-level claims...
    assert token.claims["team"] == "platform"
    assert token.claims["tier"] == 2
    # ...claims passed at exchange sit apart, under nsec.
    assert token.nsec == {"run": "42"}
    assert "run" not in token.claims
    assert token.issued_at is not None
    assert token.expires_at - token.issued_at == timedelta(seconds=600)
    assert created.key.expire_time is not None
    assert token.expires_at <= created.key.expire_time
    assert _jwks_requests(emu) == 1


async def test_exchange_with_tenants_and_a_selected_tenant(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    created = await client.access_keys.create(
        "tenant-bot",
        key_tenants=[KeyTenant("T1", ["admin"]), KeyTenant("T2", ["deployer"])],
    )
    token = await client.exchange_access_key(created.cleartext, selected_tenant="T2")
    assert token.key_id == created.key.id
    assert token.current_tenant == "T2"
    assert token.tenants == {
        "T1": TenantClaims(("admin",), ("keys:read", "keys:write")),
        "T2": TenantClaims(("deployer",), ("deploy",)),
    }
    assert token.has_role("admin", tenant="T1")
    assert token.has_permission("deploy", tenant="T2")
    assert not token.has_role("admin")
    assert not token.has_role("admin", tenant="T2")


async def test_validate_token_reuses_the_exchange_validation(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    created = await client.access_keys.create("bot", role_names=["deployer"])
    exchanged = await client.exchange_access_key(created.cleartext)
    again = await client.validate_token(exchanged.jwt)
    assert again is exchanged  # served by the verified-token cache
    assert _jwks_requests(emu) == 1


async def test_a_rotated_signing_key_is_picked_up(emu: Emulator) -> None:
    policy = JwksPolicy(unknown_kid_cooldown=0.0)
    async with AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, jwks=policy, public_key=None
    ) as client:
        created = await client.access_keys.create("bot", role_names=["deployer"])
        before = await client.exchange_access_key(created.cleartext)
        assert _jwks_requests(emu) == 1
        emu.rotate_signing_key(_pem(1))
        after = await client.exchange_access_key(created.cleartext)
        assert after.key_id == created.key.id
        assert _jwks_requests(emu) == 2  # one refresh, forced by the new kid
        # The old key is still published during rotation: older tokens stay valid.
        assert (await client.validate_token(before.jwt)).key_id == created.key.id
        emu.drop_retired_signing_keys()
        fresh = await client.exchange_access_key(created.cleartext)
        assert fresh.key_id == created.key.id


async def test_exchange_right_after_a_signing_key_switch_refreshes_within_the_cooldown(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    # Default policy: a 30 s unknown-kid cooldown. A token the exchange just
    # received is the service's own word that the key rotated, so it forces
    # one refresh where an arbitrary token would fail fast.
    created = await client.access_keys.create("bot", role_names=["deployer"])
    await client.exchange_access_key(created.cleartext)
    assert _jwks_requests(emu) == 1
    emu.rotate_signing_key(_pem(1))
    after = await client.exchange_access_key(created.cleartext)
    assert after.key_id == created.key.id
    assert _jwks_requests(emu) == 2
    # validate_token keeps the cooldown for tokens of unknown origin.
    emu.rotate_signing_key(_pem(2))
    newest = await client.exchange_access_key(created.cleartext)
    assert _jwks_requests(emu) == 3
    assert (await client.validate_token(newest.jwt)).key_id == created.key.id


async def test_validate_token_keeps_the_cooldown_for_an_unknown_kid(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    created = await client.access_keys.create("bot", role_names=["deployer"])
    await client.exchange_access_key(created.cleartext)
    other = Emulator(signing_key=_pem(3), project_id=emu.project_id)
    async with (
        other,
        AsyncDescopeKeys(
            other.project_id, other.management_key, base_url=other.base_url
        ) as foreign,
    ):
        stray = await foreign.access_keys.create("stray")
        token = await foreign.exchange_access_key(stray.cleartext)
    with pytest.raises(UnknownKeyError):
        await client.validate_token(token.jwt)
    assert _jwks_requests(emu) == 1


async def test_pinned_keys_from_the_environment_never_fetch(
    emu: Emulator, client: AsyncDescopeKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await client.access_keys.create("bot", role_names=["deployer"])
    jwt = (await client.exchange_access_key(created.cleartext)).jwt
    fetched = _jwks_requests(emu)
    monkeypatch.setenv("DESCOPE_PUBLIC_KEY", json.dumps(emu.jwks()))
    # Nothing listens on port 1: any fetch would fail.
    async with AsyncDescopeKeys(emu.project_id, base_url="http://127.0.0.1:1") as offline:
        token = await offline.validate_token(jwt)
        assert token.key_id == created.key.id
        forged_kid = jwt.replace(jwt.split(".")[0], _header_with_kid("nope"), 1)
        with pytest.raises(UnknownKeyError):
            await offline.validate_token(forged_kid)
    assert _jwks_requests(emu) == fetched


async def test_pinned_keys_argument_with_the_network_unreachable(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    created = await client.access_keys.create("bot")
    jwt = (await client.exchange_access_key(created.cleartext)).jwt
    async with AsyncDescopeKeys(
        emu.project_id, base_url="http://127.0.0.1:1", public_key=emu.jwks()
    ) as offline:
        assert (await offline.validate_token(jwt)).key_id == created.key.id


def _header_with_kid(kid: str) -> str:
    raw = json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_exchange_refuses_a_jwt_that_does_not_verify(
    emu: Emulator, client: AsyncDescopeKeys
) -> None:
    created = await client.access_keys.create("bot")
    # Pin a different public key under the emulator's kid: the signature cannot match.
    impostor = public_jwk(private_key(1), emu.signing_kid)
    async with AsyncDescopeKeys(
        emu.project_id, base_url=emu.base_url, public_key=impostor
    ) as pinned:
        with pytest.raises(TokenValidationError) as info:
            await pinned.exchange_access_key(created.cleartext)
    assert info.value.reason == "bad_signature"
