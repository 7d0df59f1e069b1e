"""HTTP status -> exception class, with Descope's error fields attached."""

from __future__ import annotations

import pytest

from descope_keys import (
    ApiError,
    AsyncDescopeKeys,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from tests._aioresponses_compat import compat_aioresponses
from tests.conftest import MOCK_BASE_URL

LOAD_URL = MOCK_BASE_URL + "/v1/mgmt/accesskey?id=K1"
ERROR_BODY = {
    "errorCode": "E011003",
    "errorDescription": "Request is invalid",
    "errorMessage": "The id field is required",
}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ApiError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (530, ServerError),
    ],
)
async def test_status_maps_to_class_with_error_fields(
    client: AsyncDescopeKeys, mocked: compat_aioresponses, status: int, cls: type[ApiError]
) -> None:
    mocked.get(LOAD_URL, status=status, payload=ERROR_BODY, headers={"x-request-id": "req-42"})
    with pytest.raises(cls) as info:
        await client.access_keys.load("K1")
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.error_code == "E011003"
    assert err.description == "Request is invalid"
    assert err.message == "The id field is required"
    assert err.request_id == "req-42"
    assert err.operation == "access_keys.load"
    assert "E011003" in str(err)
    assert "access_keys.load" in str(err)


async def test_429_parses_retry_after_seconds(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.get(LOAD_URL, status=429, payload={"errorCode": "E130429"}, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitError) as info:
        await client.access_keys.load("K1")
    assert info.value.retry_after == 7.0
    assert info.value.error_code == "E130429"


async def test_non_json_error_body_becomes_an_api_error_without_echoing_it(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 5000 + "</body></html>"
    mocked.get(LOAD_URL, status=502, body=page, content_type="text/html")
    with pytest.raises(ServerError) as info:
        await client.access_keys.load("K1")
    assert info.value.error_code is None
    assert "non-JSON error body (text/html" in str(info.value)
    assert "<html>" not in str(info.value)


async def test_non_json_success_body_is_a_transport_error(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.get(LOAD_URL, status=200, body="<html>captive portal</html>", content_type="text/html")
    with pytest.raises(TransportError, match="non-JSON body"):
        await client.access_keys.load("K1")


async def test_success_without_a_key_is_a_transport_error(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.get(LOAD_URL, status=200, payload={"unexpected": True})
    with pytest.raises(TransportError, match="no access key"):
        await client.access_keys.load("K1")


async def test_create_without_cleartext_is_a_transport_error(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    from tests._wire import key_json

    mocked.post(MOCK_BASE_URL + "/v1/mgmt/accesskey/create", payload={"key": key_json()})
    # The unusable key is deleted (a cleanup that would retry until the deadline).
    mocked.post(MOCK_BASE_URL + "/v1/mgmt/accesskey/delete", payload={})
    with pytest.raises(TransportError, match="no cleartext"):
        await client.access_keys.create("ci-bot")
