"""Values and the camelCase converter: lenient in production, strict in tests."""

from __future__ import annotations

from datetime import datetime, timezone

import cattrs
import pytest

from descope_keys import (
    AccessKey,
    AccessKeyStatus,
    AsyncDescopeKeys,
    KeyTenant,
    TransportError,
)
from descope_keys._converter import converter, make_converter
from tests._aioresponses_compat import compat_aioresponses
from tests._wire import key_json
from tests.conftest import MOCK_BASE_URL

strict = make_converter(strict=True)


def test_every_documented_field_is_modelled() -> None:
    # The strict twin forbids unknown keys: a field of docs/wire.md §3.2 that we
    # forgot to model fails here.
    key = strict.structure(key_json(), AccessKey)
    assert key.key_tenants == (KeyTenant("T1", ("Admin",), "Tenant One"),)
    assert strict.structure(key_json(), AccessKey) == converter.structure(key_json(), AccessKey)


def test_the_strict_twin_catches_an_unmodelled_field() -> None:
    with pytest.raises(cattrs.BaseValidationError):
        strict.structure(key_json(editable=True), AccessKey)


def test_production_parsing_ignores_unknown_fields_and_nulls() -> None:
    key = converter.structure(
        key_json(editable=True, roleNames=None, keyTenants=None, description=None), AccessKey
    )
    assert key.role_names == ()
    assert key.key_tenants == ()
    assert key.description == ""


def test_epoch_seconds_become_aware_utc_datetimes_and_zero_is_none() -> None:
    key = converter.structure(key_json(createdTime=1_700_000_000, expireTime=0), AccessKey)
    assert key.created_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert key.created_time.tzinfo is timezone.utc
    assert key.expire_time is None
    wire = converter.unstructure(key)
    assert wire["createdTime"] == 1_700_000_000
    assert wire["expireTime"] == 0


def test_unknown_status_is_kept_and_round_trips() -> None:
    key = converter.structure(key_json(status="suspended"), AccessKey)
    assert key.status.value == "suspended"
    assert key.status is AccessKeyStatus("suspended")
    assert key.status not in (AccessKeyStatus.ACTIVE, AccessKeyStatus.INACTIVE)
    assert converter.unstructure(key)["status"] == "suspended"
    assert str(AccessKeyStatus.ACTIVE) == "active"


def test_unstructure_uses_wire_names() -> None:
    wire = converter.unstructure(converter.structure(key_json(), AccessKey))
    assert wire == key_json()


def test_values_are_frozen() -> None:
    key = converter.structure(key_json(), AccessKey)
    with pytest.raises(AttributeError):
        key.name = "other"  # type: ignore[misc]
    assert KeyTenant("T", ["a", "b"]).role_names == ("a", "b")


@pytest.mark.parametrize(
    "bad",
    [
        {"roleNames": "Viewer"},
        {"roleNames": [1, 2]},
        {"customClaims": ["not", "an", "object"]},
        {"createdTime": "yesterday"},
        {"keyTenants": [{"roleNames": ["a"]}]},
    ],
)
async def test_a_malformed_key_in_a_response_is_a_transport_error(
    client: AsyncDescopeKeys, mocked: compat_aioresponses, bad: dict[str, object]
) -> None:
    mocked.get(MOCK_BASE_URL + "/v1/mgmt/accesskey?id=K1", payload={"key": key_json(**bad)})
    with pytest.raises(TransportError, match="malformed access key"):
        await client.access_keys.load("K1")
