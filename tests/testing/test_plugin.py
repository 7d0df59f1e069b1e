"""The pytest plugin, as a user's suite meets it: small suites run by pytester, with no conftest.

The first two run pytest in a subprocess, so the ``pytest11`` entry point is
what loads the plugin there; the others run in process (faster), where pytest
loads it through the same entry point.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from descope_keys.emulator import ThreadedEmulator

pytest_plugins = ["pytester"]

USER_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user suites run as a plain pytest would, even when this suite runs under xdist."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


WEB_SUITE = """
import contextlib
import os

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient as AiohttpClient, TestServer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask

from descope_keys import AsyncDescopeKeys, DescopeKeys
from descope_keys.integrations import aiohttp as aio_mw, asgi, wsgi


def bearer(token):
    return {"Authorization": f"Bearer {token.jwt}"}


def test_descope_env_points_the_clients_at_the_emulator(descope_env, descope_emulator):
    assert descope_env is descope_emulator
    assert os.environ["DESCOPE_PROJECT_ID"] == descope_emulator.project_id
    assert os.environ["DESCOPE_BASE_URI"] == descope_emulator.base_url
    with DescopeKeys() as client:
        assert client.access_keys.create("bot").key.name == "bot"


def test_the_env_is_gone_without_the_fixture():
    assert "DESCOPE_BASE_URI" not in os.environ


def asgi_app(**requirements):
    client = AsyncDescopeKeys()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await client.aclose()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(asgi.DescopeMiddleware, client=client, **requirements)

    @app.get("/admin")
    async def admin():
        return {"ok": True}

    return app


def test_asgi_fastapi_right_role_in_wrong_role_out(descope_env, descope_token_factory):
    with TestClient(asgi_app(roles=["admin"])) as http:
        admin, reader = (descope_token_factory(roles=[role]) for role in ("admin", "reader"))
        assert http.get("/admin", headers=bearer(admin)).status_code == 200
        assert http.get("/admin", headers=bearer(reader)).status_code == 403
        assert http.get("/admin").status_code == 401


def test_asgi_fastapi_tenant_roles(descope_env, descope_token_factory):
    with TestClient(asgi_app(roles=["admin"], tenant="T1")) as http:
        t1 = descope_token_factory(
            tenants={"T1": ["admin"], "T2": ["reader"]}, selected_tenant="T1"
        )
        t2 = descope_token_factory(tenants={"T2": ["admin"]})
        project = descope_token_factory(roles=["admin"])
        assert http.get("/admin", headers=bearer(t1)).status_code == 200
        assert http.get("/admin", headers=bearer(t2)).status_code == 403
        assert http.get("/admin", headers=bearer(project)).status_code == 403


def wsgi_app(client, **requirements):
    app = Flask(__name__)
    app.wsgi_app = wsgi.DescopeMiddleware(app.wsgi_app, client, **requirements)

    @app.get("/deploy")
    def deploy():
        return {"ok": True}

    return app.test_client()


def test_wsgi_flask_right_role_in_wrong_role_out(descope_env, descope_token_factory):
    with DescopeKeys() as client:
        http = wsgi_app(client, roles=["deployer"])
        deployer, reader = (descope_token_factory(roles=[r]) for r in ("deployer", "reader"))
        assert http.get("/deploy", headers=bearer(deployer)).status_code == 200
        assert http.get("/deploy", headers=bearer(reader)).status_code == 403


def test_wsgi_flask_tenant_roles(descope_env, descope_token_factory):
    with DescopeKeys() as client:
        http = wsgi_app(client, roles=["deployer"], tenant="T9")
        good = descope_token_factory(tenants={"T9": ["deployer"]})
        bad = descope_token_factory(tenants={"T9": ["reader"], "T8": ["deployer"]})
        assert http.get("/deploy", headers=bearer(good)).status_code == 200
        assert http.get("/deploy", headers=bearer(bad)).status_code == 403


