"""Shared fixtures. Every server a test starts listens on 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests._aioresponses_compat import compat_aioresponses

PROJECT_ID = "P2testproject000000000000000"
MANAGEMENT_KEY = "K2mgmt-SECRET-never-printed-0001"
# aioresponses intercepts before any socket opens; the port is unused.
MOCK_BASE_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real Descope credentials."""
    for name in (
        "DESCOPE_PROJECT_ID",
        "DESCOPE_MANAGEMENT_KEY",
        "DESCOPE_BASE_URI",
        "DESCOPE_PUBLIC_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked() -> Iterator[compat_aioresponses]:
    with compat_aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[object]:
    from descope_keys import AsyncDescopeKeys, RetryPolicy

    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=MOCK_BASE_URL, retry=RetryPolicy.disabled()
    ) as c:
        yield c
