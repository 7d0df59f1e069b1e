"""Bad input gets Descope-style error bodies: never a 500, never a traceback."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from descope_keys.emulator import Emulator
from tests.emulator.conftest import PROJECT_ID, Api

CREATE = "/v1/mgmt/accesskey/create"
ERROR_FIELDS = {"errorCode", "errorDescription", "errorMessage"}
MGMT_POSTS = [
    CREATE,
    "/v1/mgmt/accesskey/search",
    "/v1/mgmt/accesskey/update",
    "/v1/mgmt/accesskey/activate",
    "/v1/mgmt/accesskey/deactivate",
    "/v1/mgmt/accesskey/delete",
    "/v1/mgmt/accesskey/rotate",
    "/v1/mgmt/accesskey/activate/batch",
    "/v1/mgmt/accesskey/deactivate/batch",
    "/v1/mgmt/accesskey/delete/batch",
]


def assert_error(status: int, body: Any, want_status: int, want_code: str) -> None:
    assert isinstance(body, dict), body
    assert set(body) == ERROR_FIELDS
    assert (status, body["errorCode"]) == (want_status, want_code), body


async def test_missing_name_is_a_missing_argument(api: Api) -> None:
    for body in ({}, {"name": None}, {"name": ""}):
        assert_error(*await api.mgmt("POST", CREATE, body), 400, "E011002")


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": ',
        "not json",
        "\xff\xfe",
        "[1, 2]",
        '"name"',
        "null",
        '{"name": "\\ud800"}',  # a lone surrogate, escaped in JSON
        '{"name": "k", "customClaims": {"\\udfff": 1}}',
        "[" * 200_000,  # deeper than any parser recursion limit
    ],
)
async def test_malformed_or_non_object_json_is_a_bad_request(api: Api, raw: str) -> None:
    status, body = await api.mgmt("POST", CREATE, data=raw.encode("utf-8", "surrogateescape"))
    assert_error(status, body, 400, "E011001")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 3),
        ("expireTime", "tomorrow"),
        ("expireTime", 1.5),
        ("expireTime", True),
        ("roleNames", "admin"),
        ("roleNames", [1]),
        ("keyTenants", {"tenantId": "T1"}),
        ("keyTenants", ["T1"]),
        ("keyTenants", [{"tenantId": 5}]),
        ("keyTenants", [{"tenantId": "T1", "roleNames": "admin"}]),
        ("userId", 1),
        ("customClaims", ["a"]),
        ("description", {}),
        ("permittedIps", "10.0.0.1"),
        ("customAttributes", "x"),
    ],
)
async def test_wrong_types_are_invalid_arguments(api: Api, field: str, value: Any) -> None:
    status, body = await api.mgmt("POST", CREATE, {"name": "k", field: value})
    assert_error(status, body, 400, "E011004")
    assert field in body["errorMessage"]


@pytest.mark.parametrize(
    "fields",
    [
        {"permittedIps": ["10.0.0.300"]},
        {"permittedIps": ["10.0.0.0/33"]},
        {"permittedIps": ["example.com"]},
        {"expireTime": -5},
        {"expireTime": 1000},  # 1970: in the past
        {"customClaims": {"sub": "someone-else"}},
        {"customClaims": {"roles": ["admin"]}},
        {"customClaims": {"k" * 61: "v"}},
        {"customClaims": {"k": "v" * 501}},
        {"customClaims": {f"c{i}": i for i in range(101)}},
        {"roleNames": ["viewer"], "keyTenants": [{"tenantId": "T1"}]},
        {"keyTenants": [{"tenantId": "T1"}, {"tenantId": "T1"}]},
    ],
)
async def test_rule_violations_are_validation_failures(api: Api, fields: dict[str, Any]) -> None:
    status, body = await api.mgmt("POST", CREATE, {"name": "k", **fields})
    assert_error(status, body, 400, "E011003")


async def test_tenant_without_id_is_a_missing_argument(api: Api) -> None:
    status, body = await api.mgmt("POST", CREATE, {"name": "k", "keyTenants": [{"roleNames": []}]})
    assert_error(status, body, 400, "E011002")


async def test_bodies_over_one_mebibyte_are_refused(api: Api) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    status, body = await api.mgmt("POST", CREATE, data=io.BytesIO(big))
    assert_error(status, body, 413, "E900413")
    assert api.emu.stored_keys() == []


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic abc",
        "Bearer P2emulatortest0000000000000",
        "Bearer P2emulatortest0000000000000:wrong-key",
        "Bearer Pother:mgmt-key-for-emulator-tests-0001",
        "Bearer mgmt-key-for-emulator-tests-0001",
    ],
)
async def test_management_calls_need_the_management_key(
    api: Api, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in [("POST", p) for p in MGMT_POSTS] + [
        ("GET", "/v1/mgmt/accesskey"),
        ("GET", "/v1/mgmt/license"),
    ]:
        status, body = await api.call(method, path, {"name": "k"}, headers=headers)
        assert_error(status, body, 401, "E900401")
    assert api.emu.stored_keys() == []


@pytest.mark.parametrize("path", ["/v1/mgmt/license", "/v1/auth/accesskey/exchange"])
async def test_undecodable_authorization_bytes_are_401(api: Api, path: str) -> None:
    # Raw bytes, as no HTTP client library would send them.
    reader, writer = await asyncio.open_connection("127.0.0.1", api.emu.port)
    method = "GET" if "license" in path else "POST"
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {PROJECT_ID}:"
    writer.write(head.encode() + b"K\xff\xfe.x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.split()[1] == b"401"
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["errorCode"] == "E900401"


async def test_an_access_key_secret_is_not_a_management_key(api: Api) -> None:
    secret = (await api.create("k"))["cleartext"]
    headers = {"Authorization": f"Bearer {api.emu.project_id}:{secret}"}
    status, body = await api.call("POST", CREATE, {"name": "evil"}, headers=headers)
    assert_error(status, body, 401, "E900401")


async def test_unknown_path_and_wrong_method_get_json_errors(api: Api) -> None:
    status, body = await api.mgmt("GET", "/v1/mgmt/nothing-here")
    assert_error(status, body, 404, "E900410")
    status, body = await api.mgmt("GET", CREATE)
    assert_error(status, body, 405, "E900405")


async def test_hooks_are_absent_unless_enabled(api: Api, signing_pem: str) -> None:
    async with Emulator(api.emu.project_id, api.emu.management_key, signing_key=signing_pem) as emu:
        off = Api(api.session, emu)
        status, body = await off.mgmt("GET", "/emulator/clock")
        assert_error(status, body, 404, "E900410")
    status, body = await api.mgmt("GET", "/emulator/clock")
    assert status == 200


GARBAGE: list[Any] = [
    {},
    {"id": None, "ids": None, "name": None},
    {"id": ["K1"], "ids": "K1", "name": {"a": 1}},
    {"id": "", "ids": [""], "name": ""},
    {"id": "K1", "ids": [None], "name": 1e308},
    {"tenantIds": "T1", "boundUserId": 3, "creatingUser": [], "customAttributes": 1},
    {"sort": "name"},
    {"sort": [1]},
    {"loginOptions": "x"},
    {"loginOptions": {"customClaims": 1, "selectedTenant": 2}},
    [],
    "text",
    12,
]


@pytest.mark.parametrize("body", GARBAGE)
async def test_no_garbage_body_causes_a_server_error(api: Api, body: Any) -> None:
    secret = (await api.create("k"))["cleartext"]
    exchange_auth = {"Authorization": f"Bearer {api.emu.project_id}:{secret}"}
    for path in [*MGMT_POSTS, "/v1/auth/accesskey/exchange"]:
        headers = exchange_auth if "exchange" in path else api.mgmt_auth
        status, payload = await api.call("POST", path, body, headers=headers)
        assert status < 500, (path, payload)
        if status >= 400:
            assert isinstance(payload, dict)
            assert set(payload) == ERROR_FIELDS, (path, payload)
            assert "Traceback" not in payload["errorMessage"]