@pytest.mark.asyncio
async def test_aiohttp_right_role_in_wrong_role_out(descope_env, descope_token_factory):
    async with AsyncDescopeKeys() as client:
        middleware = aio_mw.descope_middleware(client, roles=["admin"], tenant="T1")
        app = web.Application(middlewares=[middleware])

        async def admin(request):
            return web.json_response({"ok": True})

        app.router.add_get("/admin", admin)
        async with AiohttpClient(TestServer(app)) as http:
            good = descope_token_factory(tenants={"T1": ["admin"]})
            wrong_role = descope_token_factory(tenants={"T1": ["reader"]})
            wrong_tenant = descope_token_factory(tenants={"T2": ["admin"]})
            assert (await http.get("/admin", headers=bearer(good))).status == 200
            assert (await http.get("/admin", headers=bearer(wrong_role))).status == 403
            assert (await http.get("/admin", headers=bearer(wrong_tenant))).status == 403


def test_isolation_1_creates_keys(descope_client, descope_emulator):
    descope_client.access_keys.create("left-behind")
    descope_emulator.inject_fault("/v1/mgmt/accesskey/search", status=500, times=None)
    descope_emulator.clock.advance(7200)


def test_isolation_2_finds_none_of_them(descope_client, descope_emulator):
    assert descope_client.access_keys.search() == []  # no key, no fault
    assert abs(descope_emulator.clock.now() - __import__("time").time()) < 60


@pytest.mark.asyncio
async def test_the_async_client(async_descope_client, descope_token_factory):
    created = await async_descope_client.access_keys.create("async-bot", role_names=["ops"])
    token = await async_descope_client.exchange_access_key(created.cleartext)
    assert token.roles == ("ops",)
    other = descope_token_factory(roles=["ops"])
    assert (await async_descope_client.validate_token(other.jwt)).key_id == other.key_id
"""

MARKER_SUITE = """
import pytest

pytestmark = pytest.mark.descope(role_permissions={"admin": ["orders:write"]})


def test_the_module_marker_sets_the_role_map(descope_token_factory):
    assert descope_token_factory(roles=["admin"]).permissions == ("orders:write",)


@pytest.mark.descope(session_ttl=42, role_permissions={"admin": ["orders:read"]})
def test_the_closest_marker_wins(descope_token_factory):
    token = descope_token_factory(roles=["admin"])
    assert token.permissions == ("orders:read",)
    assert (token.expires_at - token.issued_at).total_seconds() == 42


@pytest.mark.descope(role_permissions=None)  # None: as if not given, the module's applies
def test_a_shorter_session_for_one_token(descope_token_factory):
    token = descope_token_factory(roles=["admin"], session_ttl=5, custom_claims={"team": "blue"})
    assert (token.expires_at - token.issued_at).total_seconds() == 5
    assert token.claims["team"] == "blue"
    assert token.permissions == ("orders:write",)
"""


@pytest.mark.slow
def test_a_user_suite_with_no_conftest_gets_every_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_web=WEB_SUITE, test_marker=MARKER_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=13)
    # Loaded through the entry point (the subprocess has no other way to find it).
    result.stdout.fnmatch_lines(["plugins: *descope-keys-*"])


XDIST_SUITE = """
import json
import os

import pytest


@pytest.mark.parametrize("n", range(4))
def test_each_worker_has_its_own_emulator(n, descope_client, descope_emulator):
    descope_client.access_keys.create(f"key-{n}")
    assert len(descope_client.access_keys.search()) == 1
    record = {"worker": os.environ["PYTEST_XDIST_WORKER"], "url": descope_emulator.base_url}
    with open(os.environ["RECORDS"], "a") as out:
        out.write(json.dumps(record) + "\\n")
