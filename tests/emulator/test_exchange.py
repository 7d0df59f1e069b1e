"""Exchange: real RS256 tokens with docs/wire.md §5 claims, and every way an exchange must fail."""

from __future__ import annotations

from typing import Any

import pytest

from descope_keys.emulator import Emulator
from tests.emulator.conftest import PROJECT_ID, Api, verify_jwt

JWKS = f"/v2/keys/{PROJECT_ID}"


async def _jwks(api: Api) -> dict[str, Any]:
    status, body = await api.call("GET", JWKS)
    assert status == 200
    return dict(body)


async def _exchange_ok(api: Api, secret: str, **options: Any) -> tuple[dict[str, Any], Any]:
    status, body = await api.exchange(secret, options or None)
    assert status == 200, body
    return verify_jwt(body["sessionJwt"], await _jwks(api)), body


async def test_exchange_returns_a_verifiable_session_jwt(api: Api, emulator: Emulator) -> None:
    created = await api.create("bot", roleNames=["admin", "viewer"])
    claims, body = await _exchange_ok(api, created["cleartext"])
    key_id = created["key"]["id"]
    assert body["keyId"] == key_id
    assert body["expiration"] == claims["exp"]
    assert claims["sub"] == key_id
    assert claims["iss"] == PROJECT_ID
    now = emulator.clock.now()
    assert abs(claims["iat"] - now) <= 2
    assert claims["exp"] - claims["iat"] == 600
    assert claims["roles"] == ["admin", "viewer"]
    # Permissions come from the role map, each once, in first-seen order.
    assert claims["permissions"] == ["keys:read", "keys:write"]
    assert "tenants" not in claims
    assert "dct" not in claims
    assert "nsec" not in claims


async def test_tenant_roles_and_permissions_are_in_the_tenants_claim(api: Api) -> None:
    created = await api.create(
        "bot",
        keyTenants=[
            {"tenantId": "T1", "roleNames": ["deployer"]},
            {"tenantId": "T2", "roleNames": ["viewer", "unknown-role"]},
        ],
    )
    claims, _ = await _exchange_ok(api, created["cleartext"])
    assert claims["tenants"] == {
        "T1": {"roles": ["deployer"], "permissions": ["deploy"]},
        "T2": {"roles": ["viewer", "unknown-role"], "permissions": ["keys:read"]},
    }
    assert claims["roles"] == []
    assert claims["permissions"] == []


async def test_selected_tenant_sets_dct_and_keeps_all_tenants(api: Api) -> None:
    created = await api.create("bot", keyTenants=[{"tenantId": "T1"}, {"tenantId": "T2"}])
    claims, _ = await _exchange_ok(api, created["cleartext"], selectedTenant="T2")
    assert claims["dct"] == "T2"
    assert set(claims["tenants"]) == {"T1", "T2"}


async def test_selecting_a_tenant_the_key_lacks_is_refused(api: Api) -> None:
    created = await api.create("bot", keyTenants=[{"tenantId": "T1"}])
    status, body = await api.exchange(created["cleartext"], {"selectedTenant": "T9"})
    assert (status, body["errorCode"]) == (400, "E011003")


async def test_key_claims_sit_at_top_level_and_exchange_claims_under_nsec(api: Api) -> None:
    created = await api.create("bot", customClaims={"team": "infra", "level": 3})
    claims, _ = await _exchange_ok(
        api, created["cleartext"], customClaims={"requestId": "r1", "sub": "spoofed"}
    )
    assert claims["team"] == "infra"
    assert claims["level"] == 3
    assert claims["nsec"] == {"requestId": "r1", "sub": "spoofed"}
    assert claims["sub"] == created["key"]["id"]  # caller claims never reach the top level
    assert "requestId" not in claims


async def test_exchange_claims_are_limited_like_descope(api: Api) -> None:
    created = await api.create("bot")
    status, body = await api.exchange(created["cleartext"], {"customClaims": {"k": "v" * 501}})
    assert (status, body["errorCode"]) == (400, "E011003")


async def test_token_lifetime_is_capped_at_the_key_expiry(api: Api, emulator: Emulator) -> None:
    expire = int(emulator.clock.now()) + 120
    created = await api.create("short", expireTime=expire)
    claims, body = await _exchange_ok(api, created["cleartext"])
    assert claims["exp"] == expire
    assert body["expiration"] == expire


async def test_session_ttl_is_configurable(api: Api, signing_pem: str) -> None:
    async with Emulator(
        PROJECT_ID, api.emu.management_key, signing_key=signing_pem, session_ttl=30
    ) as emu:
        other = Api(api.session, emu)
        created = await other.create("bot")
        claims, _ = await _exchange_ok(other, created["cleartext"])
        assert claims["exp"] - claims["iat"] == 30


