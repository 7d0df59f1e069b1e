"""Exact wire shape of every management operation (docs/wire.md §3)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from descope_keys import (
    AccessKey,
    AccessKeyStatus,
    AsyncDescopeKeys,
    CreatedAccessKey,
    KeyTenant,
)
from tests._aioresponses_compat import compat_aioresponses
from tests._wire import key_json, only_request
from tests.conftest import MANAGEMENT_KEY, MOCK_BASE_URL, PROJECT_ID

BASE = MOCK_BASE_URL + "/v1/mgmt/accesskey"
MGMT_AUTH = f"Bearer {PROJECT_ID}:{MANAGEMENT_KEY}"


def assert_common_headers(headers: dict[str, str]) -> None:
    assert headers["authorization"] == MGMT_AUTH
    assert headers["content-type"] == "application/json"
    assert headers["x-descope-sdk-name"] == "python-descope-keys"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", headers["x-descope-sdk-version"])
    assert headers["x-descope-project-id"] == PROJECT_ID


async def test_create_sends_every_field_like_the_official_sdk(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/create", payload={"key": key_json(), "cleartext": "s3cr3t"})
    expires = datetime(2999, 1, 1, tzinfo=timezone.utc)
    created = await client.access_keys.create(
        "ci-bot",
        expire_time=expires,
        key_tenants=[KeyTenant("T1", ["Admin"])],
        user_id="U9",
        custom_claims={"k1": "v1"},
        description="deploys",
        permitted_ips=["10.0.0.1", "192.168.1.0/24", "2001:db8::/32"],
        custom_attributes={"team": "infra"},
    )
    request = only_request(mocked)
    assert request.method == "POST"
    assert request.path == "/v1/mgmt/accesskey/create"
    assert_common_headers(request.headers)
    assert request.body == {
        "name": "ci-bot",
        "expireTime": int(expires.timestamp()),
        "roleNames": [],
        "keyTenants": [{"tenantId": "T1", "roleNames": ["Admin"]}],
        "userId": "U9",
        "customClaims": {"k1": "v1"},
        "description": "deploys",
        "permittedIps": ["10.0.0.1", "192.168.1.0/24", "2001:db8::/32"],
        "customAttributes": {"team": "infra"},
    }
    assert isinstance(created, CreatedAccessKey)
    assert created.cleartext == "s3cr3t"
    assert created.key.id == "K1"


async def test_create_minimal_sends_nulls_and_empty_lists(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/create", payload={"key": key_json(), "cleartext": "s"})
    await client.access_keys.create("ci-bot", role_names=["Viewer"])
    assert only_request(mocked).body == {
        "name": "ci-bot",
        "expireTime": 0,
        "roleNames": ["Viewer"],
        "keyTenants": [],
        "userId": None,
        "customClaims": None,
        "description": None,
        "permittedIps": None,
        "customAttributes": None,
    }


async def test_create_timedelta_expiry_is_epoch_seconds_from_now(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/create", payload={"key": key_json(), "cleartext": "s"})
    before = datetime.now(timezone.utc).timestamp()
    await client.access_keys.create("ci-bot", expire_time=timedelta(days=30))
    sent_expiry = only_request(mocked).body["expireTime"]
    assert isinstance(sent_expiry, int)
    assert before + 30 * 86400 <= sent_expiry <= before + 30 * 86400 + 5


async def test_load_is_a_get_with_the_id_in_the_query(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.get(BASE + "?id=K1", payload={"key": key_json()})
    key = await client.access_keys.load("K1")
    request = only_request(mocked)
    assert (request.method, request.path, request.query) == (
        "GET",
        "/v1/mgmt/accesskey",
        {"id": "K1"},
    )
    assert request.body is None
    assert_common_headers(request.headers)
    assert key == AccessKey(
        id="K1",
        name="ci-bot",
        status=AccessKeyStatus.ACTIVE,
        role_names=("Viewer",),
        key_tenants=(KeyTenant("T1", ("Admin",), "Tenant One"),),
        created_time=datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc),
        expire_time=None,
        created_by="U1",
        client_id="C1",
        bound_user_id="",
        custom_claims={"k1": "v1"},
        description="",
        permitted_ips=(),
        custom_attributes={},
    )


async def test_search_sends_all_filters(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/search", payload={"keys": [key_json("K1"), key_json("K2")]})
    keys = await client.access_keys.search(
        tenant_ids=["T1", "T2"],
        bound_user_id="U1",
        creating_user="U2",
        custom_attributes={"team": "infra"},
    )
    request = only_request(mocked)
    assert (request.method, request.path) == ("POST", "/v1/mgmt/accesskey/search")
    assert_common_headers(request.headers)
    assert request.body == {
        "tenantIds": ["T1", "T2"],
        "boundUserId": "U1",
        "creatingUser": "U2",
        "customAttributes": {"team": "infra"},
    }
    assert [k.id for k in keys] == ["K1", "K2"]


async def test_search_without_filters_matches_the_official_body(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/search", payload={})
    assert await client.access_keys.search() == []
    assert only_request(mocked).body == {
        "tenantIds": [],
        "boundUserId": None,
        "creatingUser": None,
        "customAttributes": None,
    }


async def test_update_sends_only_the_fields_set(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/update", payload={"key": key_json(name="renamed")})
    key = await client.access_keys.update("K1", name="renamed", description="d")
    request = only_request(mocked)
    assert (request.method, request.path) == ("POST", "/v1/mgmt/accesskey/update")
    assert_common_headers(request.headers)
    assert request.body == {"id": "K1", "name": "renamed", "description": "d"}
    assert key is not None
    assert key.name == "renamed"


async def test_update_empty_lists_clear_and_none_keeps(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/update", payload={})
    result = await client.access_keys.update(
        "K1",
        name="n",
        permitted_ips=[],
        role_names=[],
        custom_claims={"a": 1},
        custom_attributes={"b": 2},
        key_tenants=[],
    )
    assert result is None
    assert only_request(mocked).body == {
        "id": "K1",
        "name": "n",
        "permittedIps": [],
        "roleNames": [],
        "keyTenants": [],
        "customClaims": {"a": 1},
        "customAttributes": {"b": 2},
    }


@pytest.mark.parametrize("operation", ["activate", "deactivate", "delete"])
async def test_single_id_operations(
    client: AsyncDescopeKeys, mocked: compat_aioresponses, operation: str
) -> None:
    mocked.post(f"{BASE}/{operation}", payload={})
    assert await getattr(client.access_keys, operation)("K1") is None
    request = only_request(mocked)
    assert (request.method, request.path) == ("POST", f"/v1/mgmt/accesskey/{operation}")
    assert_common_headers(request.headers)
    assert request.body == {"id": "K1"}


@pytest.mark.parametrize("operation", ["activate", "deactivate", "delete"])
async def test_batch_operations(
    client: AsyncDescopeKeys, mocked: compat_aioresponses, operation: str
) -> None:
    mocked.post(f"{BASE}/{operation}/batch", payload={})
    method = getattr(client.access_keys, f"{operation}_many")
    assert await method(k for k in ["K1", "K2"]) is None
    request = only_request(mocked)
    assert (request.method, request.path) == ("POST", f"/v1/mgmt/accesskey/{operation}/batch")
    assert_common_headers(request.headers)
    assert request.body == {"ids": ["K1", "K2"]}


async def test_rotate_returns_the_new_secret(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(BASE + "/rotate", payload={"key": key_json(), "cleartext": "new-secret"})
    rotated = await client.access_keys.rotate("K1")
    request = only_request(mocked)
    assert (request.method, request.path, request.body) == (
        "POST",
        "/v1/mgmt/accesskey/rotate",
        {"id": "K1"},
    )
    assert_common_headers(request.headers)
    assert rotated.cleartext == "new-secret"
    assert rotated.key.id == "K1"


async def test_unknown_fields_and_statuses_from_a_newer_server_parse(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.get(
        BASE + "?id=K1",
        payload={"key": key_json(status="suspended", editable=True, roleNames=None), "extra": 1},
    )
    key = await client.access_keys.load("K1")
    assert key.status.value == "suspended"
    assert key.status is AccessKeyStatus("suspended")
    assert not key.is_active
    assert key.role_names == ()


@pytest.mark.parametrize(
    ("kwargs", "login_options"),
    [
        ({}, {}),
        (
            {"custom_claims": {"n": 1}, "selected_tenant": "T1"},
            {"customClaims": {"n": 1}, "selectedTenant": "T1"},
        ),
    ],
    ids=["no-options", "claims-and-tenant"],
)
async def test_exchange_sends_login_options_with_the_access_key_as_bearer(
    client: AsyncDescopeKeys,
    mocked: compat_aioresponses,
    kwargs: dict[str, object],
    login_options: dict[str, object],
) -> None:
    from descope_keys import TokenValidationError

    mocked.post(
        MOCK_BASE_URL + "/v1/auth/accesskey/exchange",
        payload={"keyId": "K1", "sessionJwt": "not.a.jwt", "expiration": 1},
    )
    # The fake JWT fails local validation: the request is what this test reads.
    with pytest.raises(TokenValidationError):
        await client.exchange_access_key("K1:the-secret", **kwargs)  # type: ignore[arg-type]
    request = only_request(mocked)
    assert (request.method, request.path) == ("POST", "/v1/auth/accesskey/exchange")
    assert request.headers["authorization"] == f"Bearer {PROJECT_ID}:K1:the-secret"
    assert request.headers["x-descope-sdk-name"] == "python-descope-keys"
    assert request.headers["x-descope-project-id"] == PROJECT_ID
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"loginOptions": login_options}
