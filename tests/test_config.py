"""Constructor configuration: environment fallbacks and base-URL rules (docs/wire.md §1)."""

from __future__ import annotations

import math

import pytest

from descope_keys import AsyncDescopeKeys, ClientClosedError, ConfigurationError, RetryPolicy
from tests._aioresponses_compat import compat_aioresponses
from tests.conftest import MANAGEMENT_KEY, PROJECT_ID


def test_construction_needs_no_running_loop_and_does_no_io() -> None:
    client = AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY)
    assert client._transport._session is None
    assert client.base_url == "https://api.descope.com"


def test_missing_project_id_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="DESCOPE_PROJECT_ID"):
        AsyncDescopeKeys()


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "Penv")
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", "Kenv")
    monkeypatch.setenv("DESCOPE_BASE_URI", "http://127.0.0.1:1234/")
    client = AsyncDescopeKeys()
    assert client.project_id == "Penv"
    assert client.base_url == "http://127.0.0.1:1234"
    assert client._settings.management_key is not None
    assert client._settings.management_key.reveal() == "Kenv"


def test_explicit_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "Penv")
    monkeypatch.setenv("DESCOPE_BASE_URI", "http://127.0.0.1:1234")
    client = AsyncDescopeKeys("Parg", base_url="http://127.0.0.1:5678/")
    assert client.project_id == "Parg"
    assert client.base_url == "http://127.0.0.1:5678"


def test_long_project_id_selects_the_regional_host() -> None:
    project_id = "Puse1" + "x" * 27
    assert len(project_id) == 32
    assert AsyncDescopeKeys(project_id).base_url == "https://api.use1.descope.com"
    assert AsyncDescopeKeys(project_id[:-1]).base_url == "https://api.descope.com"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:8000", "http://127.0.0.1/?a=1"])
def test_malformed_base_url_is_rejected(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        AsyncDescopeKeys(PROJECT_ID, base_url=url)


@pytest.mark.parametrize("timeout", [0, -1, "3", True, math.nan, math.inf, 10**400])
def test_bad_timeout_is_rejected(timeout: object) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        AsyncDescopeKeys(PROJECT_ID, timeout=timeout)  # type: ignore[arg-type]


async def test_management_call_without_key_fails_before_any_io(
    mocked: compat_aioresponses,
) -> None:
    async with AsyncDescopeKeys(PROJECT_ID, base_url="http://127.0.0.1:9") as client:
        with pytest.raises(ConfigurationError, match="DESCOPE_MANAGEMENT_KEY"):
            await client.access_keys.load("K1")
        assert mocked.requests == {}
        assert client._transport._session is None


async def test_aclose_is_idempotent_and_closes_the_session(
    mocked: compat_aioresponses,
) -> None:
    mocked.post("http://127.0.0.1:9/v1/mgmt/accesskey/delete", payload={})
    client = AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url="http://127.0.0.1:9", retry=RetryPolicy.disabled()
    )
    await client.access_keys.delete("K1")
    session = client._transport._session
    assert session is not None
    await client.aclose()
    await client.aclose()
    assert session.closed
    with pytest.raises(ClientClosedError, match="closed") as info:
        await client.access_keys.delete("K1")
    assert isinstance(info.value, RuntimeError)


def test_repr_shows_no_management_key() -> None:
    client = AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY)
    assert MANAGEMENT_KEY not in repr(client)
    assert MANAGEMENT_KEY not in repr(client._settings)


@pytest.mark.parametrize("key", [MANAGEMENT_KEY + "\n", "two words", "tab\tkey"])
def test_a_management_key_unfit_for_a_header_is_a_configuration_error(key: str) -> None:
    with pytest.raises(ConfigurationError, match="trailing newline") as info:
        AsyncDescopeKeys(PROJECT_ID, key)
    assert key.strip() not in str(info.value)


@pytest.mark.parametrize("project_id", ["P1 2", "P1\n", "P1:2"])
def test_a_project_id_unfit_for_a_header_is_a_configuration_error(project_id: str) -> None:
    with pytest.raises(ConfigurationError, match="project_id"):
        AsyncDescopeKeys(project_id)