async def test_an_expired_key_cannot_exchange(api: Api, emulator: Emulator) -> None:
    created = await api.create("bot", expireTime=int(emulator.clock.now()) + 60)
    status, _ = await api.exchange(created["cleartext"])
    assert status == 200
    emulator.clock.advance(61)
    status, body = await api.exchange(created["cleartext"])
    assert (status, body["errorCode"]) == (401, "E900401")
    assert "expired" in body["errorMessage"]


async def test_tokens_follow_the_emulator_clock(api: Api, emulator: Emulator) -> None:
    start = emulator.clock.set(2_000_000_000)
    created = await api.create("bot")
    assert abs(created["key"]["createdTime"] - start) <= 2
    status, body = await api.exchange(created["cleartext"])
    assert status == 200
    claims = verify_jwt(body["sessionJwt"], await _jwks(api), verify_exp=False)
    assert abs(claims["iat"] - 2_000_000_000) <= 2


async def test_a_deactivated_key_cannot_exchange_until_activated(api: Api) -> None:
    created = await api.create("bot")
    key_id = created["key"]["id"]
    await api.ok("POST", "/v1/mgmt/accesskey/deactivate", {"id": key_id})
    status, body = await api.exchange(created["cleartext"])
    assert (status, body["errorCode"]) == (401, "E900401")
    await api.ok("POST", "/v1/mgmt/accesskey/activate", {"id": key_id})
    assert (await api.exchange(created["cleartext"]))[0] == 200


async def test_a_deleted_key_cannot_exchange(api: Api) -> None:
    created = await api.create("bot")
    await api.ok("POST", "/v1/mgmt/accesskey/delete", {"id": created["key"]["id"]})
    assert (await api.exchange(created["cleartext"]))[0] == 401


async def test_rotate_invalidates_the_old_secret_at_once(api: Api) -> None:
    created = await api.create("bot", roleNames=["viewer"], description="d")
    status, rotated = await api.mgmt(
        "POST", "/v1/mgmt/accesskey/rotate", {"id": created["key"]["id"]}
    )
    assert status == 200
    assert rotated["key"] == created["key"]  # same id, name, roles, expiry, metadata
    assert rotated["cleartext"] != created["cleartext"]
    assert (await api.exchange(created["cleartext"]))[0] == 401
    claims, _ = await _exchange_ok(api, rotated["cleartext"])
    assert claims["sub"] == created["key"]["id"]


@pytest.mark.parametrize(
    "secret",
    [
        "garbage",
        "Knope.abcdef",
        ".",
        "K",
    ],
)
async def test_unknown_secrets_are_401(api: Api, secret: str) -> None:
    await api.create("bot")
    status, body = await api.exchange(secret)
    assert (status, body["errorCode"]) == (401, "E900401")


async def test_a_forged_secret_for_a_real_key_id_is_401(api: Api) -> None:
    created = await api.create("bot")
    key_id = created["key"]["id"]
    status, _ = await api.exchange(f"{key_id}.{'A' * 43}")
    assert status == 401
    status, _ = await api.exchange(created["cleartext"][:-1])
    assert status == 401


async def test_exchange_checks_the_project_id(api: Api) -> None:
    created = await api.create("bot")
    status, body = await api.call(
        "POST",
        "/v1/auth/accesskey/exchange",
        {"loginOptions": {}},
        headers={"Authorization": f"Bearer Pother:{created['cleartext']}"},
    )
    assert (status, body["errorCode"]) == (401, "E900401")


async def test_exchange_ignores_an_appended_auth_management_key(api: Api) -> None:
    # The official SDK sends "<project>:<secret>:<authManagementKey>" when configured.
    created = await api.create("bot")
    status, body = await api.call(
        "POST",
        "/v1/auth/accesskey/exchange",
        {"loginOptions": {}},
        headers={"Authorization": f"Bearer {PROJECT_ID}:{created['cleartext']}:extra"},
    )
    assert status == 200, body


async def test_the_official_empty_body_and_an_empty_request_both_work(api: Api) -> None:
    created = await api.create("bot")
    auth = {"Authorization": f"Bearer {PROJECT_ID}:{created['cleartext']}"}
    for data in (b"", b"{}", b'{"loginOptions": {}}', b'{"loginOptions": null}'):
        status, _ = await api.call("POST", "/v1/auth/accesskey/exchange", data=data, headers=auth)
        assert status == 200


async def test_jwks_is_public_and_lists_the_signing_key(api: Api, emulator: Emulator) -> None:
    status, body = await api.call("GET", JWKS)
    assert status == 200
    (key,) = body["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"] == emulator.signing_kid
    assert key["e"] == "AQAB"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # never the private parts
    assert body == emulator.jwks()


async def test_jwks_of_another_project_is_404(api: Api) -> None:
    status, body = await api.call("GET", "/v2/keys/Pother")
    assert (status, body["errorCode"]) == (404, "E900406")
