"""The docs' "Testing your own app" examples (docs/testing.md) run as a user's suite."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
# What a user's suite would configure: warnings as errors, and pytest-asyncio's
# loop scope for fixtures (it warns while unset).
USER_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user suites run as a plain pytest would, even when this suite runs under xdist."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


def blocks() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("<!-- section:testing -->", 1)[1].split("<!-- /section:testing -->", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_the_teaser_three_framework_examples_and_unittest() -> None:
    teaser, fastapi, flask, aiohttp, unit = blocks()
    assert 'descope_token_factory(roles=["admin"])' in teaser
    assert "from fastapi.testclient import TestClient" in fastapi
    assert ".test_client()" in flask
    assert "aiohttp_client" in aiohttp
    assert "unittest" in unit


def test_every_fixture_of_the_plugin_is_in_the_table() -> None:
    from descope_keys.testing import plugin

    section = PAGE.read_text(encoding="utf-8").split("<!-- section:testing -->", 1)[1]
    for name in plugin.__all__:
        assert f"| `{name}` |" in section, name


@pytest.mark.slow
def test_the_framework_examples_pass_as_a_user_suite(pytester: pytest.Pytester) -> None:
    _, fastapi, flask, aiohttp, unit = blocks()
    pytester.makeini(USER_INI)
    pytester.makepyfile(
        test_fastapi_app=fastapi, test_flask_app=flask, test_aiohttp_app=aiohttp, test_unit=unit
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)


def test_pytest_aiohttp_is_what_the_aiohttp_example_uses(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("aiohttp"), "pytest-aiohttp is a test dependency"
    assert "pytest_aiohttp" in sys.modules
