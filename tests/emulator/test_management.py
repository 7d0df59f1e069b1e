"""Management endpoints over HTTP: create, load, search, update, status, delete, batches."""

from __future__ import annotations

import pytest

from descope_keys.emulator import Emulator
from tests.emulator.conftest import Api

CREATE = "/v1/mgmt/accesskey/create"
SEARCH = "/v1/mgmt/accesskey/search"
UPDATE = "/v1/mgmt/accesskey/update"
WIRE_FIELDS = {
    "id",
    "name",
    "roleNames",
    "keyTenants",
    "status",
    "createdTime",
    "expireTime",
    "createdBy",
    "clientId",
    "boundUserId",
    "customClaims",
    "description",
    "permittedIps",
    "customAttributes",
}


async def test_create_returns_the_key_and_a_cleartext_once(api: Api, emulator: Emulator) -> None:
    now = int(emulator.clock.now())
    created = await api.create(
        "ci-bot",
        expireTime=now + 3600,
        roleNames=["viewer"],
        userId="U1",
        customClaims={"team": "infra"},
        description="deploys things",
        permittedIps=["10.0.0.1", "192.168.1.0/24"],
        customAttributes={"env": "prod"},
    )
    key = created["key"]
    assert set(key) >= WIRE_FIELDS
    assert key["id"].startswith("K")
    assert created["cleartext"].startswith(key["id"])
    assert key["name"] == "ci-bot"
    assert key["status"] == "active"
    assert key["roleNames"] == ["viewer"]
    assert key["boundUserId"] == "U1"
    assert key["expireTime"] == now + 3600
    assert abs(key["createdTime"] - now) <= 2
    assert key["customClaims"] == {"team": "infra"}
    assert key["permittedIps"] == ["10.0.0.1", "192.168.1.0/24"]
    assert key["customAttributes"] == {"env": "prod"}
    status, loaded = await api.load(key["id"])
    assert status == 200
    assert loaded == {"key": key}
    assert "cleartext" not in loaded


async def test_create_treats_null_empty_and_missing_alike(api: Api) -> None:
    # The official SDK sends every field, null when unset.
    nulls = await api.create(
        "a",
        expireTime=0,
        roleNames=[],
        keyTenants=[],
        userId=None,
        customClaims=None,
        description=None,
        permittedIps=None,
        customAttributes=None,
    )
    bare = await api.create("b")
    for created in (nulls, bare):
        key = created["key"]
        assert key["expireTime"] == 0
        assert key["roleNames"] == []
        assert key["keyTenants"] == []
        assert key["boundUserId"] == ""
        assert key["customClaims"] == {}
        assert key["description"] == ""
        assert key["permittedIps"] == []
        assert key["customAttributes"] == {}


async def test_create_with_tenants_normalizes_them(api: Api) -> None:
    created = await api.create(
        "tenanted", keyTenants=[{"tenantId": "T1", "roleNames": ["admin"]}, {"tenantId": "T2"}]
    )
    assert created["key"]["keyTenants"] == [
        {"tenantId": "T1", "roleNames": ["admin"], "tenantName": ""},
        {"tenantId": "T2", "roleNames": [], "tenantName": ""},
    ]


async def test_each_key_gets_a_distinct_id_and_secret(api: Api) -> None:
    created = [await api.create(f"k{i}") for i in range(5)]
    assert len({c["key"]["id"] for c in created}) == 5
    assert len({c["cleartext"] for c in created}) == 5


async def test_load_of_unknown_id_is_404_with_an_emulator_code(api: Api) -> None:
    status, body = await api.load("Knope")
    assert status == 404
    assert body["errorCode"] == "E900404"
    assert set(body) == {"errorCode", "errorDescription", "errorMessage"}


async def test_load_without_id_is_400_missing_argument(api: Api) -> None:
    status, body = await api.mgmt("GET", "/v1/mgmt/accesskey")
    assert (status, body["errorCode"]) == (400, "E011002")


async def _ids(api: Api, **filters: object) -> set[str]:
    body = await api.ok("POST", SEARCH, filters)
    return {k["id"] for k in body["keys"]}


async def test_search_without_filters_returns_every_key_in_creation_order(api: Api) -> None:
    ids = [(await api.create(f"k{i}"))["key"]["id"] for i in range(3)]
    body = await api.ok(
        "POST",
        SEARCH,
        {"tenantIds": [], "boundUserId": None, "creatingUser": None, "customAttributes": None},
    )
    assert [k["id"] for k in body["keys"]] == ids


