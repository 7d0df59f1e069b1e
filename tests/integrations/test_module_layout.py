"""One module per framework: each imports its own framework only; the old names still resolve."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from descope_keys.integrations import asgi, wsgi
from descope_keys.integrations import fastapi as dk_fastapi
from descope_keys.integrations import flask as dk_flask

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("fastapi", "starlette", "flask", "werkzeug")
_TIMEOUT = 120.0
_MYPY_TIMEOUT = 300.0


def frameworks_loaded_by(code: str) -> list[str]:
    """Which web frameworks a fresh interpreter holds after running ``code``."""
    expression = f"sorted(n for n in {FRAMEWORKS!r} if n in sys.modules)"
    report = f"import json, sys\nprint(json.dumps({expression}))"
    probe = textwrap.dedent(code) + "\n" + report
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", probe],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize(
    "module",
    [
        "descope_keys",
        "descope_keys.integrations",
        "descope_keys.integrations._core",
        "descope_keys.integrations.aiohttp",
        "descope_keys.integrations.asgi",
        "descope_keys.integrations.wsgi",
    ],
)
def test_importing_imports_no_web_framework(module: str) -> None:
    assert frameworks_loaded_by(f"import {module}") == []


@pytest.mark.parametrize(
    ("module", "loaded"),
    [
        # The negative control of the probe above: these do show up.
        ("descope_keys.integrations.fastapi", ["fastapi", "starlette"]),
        ("descope_keys.integrations.flask", ["flask", "werkzeug"]),
    ],
)
def test_a_framework_module_imports_its_framework_and_no_other(
    module: str, loaded: list[str]
) -> None:
    assert frameworks_loaded_by(f"import {module}") == loaded


# Runs in a process where the frameworks cannot be imported at all, as for a
# Django or Starlette user who has neither FastAPI nor Flask installed.
_WITHOUT_FRAMEWORKS = """
import asyncio, importlib.abc, sys

class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in FRAMEWORKS:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Uninstalled())

from descope_keys import AsyncDescopeKeys
from descope_keys.integrations import asgi, wsgi
from tests.integrations._tokens import PinnedSyncValidator, jwt, pinned_jwks

bearer = f"Bearer {jwt()}"
seen = []

def wsgi_app(environ, start_response):
    seen.append(wsgi.get_token(environ).key_id)
    start_response("200 OK", [])
    return [b""]

environ = {"PATH_INFO": "/x", "HTTP_AUTHORIZATION": bearer}
wsgi.DescopeMiddleware(wsgi_app, PinnedSyncValidator())(environ, lambda *a: None)

async def asgi_app(scope, receive, send):
    seen.append(asgi.get_token(scope).key_id)

async def main():
    from tests._jwt_factory import PROJECT_ID
    async with AsyncDescopeKeys(PROJECT_ID, public_key=pinned_jwks()) as client:
        scope = {"type": "http", "path": "/x", "headers": [(b"authorization", bearer.encode())]}
        await asgi.DescopeMiddleware(asgi_app, client)(scope, None, None)

asyncio.run(main())
assert seen == ["K2AccessKey0001"] * 2, seen
for old in (asgi, wsgi):
    try:
        old.require
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError("the old require resolved without its framework")
"""


def test_the_pure_middlewares_serve_requests_with_no_framework_installed() -> None:
    assert frameworks_loaded_by(_WITHOUT_FRAMEWORKS.replace("FRAMEWORKS", repr(FRAMEWORKS))) == []


@pytest.mark.parametrize(
    ("old", "new", "moved_to"),
    [
        (asgi, dk_fastapi, "descope_keys.integrations.fastapi.require"),
        (wsgi, dk_flask, "descope_keys.integrations.flask.require"),
    ],
)
def test_the_old_require_is_the_new_one_with_a_deprecation_warning(
    old: object, new: object, moved_to: str
) -> None:
    with pytest.warns(DeprecationWarning, match=moved_to) as caught:
        moved = old.require  # type: ignore[attr-defined]
    assert moved is new.require  # type: ignore[attr-defined]
    # Attributed to the code that used the old name, not to the package.
    assert caught[0].filename == __file__


def test_the_old_from_import_still_works() -> None:
    with pytest.warns(DeprecationWarning, match="integrations.fastapi"):
        from descope_keys.integrations.asgi import require as old_asgi
    with pytest.warns(DeprecationWarning, match="integrations.flask"):
        from descope_keys.integrations.wsgi import require as old_wsgi
    assert old_asgi is dk_fastapi.require
    assert old_wsgi is dk_flask.require


@pytest.mark.parametrize("module", [asgi, wsgi])
def test_other_missing_names_are_still_attribute_errors(module: object) -> None:
    with pytest.raises(AttributeError, match="no attribute 'requires'"):
        module.requires  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(module, "DescopeMiddlewares")


@pytest.mark.parametrize("module", [asgi, wsgi])
def test_star_import_of_a_pure_module_does_not_reach_the_moved_name(module: object) -> None:
    assert "require" not in module.__all__  # type: ignore[attr-defined]


def test_type_checkers_see_the_old_names_as_the_new_ones(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from descope_keys.integrations import asgi, fastapi, flask, wsgi

            reveal_type(asgi.require)
            reveal_type(fastapi.require)
            reveal_type(wsgi.require)
            reveal_type(flask.require)
            asgi.requires
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(probe)],
        capture_output=True,
        text=True,
        timeout=_MYPY_TIMEOUT,
        check=False,
        cwd=ROOT,
    )
    revealed = [
        line.split("Revealed type is ", 1)[1]
        for line in done.stdout.splitlines()
        if "Revealed type is " in line
    ]
    assert len(revealed) == 4, done.stdout + done.stderr
    old_asgi, new_asgi, old_wsgi, new_wsgi = revealed
    assert old_asgi == new_asgi
    assert "HTTPConnection" in new_asgi
    assert old_wsgi == new_wsgi
    assert "def [_F" in new_wsgi
    # The lazy __getattr__ is hidden from type checkers: a misspelt name is still an error.
    assert 'Module has no attribute "requires"' in done.stdout
