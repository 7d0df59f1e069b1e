"""The official ``descope`` SDK, unchanged, against the emulator.

A client nobody here wrote runs every access-key operation, the exchange and
its own local JWT validation: this checks our reading of the wire contract.
Its sync client blocks (httpx), so it talks to the thread-backed emulator.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from descope import AuthException, DescopeClient, RateLimitException
from descope.common import AccessKeyLoginOptions
from descope.descope_client_async import DescopeClientAsync
from descope.management.common import AssociatedTenant

from descope_keys.emulator import Emulator, ThreadedEmulator
from tests.emulator.conftest import emulator_kwargs


@pytest.fixture
def emu(signing_pem: str) -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(**emulator_kwargs(signing_pem)) as emulator:
        yield emulator


@pytest.fixture
def official(emu: ThreadedEmulator) -> DescopeClient:
    return DescopeClient(emu.project_id, management_key=emu.management_key, base_url=emu.base_url)


def test_start_up_license_handshake_is_answered(emu: ThreadedEmulator) -> None:
    client = DescopeClient(emu.project_id, management_key=emu.management_key, base_url=emu.base_url)
    assert client._mgmt_http_client.rate_limit_tier == "emulator"
    assert emu.request_counts["/v1/mgmt/license"] == 1


def test_full_access_key_lifecycle(official: DescopeClient, emu: ThreadedEmulator) -> None:
    ak = official.mgmt.access_key
    expire = int(emu.clock.now()) + 3600
    created = ak.create(
        "ci-bot",
        expire_time=expire,
        key_tenants=[AssociatedTenant("T1", ["admin"]), AssociatedTenant("T2")],
        user_id="U1",
        custom_claims={"team": "infra"},
        description="deploys",
        permitted_ips=["127.0.0.1", "10.0.0.0/8"],
        custom_attributes={"env": "prod"},
    )
    key, secret = created["key"], created["cleartext"]
    assert key["name"] == "ci-bot"
    assert key["expireTime"] == expire
    assert key["keyTenants"][0]["roleNames"] == ["admin"]

    assert ak.load(key["id"])["key"] == key
    assert [k["id"] for k in ak.search_all_access_keys(tenant_ids=["T2"])["keys"]] == [key["id"]]
    assert ak.search_all_access_keys(tenant_ids=["T3"])["keys"] == []
    assert len(ak.search_all_access_keys(bound_user_id="U1")["keys"]) == 1
    assert len(ak.search_all_access_keys(creating_user="management-key")["keys"]) == 1
    assert len(ak.search_all_access_keys(custom_attributes={"env": "prod"})["keys"]) == 1
    assert ak.search_all_access_keys(custom_attributes={"env": "dev"})["keys"] == []

    ak.update(key["id"], "ci-bot-2", description="renamed", custom_claims={"team": "platform"})
    updated = ak.load(key["id"])["key"]
    assert (updated["name"], updated["description"]) == ("ci-bot-2", "renamed")
    assert updated["customClaims"] == {"team": "platform"}
    assert updated["permittedIps"] == ["127.0.0.1", "10.0.0.0/8"]  # absent: kept

    ak.deactivate(key["id"])
    assert ak.load(key["id"])["key"]["status"] == "inactive"
    with pytest.raises(AuthException) as failed:
        official.exchange_access_key(secret)
    assert failed.value.status_code == 401
    ak.activate(key["id"])

    rotated = ak.rotate(key["id"])
    assert rotated["key"]["id"] == key["id"]
    with pytest.raises(AuthException) as failed:
        official.exchange_access_key(secret)
    assert failed.value.status_code == 401
    secret = rotated["cleartext"]

    ak.delete(key["id"])
    with pytest.raises(AuthException) as failed:
        ak.load(key["id"])
    assert failed.value.status_code == 404


def test_exchange_and_local_validation(official: DescopeClient, emu: ThreadedEmulator) -> None:
    created = official.mgmt.access_key.create(
        "bot",
        key_tenants=[AssociatedTenant("T1", ["deployer"])],
        custom_claims={"team": "infra"},
    )
    secret, key_id = created["cleartext"], created["key"]["id"]
    # exchange_access_key validates the token itself (JWKS fetch + RS256 check).
    info = official.exchange_access_key(
        secret,
        login_options=AccessKeyLoginOptions(custom_claims={"req": "r1"}, selected_tenant="T1"),
    )
    assert info["keyId"] == key_id
    assert info["projectId"] == emu.project_id
    assert info["tenants"] == {"T1": {"roles": ["deployer"], "permissions": ["deploy"]}}
    session = info["sessionToken"]
    assert session["team"] == "infra"
    assert session["nsec"] == {"req": "r1"}
    assert session["dct"] == "T1"

    validated = official.validate_session(session["jwt"])
    assert validated["userId"] == key_id
    assert validated["projectId"] == emu.project_id
    assert official.validate_tenant_permissions(validated, "T1", ["deploy"])
    assert not official.validate_tenant_permissions(validated, "T1", ["keys:write"])


def test_validation_survives_a_signing_key_rotation(
    official: DescopeClient, emu: ThreadedEmulator
) -> None:
    secret = official.mgmt.access_key.create("bot", role_names=["viewer"])["cleartext"]
    old_jwt = official.exchange_access_key(secret)["sessionToken"]["jwt"]
    jwks_fetches = emu.request_counts[f"/v2/keys/{emu.project_id}"]
    assert jwks_fetches == 1

    emu.rotate_signing_key()
    new_jwt = official.exchange_access_key(secret)["sessionToken"]["jwt"]  # unknown kid: refetch
    assert emu.request_counts[f"/v2/keys/{emu.project_id}"] == 2
    assert official.validate_session(new_jwt)["permissions"] == ["keys:read"]
    assert official.validate_session(old_jwt)["roles"] == ["viewer"]  # retired key still published


def test_batch_operations(official: DescopeClient, emu: ThreadedEmulator) -> None:
    ak = official.mgmt.access_key
    ids = [ak.create(f"k{i}")["key"]["id"] for i in range(3)]
    ak.deactivate_batch(ids)
    assert {k["status"] for k in emu.stored_keys()} == {"inactive"}
    ak.activate_batch(ids[:1])
    assert ak.load(ids[0])["key"]["status"] == "active"
    ak.delete_batch(ids)
    assert emu.stored_keys() == []


def test_errors_reach_the_official_sdk_as_descope_errors(
    official: DescopeClient, emu: ThreadedEmulator
) -> None:
    with pytest.raises(AuthException) as failed:
        official.mgmt.access_key.create("")
    assert failed.value.status_code == 400
    assert "E011002" in str(failed.value.error_message)
    wrong = DescopeClient(emu.project_id, management_key="wrong", base_url=emu.base_url)
    with pytest.raises(AuthException) as failed:
        wrong.mgmt.access_key.search_all_access_keys()
    assert failed.value.status_code == 401


def test_rate_limits_and_retried_503s(official: DescopeClient, emu: ThreadedEmulator) -> None:
    emu.inject_fault("/v1/mgmt/accesskey/create", status=503)
    official.mgmt.access_key.create("retried")  # the official SDK retries 503 once after 0.1 s
    assert emu.request_counts["/v1/mgmt/accesskey/create"] == 2

    emu.rate_limit(0, retry_after=9)
    with pytest.raises(RateLimitException) as limited:
        official.mgmt.access_key.search_all_access_keys()
    assert limited.value.rate_limit_parameters == {"Retry-After": 9}


async def test_the_official_async_client(signing_pem: str) -> None:
    async with (
        Emulator(**emulator_kwargs(signing_pem)) as emu,
        DescopeClientAsync(
            emu.project_id, management_key=emu.management_key, base_url=emu.base_url
        ) as client,
    ):
        ak = client.mgmt.access_key
        created = await ak.create("async-bot", role_names=["admin"])
        key_id = created["key"]["id"]
        assert (await ak.load(key_id))["key"]["name"] == "async-bot"
        assert len((await ak.search_all_access_keys())["keys"]) == 1
        await ak.update(key_id, "renamed", permitted_ips=["127.0.0.1"])
        info = await client.exchange_access_key(created["cleartext"])
        assert info["keyId"] == key_id
        validated = await client.validate_session(info["sessionToken"]["jwt"])
        assert validated["permissions"] == ["keys:read", "keys:write"]
        rotated = await ak.rotate(key_id)
        with pytest.raises(AuthException):
            await client.exchange_access_key(created["cleartext"])
        assert (await client.exchange_access_key(rotated["cleartext"]))["keyId"] == key_id
        await ak.deactivate_batch([key_id])
        await ak.activate_batch([key_id])
        await ak.deactivate(key_id)
        await ak.activate(key_id)
        await ak.delete_batch([key_id])
        assert emu.stored_keys() == []