"""


@pytest.mark.slow
def test_under_xdist_each_worker_has_its_own_emulator(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    records = pytester.path / "records.jsonl"
    monkeypatch.setenv("RECORDS", str(records))
    pytester.makeini(USER_INI)
    pytester.makepyfile(test_xdist=XDIST_SUITE)
    # The workers are subprocesses: the entry point loads the plugin in each.
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4)
    seen = [json.loads(line) for line in records.read_text().splitlines()]
    urls = {record["worker"]: record["url"] for record in seen}
    assert len(seen) == 4
    assert len(urls) == 2, seen
    assert len(set(urls.values())) == 2, seen


# -- in process ----------------------------------------------------------------


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[ThreadedEmulator]:
    """Every ThreadedEmulator started from now on (the in-process suites share this class)."""
    started: list[ThreadedEmulator] = []
    real_start = ThreadedEmulator.start

    def start(self: ThreadedEmulator, *args: Any, **kwargs: Any) -> ThreadedEmulator:
        started.append(self)
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(ThreadedEmulator, "start", start)
    return started


def run(
    pytester: pytest.Pytester, *args: str, ini: str = USER_INI, **files: str
) -> pytest.RunResult:
    pytester.makeini(ini)
    pytester.makepyfile(**files)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def test_a_suite_that_uses_no_fixture_starts_no_emulator(
    pytester: pytest.Pytester, starts: list[ThreadedEmulator]
) -> None:
    suite = (
        "import pytest\n\n@pytest.mark.parametrize('n', range(3))\ndef test_plain(n):\n    pass\n"
    )
    result = run(pytester, test_plain=suite)
    result.assert_outcomes(passed=3)
    assert starts == []


def test_one_emulator_serves_the_whole_session_and_stops_after(
    pytester: pytest.Pytester, starts: list[ThreadedEmulator]
) -> None:
    suite = (
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', range(3))\n"
        "def test_uses(n, descope_emulator):\n"
        "    assert descope_emulator.running\n\n"
        "def test_plain():\n    pass\n"
    )
    result = run(pytester, test_uses=suite)
    result.assert_outcomes(passed=4)
    assert len(starts) == 1
    assert not starts[0].running


def test_the_plugin_can_be_turned_off_by_its_entry_point_name(pytester: pytest.Pytester) -> None:
    suite = "def test_wants(descope_emulator):\n    pass\n"
    result = run(pytester, "-p", "no:descope_keys", test_off=suite)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'descope_emulator' not found*"])


def test_the_plugin_is_active_in_this_project_s_own_suite(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("descope_keys")


ANYIO_SUITE = """
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_the_async_client_under_anyio(async_descope_client, descope_token_factory):
    token = descope_token_factory(roles=["ops"])
    assert (await async_descope_client.validate_token(token.jwt)).roles == ("ops",)
    assert len(await async_descope_client.access_keys.search()) == 1
"""


def test_the_async_client_under_anyio_alone(pytester: pytest.Pytester) -> None:
    # An anyio user: no pytest-asyncio at all (nor pytest-aiohttp, which needs it).
    ini = "[pytest]\nfilterwarnings = error\n"
    result = run(pytester, "-p", "no:asyncio", "-p", "no:aiohttp", ini=ini, test_anyio=ANYIO_SUITE)
    result.assert_outcomes(passed=1)


def test_the_async_client_skips_other_anyio_backends_and_refuses_sync_tests(
    pytester: pytest.Pytester,
) -> None:
    suite = """
import pytest


@pytest.fixture
def anyio_backend():
    return "trio"


@pytest.mark.anyio
async def test_on_trio(async_descope_client):
    raise AssertionError("never runs: aiohttp needs asyncio")


def test_sync(async_descope_client):
    pass
"""
    ini = "[pytest]\nfilterwarnings = error\n"
    result = run(pytester, "-p", "no:asyncio", "-p", "no:aiohttp", "-rs", ini=ini, test_t=suite)
    result.assert_outcomes(skipped=1, errors=1)
    result.stdout.fnmatch_lines(["*runs on asyncio (aiohttp), not trio*"])


def test_the_async_client_under_anyio_beside_pytest_asyncio(pytester: pytest.Pytester) -> None:
    run(pytester, test_anyio=ANYIO_SUITE).assert_outcomes(passed=1)


def test_the_async_client_on_wider_loop_scopes_and_in_auto_mode(pytester: pytest.Pytester) -> None:
    suite = """