async def test_search_by_tenant_matches_any_of_the_given_tenants(api: Api) -> None:
    t1 = (await api.create("t1", keyTenants=[{"tenantId": "T1"}]))["key"]["id"]
    t2 = (await api.create("t2", keyTenants=[{"tenantId": "T2"}, {"tenantId": "T9"}]))["key"]["id"]
    await api.create("none")
    assert await _ids(api, tenantIds=["T1"]) == {t1}
    assert await _ids(api, tenantIds=["T1", "T2"]) == {t1, t2}
    assert await _ids(api, tenantIds=["T3"]) == set()


async def test_search_by_bound_user(api: Api) -> None:
    bound = (await api.create("bound", userId="U1"))["key"]["id"]
    await api.create("other", userId="U2")
    await api.create("unbound")
    assert await _ids(api, boundUserId="U1") == {bound}


async def test_search_by_creating_user(api: Api, emulator: Emulator) -> None:
    first = (await api.create("first"))["key"]["id"]
    emulator.created_by = "alice@example.com"
    second = (await api.create("second"))["key"]["id"]
    assert await _ids(api, creatingUser="alice@example.com") == {second}
    assert await _ids(api, creatingUser="management-key") == {first}


async def test_search_by_custom_attributes_needs_every_attribute(api: Api) -> None:
    both = (await api.create("a", customAttributes={"env": "prod", "team": "x"}))["key"]["id"]
    prod = (await api.create("b", customAttributes={"env": "prod"}))["key"]["id"]
    dev = (await api.create("c", customAttributes={"env": "dev"}))["key"]["id"]
    assert await _ids(api, customAttributes={"env": "prod"}) == {both, prod}
    assert await _ids(api, customAttributes={"env": "prod", "team": "x"}) == {both}
    assert await _ids(api, customAttributes={"env": ["prod", "dev"]}) == {both, prod, dev}


async def test_search_combines_filters_with_and(api: Api) -> None:
    match = (await api.create("m", userId="U1", keyTenants=[{"tenantId": "T1"}]))["key"]["id"]
    await api.create("wrong-user", userId="U2", keyTenants=[{"tenantId": "T1"}])
    await api.create("wrong-tenant", userId="U1", keyTenants=[{"tenantId": "T2"}])
    assert await _ids(api, tenantIds=["T1"], boundUserId="U1") == {match}


async def test_search_sorts_when_asked(api: Api) -> None:
    for name in ("b", "c", "a"):
        await api.create(name)
    body = await api.ok("POST", SEARCH, {"sort": [{"field": "name", "desc": True}]})
    assert [k["name"] for k in body["keys"]] == ["c", "b", "a"]
    status, error = await api.mgmt("POST", SEARCH, {"sort": [{"field": "cleartext"}]})
    assert (status, error["errorCode"]) == (400, "E011003")


async def test_update_sets_name_and_keeps_absent_fields(api: Api) -> None:
    key = (
        await api.create(
            "old",
            roleNames=["viewer"],
            description="d",
            customClaims={"c": 1},
            permittedIps=["10.0.0.0/8"],
            customAttributes={"a": 1},
        )
    )["key"]
    body = await api.ok("POST", UPDATE, {"id": key["id"], "name": "new"})
    assert body["key"] == {**key, "name": "new"}
    assert await api.load(key["id"]) == (200, body)


async def test_update_with_empty_lists_clears_them(api: Api) -> None:
    key = (await api.create("k", roleNames=["viewer"], permittedIps=["10.0.0.0/8"]))["key"]
    body = await api.ok(
        "POST",
        UPDATE,
        {"id": key["id"], "name": "k", "roleNames": [], "permittedIps": [], "customClaims": {}},
    )
    assert body["key"]["roleNames"] == []
    assert body["key"]["permittedIps"] == []
    assert body["key"]["customClaims"] == {}


async def test_update_replaces_given_fields(api: Api) -> None:
    key = (await api.create("k", keyTenants=[{"tenantId": "T1"}]))["key"]
    body = await api.ok(
        "POST",
        UPDATE,
        {
            "id": key["id"],
            "name": "k2",
            "description": "new description",
            "customClaims": {"x": "y"},
            "permittedIps": ["::1"],
            "customAttributes": {"k": "v"},
            "keyTenants": [{"tenantId": "T2", "roleNames": ["admin"]}],
        },
    )
    updated = body["key"]
    assert updated["description"] == "new description"
    assert updated["customClaims"] == {"x": "y"}
    assert updated["permittedIps"] == ["::1"]
    assert updated["customAttributes"] == {"k": "v"}
    assert updated["keyTenants"] == [{"tenantId": "T2", "roleNames": ["admin"], "tenantName": ""}]
    assert (updated["id"], updated["createdTime"]) == (key["id"], key["createdTime"])


async def test_update_requires_id_and_name(api: Api) -> None:
    key = (await api.create("k"))["key"]
    for body in ({"name": "x"}, {"id": key["id"]}, {"id": key["id"], "name": ""}):
        status, error = await api.mgmt("POST", UPDATE, body)
        assert (status, error["errorCode"]) == (400, "E011002")


