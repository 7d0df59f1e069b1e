"""Secrets never show in repr, str, logs or exception text."""

from __future__ import annotations

import logging
import traceback

import pytest

from descope_keys import AsyncDescopeKeys, AuthenticationError, CreatedAccessKey, TransportError
from tests._aioresponses_compat import compat_aioresponses
from tests._servers import closed_port
from tests._wire import key_json
from tests.conftest import MANAGEMENT_KEY, MOCK_BASE_URL, PROJECT_ID

CLEARTEXT = "K1:cleartext-SECRET-value-0042"


def test_created_key_hides_the_cleartext() -> None:
    from descope_keys._converter import converter
    from descope_keys._models import AccessKey

    created = CreatedAccessKey(converter.structure(key_json(), AccessKey), CLEARTEXT)
    assert CLEARTEXT not in repr(created)
    assert CLEARTEXT not in str(created)
    assert created.cleartext == CLEARTEXT


async def test_logs_never_carry_secrets(
    client: AsyncDescopeKeys, mocked: compat_aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mocked.post(
        MOCK_BASE_URL + "/v1/mgmt/accesskey/create",
        payload={"key": key_json(), "cleartext": CLEARTEXT},
    )
    mocked.post(MOCK_BASE_URL + "/v1/auth/accesskey/exchange", status=401, payload={})
    await client.access_keys.create("ci-bot")
    with pytest.raises(AuthenticationError):
        await client.exchange_access_key(CLEARTEXT)
    assert any("access_keys.create" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        text = record.getMessage()
        assert MANAGEMENT_KEY not in text
        assert CLEARTEXT not in text


async def test_exchange_failure_text_and_traceback_hide_the_secret(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.post(
        MOCK_BASE_URL + "/v1/auth/accesskey/exchange",
        status=401,
        payload={"errorCode": "E061103", "errorDescription": "Access key is invalid"},
    )
    with pytest.raises(AuthenticationError) as info:
        await client.exchange_access_key(CLEARTEXT)
    rendered = "".join(traceback.format_exception(info.value))
    assert CLEARTEXT not in rendered
    assert MANAGEMENT_KEY not in rendered
    assert "Access key is invalid" in str(info.value)


async def test_connection_failure_text_hides_credentials() -> None:
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=f"http://127.0.0.1:{closed_port()}"
    ) as client:
        with pytest.raises(TransportError) as info:
            await client.exchange_access_key(CLEARTEXT)
    rendered = "".join(traceback.format_exception(info.value))
    assert CLEARTEXT not in rendered
    assert MANAGEMENT_KEY not in rendered