import asyncio

import pytest


@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_1(async_descope_client):
    assert await async_descope_client.access_keys.search() == []


@pytest.mark.asyncio(loop_scope="session")
async def test_session_loop(async_descope_client):
    assert await async_descope_client.access_keys.search() == []


async def test_auto_mode(async_descope_client):
    assert await async_descope_client.access_keys.search() == []
"""
    run(pytester, "-o", "asyncio_mode=auto", test_scopes=suite).assert_outcomes(passed=3)


def test_the_async_client_in_a_sync_test_is_a_clear_error(pytester: pytest.Pytester) -> None:
    suite = "def test_sync(async_descope_client):\n    pass\n"
    result = run(pytester, test_sync=suite)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*async_descope_client is for async tests*descope_client*"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("descope(colour='red')", "*mark.descope takes only*(got colour)*"),
        ("descope({'admin': []})", "*mark.descope takes only*positional*"),
        ("descope(role_permissions=['admin'])", "*role_permissions must be a dict*"),
        ("descope(role_permissions={'admin': [1]})", "*role_permissions must map role*"),
        ("descope(session_ttl=0)", "*session_ttl must be a positive number*"),
    ],
)
def test_a_wrong_marker_fails_the_test_with_a_clear_message(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    suite = (
        "import pytest\n\n"
        f"@pytest.mark.{marker}\n"
        "def test_marked(descope_emulator):\n    pass\n\n"
        "def test_next(descope_emulator):\n    pass\n"
    )
    result = run(pytester, test_marked=suite)
    result.assert_outcomes(errors=1, passed=1)  # the session's emulator is not broken
    result.stdout.fnmatch_lines([message])


DB_SUITE = """
def test_first(descope_client):
    descope_client.access_keys.create("first")


def test_second(descope_client):
    assert descope_client.access_keys.search() == []
    descope_client.access_keys.create("second")
"""


def test_the_db_option_keeps_what_the_last_test_left(pytester: pytest.Pytester) -> None:
    db = pytester.path / "state.db"
    run(pytester, f"--descope-emulator-db={db}", test_db=DB_SUITE).assert_outcomes(passed=2)
    with ThreadedEmulator(db=db) as emu:
        assert [key["name"] for key in emu.stored_keys()] == ["second"]
    # A second session starts from no keys too, on the same project.
    run(pytester, f"--descope-emulator-db={db}", test_db=DB_SUITE).assert_outcomes(passed=2)


def test_the_db_option_names_one_file_per_xdist_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    db = pytester.path / "state.db"
    run(pytester, f"--descope-emulator-db={db}", test_db=DB_SUITE).assert_outcomes(passed=2)
    assert not db.exists()
    assert (pytester.path / "state-gw3.db").exists()


def test_the_option_and_marker_are_documented_in_help(pytester: pytest.Pytester) -> None:
    pytester.makeini(USER_INI)
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["*--descope-emulator-db=PATH*"])
    markers = pytester.runpytest_inprocess("--markers")
    markers.stdout.fnmatch_lines(
        ["*@pytest.mark.descope(role_permissions=None, session_ttl=None)*"]
    )


def test_fixtures_leave_no_secret_in_the_output_of_a_failing_test(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    secrets_file = tmp_path / "secrets.json"
    suite = (
        "import json\n\n"
        "def test_fails(descope_env, descope_client, descope_token_factory):\n"
        "    token = descope_token_factory(roles=['admin'])\n"
        f"    with open({str(secrets_file)!r}, 'w') as out:\n"
        "        json.dump([descope_env.management_key, token.jwt], out)\n"
        "    assert (descope_env, descope_client, descope_token_factory, token) is None\n"
    )
    result = run(pytester, "-l", test_fails=suite)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "TokenFactory(ThreadedEmulator(" in output  # the values were shown...
    for secret in json.loads(secrets_file.read_text()):
        assert secret not in output  # ...but never a secret