async def test_update_of_unknown_id_is_404(api: Api) -> None:
    status, error = await api.mgmt("POST", UPDATE, {"id": "Knope", "name": "x"})
    assert (status, error["errorCode"]) == (404, "E900404")


async def test_failed_update_changes_nothing(api: Api) -> None:
    key = (await api.create("k", description="d"))["key"]
    status, _ = await api.mgmt(
        "POST", UPDATE, {"id": key["id"], "name": "new", "permittedIps": ["not-an-ip"]}
    )
    assert status == 400
    assert (await api.load(key["id"]))[1]["key"] == key


@pytest.mark.parametrize(("action", "status"), [("deactivate", "inactive"), ("activate", "active")])
async def test_activate_and_deactivate_set_the_status(api: Api, action: str, status: str) -> None:
    key = (await api.create("k"))["key"]
    await api.ok("POST", "/v1/mgmt/accesskey/deactivate", {"id": key["id"]})
    assert await api.ok("POST", f"/v1/mgmt/accesskey/{action}", {"id": key["id"]}) == {}
    assert (await api.load(key["id"]))[1]["key"]["status"] == status


async def test_delete_removes_the_key(api: Api) -> None:
    key = (await api.create("k"))["key"]
    assert await api.ok("POST", "/v1/mgmt/accesskey/delete", {"id": key["id"]}) == {}
    assert (await api.load(key["id"]))[0] == 404
    status, _ = await api.mgmt("POST", "/v1/mgmt/accesskey/delete", {"id": key["id"]})
    assert status == 404


@pytest.mark.parametrize("action", ["activate", "deactivate", "delete", "rotate"])
async def test_single_key_actions_validate_the_id(api: Api, action: str) -> None:
    path = f"/v1/mgmt/accesskey/{action}"
    status, error = await api.mgmt("POST", path, {})
    assert (status, error["errorCode"]) == (400, "E011002")
    status, error = await api.mgmt("POST", path, {"id": 7})
    assert (status, error["errorCode"]) == (400, "E011004")
    status, error = await api.mgmt("POST", path, {"id": "Knope"})
    assert (status, error["errorCode"]) == (404, "E900404")


async def test_batch_deactivate_activate_and_delete(api: Api) -> None:
    ids = [(await api.create(f"k{i}"))["key"]["id"] for i in range(3)]
    keep = (await api.create("keep"))["key"]["id"]
    base = "/v1/mgmt/accesskey"
    assert await api.ok("POST", f"{base}/deactivate/batch", {"ids": ids}) == {}
    statuses = {k["id"]: k["status"] for k in (await api.ok("POST", SEARCH, {}))["keys"]}
    assert statuses == {**dict.fromkeys(ids, "inactive"), keep: "active"}
    assert await api.ok("POST", f"{base}/activate/batch", {"ids": ids[:2]}) == {}
    assert (await api.load(ids[0]))[1]["key"]["status"] == "active"
    assert (await api.load(ids[2]))[1]["key"]["status"] == "inactive"
    assert await api.ok("POST", f"{base}/delete/batch", {"ids": ids}) == {}
    assert await _ids(api) == {keep}


@pytest.mark.parametrize("action", ["activate", "deactivate", "delete"])
async def test_batch_with_an_unknown_id_changes_nothing(api: Api, action: str) -> None:
    key = (await api.create("k"))["key"]
    if action == "activate":
        await api.ok("POST", "/v1/mgmt/accesskey/deactivate", {"id": key["id"]})
        key = (await api.load(key["id"]))[1]["key"]
    status, error = await api.mgmt(
        "POST", f"/v1/mgmt/accesskey/{action}/batch", {"ids": [key["id"], "Knope"]}
    )
    assert (status, error["errorCode"]) == (404, "E900404")
    assert "Knope" in error["errorMessage"]
    assert (await api.load(key["id"]))[1]["key"] == key


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": None}])
async def test_batch_needs_ids(api: Api, body: dict[str, object]) -> None:
    status, error = await api.mgmt("POST", "/v1/mgmt/accesskey/delete/batch", body)
    assert (status, error["errorCode"]) == (400, "E011002")


async def test_license_answers_a_rate_limit_tier(api: Api) -> None:
    body = await api.ok("GET", "/v1/mgmt/license")
    assert isinstance(body["rateLimitTier"], str)


async def test_stored_keys_hook_matches_the_wire_and_holds_no_secret(
    api: Api, emulator: Emulator
) -> None:
    created = await api.create("k")
    stored = emulator.stored_keys()
    assert stored == [created["key"]]
    assert created["cleartext"] not in repr(stored)
    stored[0]["name"] = "changed here only"
    assert emulator.stored_keys()[0]["name"] == "k"
