"""The emulator checks every JSON value on the way in: a 400 naming the field, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from descope_keys import AsyncDescopeKeys
from descope_keys._jwt_checks import MAX_TOKEN_CHARS
from descope_keys.emulator import Emulator
from descope_keys.emulator._values import MAX_DEPTH, MAX_STRING
from descope_keys.emulator._wire import CLAIM_KEY_MAX, CLAIM_VALUE_MAX, CLAIMS_MAX
from tests.emulator.conftest import Api

CREATE = "/v1/mgmt/accesskey/create"


def nested(depth: int) -> Any:
    """A value that nests ``depth`` containers deep."""
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def raw_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("sort_field", [["id"], {"a": 1}, 5, None, "secret"])
async def test_a_sort_field_of_any_type_is_a_400(api: Api, sort_field: Any) -> None:
    status, body = await api.mgmt(
        "POST", "/v1/mgmt/accesskey/search", {"sort": [{"field": sort_field}]}
    )
    assert status == 400
    assert body["errorCode"] == "E011003"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (f'{{"name": "k", "customAttributes": {{"a": {raw_nested(600)}}}}}', "customAttributes.a"),
        (f'{{"name": "k", "customClaims": {{"c": {raw_nested(MAX_DEPTH)}}}}}', "customClaims.c"),
        ('{"name": "k", "customAttributes": {"a": NaN}}', "customAttributes.a"),
        ('{"name": "k", "customClaims": {"c": [1, Infinity]}}', "customClaims.c[1]"),
        ('{"name": "k", "customAttributes": {"a": -Infinity}}', "customAttributes.a"),
        ('{"name": "k", "expireTime": 1e300}', "expireTime"),
        ('{"name": "k", "expireTime": 1e30}', "expireTime"),
        ('{"name": "k", "expireTime": 1e400}', "expireTime"),
        ('{"name": "k", "expireTime": 253402300800}', "expireTime"),
        ('{"name": "k", "customAttributes": {"n": 1' + "0" * 30 + "}}", "customAttributes.n"),
        ('{"name": "k", "description": "' + "d" * (MAX_STRING + 1) + '"}', "description"),
        ('{"name": "k", "customAttributes": {"' + "n" * (MAX_STRING + 1) + '": 1}}', "customAttr"),
    ],
)
async def test_create_refuses_bad_values_naming_the_field(api: Api, body: str, field: str) -> None:
    status, answer = await api.mgmt("POST", CREATE, data=body)
    assert status == 400, answer
    assert answer["errorMessage"].startswith(field)
    assert set(answer) == {"errorCode", "errorDescription", "errorMessage"}
    status, found = await api.mgmt("POST", "/v1/mgmt/accesskey/search", {})
    assert found["keys"] == []


async def test_the_deepest_accepted_value_leaves_the_key_usable(api: Api) -> None:
    deep = nested(MAX_DEPTH - 2)  # body (1) > customAttributes (2) > a (3) ...
    key = (await api.create(customAttributes={"a": deep}))["key"]
    key_id = key["id"]
    for path, body in [
        ("/v1/mgmt/accesskey/update", {"id": key_id, "name": "renamed"}),
        ("/v1/mgmt/accesskey/deactivate", {"id": key_id}),
        ("/v1/mgmt/accesskey/activate/batch", {"ids": [key_id]}),
        ("/v1/mgmt/accesskey/rotate", {"id": key_id}),
        ("/v1/mgmt/accesskey/search", {"sort": [{"field": "name"}]}),
    ]:
        status, answer = await api.mgmt("POST", path, body)
        assert status == 200, (path, answer)
    status, _ = await api.load(key_id)
    assert status == 200


async def test_exchange_refuses_non_finite_custom_claims(api: Api) -> None:
    secret = (await api.create())["cleartext"]
    auth = {"Authorization": f"Bearer {api.emu.project_id}:{secret}"}
    for claims in ('{"x": NaN}', '{"x": [Infinity]}', '{"x": ' + raw_nested(40) + "}"):
        status, answer = await api.call(
            "POST",
            "/v1/auth/accesskey/exchange",
            data='{"loginOptions": {"customClaims": ' + claims + "}}",
            headers=auth,
        )
        assert status == 400, answer
        assert answer["errorMessage"].startswith("loginOptions.customClaims.x")


def at_the_limits(tag: str) -> dict[str, str]:
    """CLAIMS_MAX claims, names of CLAIM_KEY_MAX characters, values of CLAIM_VALUE_MAX."""
    return {
        f"{tag}{i:03d}".ljust(CLAIM_KEY_MAX, "n"): chr(ord("a") + i % 26) * CLAIM_VALUE_MAX
        for i in range(CLAIMS_MAX)
    }


async def test_a_token_at_the_documented_claim_limits_is_accepted(emulator: Emulator) -> None:
    # Through a real exchange: key claims and the exchange's claims both at the limits.
    key_claims, login_claims = at_the_limits("k"), at_the_limits("x")
    async with AsyncDescopeKeys(
        emulator.project_id, emulator.management_key, base_url=emulator.base_url
    ) as client:
        created = await client.access_keys.create("limits", custom_claims=key_claims)
        token = await client.exchange_access_key(created.cleartext, custom_claims=login_claims)
    assert len(token.jwt) > 64 * 1024  # the old cap would have refused it
    assert len(token.jwt) <= MAX_TOKEN_CHARS
    assert {k: token.claims[k] for k in key_claims} == key_claims
    assert dict(token.nsec) == login_claims
