"""Every Python block of README.md and docs/ runs, against an emulator on 127.0.0.1.

A block runs as a script (``__name__ == "__main__"``) with the emulator's
``DESCOPE_*`` variables set, including ``DESCOPE_ACCESS_KEY`` for a key with
the project role ``deployer``. An HTML comment right before the fence says
how a block that is not a plain script runs:

- ``<!-- example: api -->``: a machine's block; its ``API = "https://..."`` line
  is pointed at a protected app on 127.0.0.1, which must answer it.
- ``<!-- example: serve METHOD PATH STATUS -->``: the block builds ``app``
  (aiohttp, ASGI or WSGI; its serving line is behind ``if __name__ ==
  "__main__"``); the app is served and sent that request with a real token.
- ``<!-- example: call NAME -->``: the block defines ``NAME(jwt)``; it is
  called with a real token and must return a truthy value.
- ``<!-- example: pytest -->``: the block is a test module; it runs under pytest
  and its tests must pass.
- ``<!-- example: run-by tests/PATH: why -->``: another test executes it
  (under conditions this runner cannot give, e.g. a fresh process).
- ``<!-- example: skip: why -->``: it cannot run standalone. Counted: each one
  is a skipped test here (listed in pytest's summary), and there are at most
  ``MAX_SKIPPED``.

The CLI page's shell blocks run line by line (``test_cli_shell_lines``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from descope_keys import AsyncDescopeKeys, DescopeKeys, KeyTenant
from descope_keys.emulator import ThreadedEmulator
from tests.credentials._apps import protected_wsgi_app, serve_wsgi

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MAX_SKIPPED = 3
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!-- example: (?P<kind>[\w-]+)(?::? (?P<args>.*?))? -->$")
_API = re.compile(r'^API = "https://[^"]+"$', flags=re.MULTILINE)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    kind: str  # "run" when unmarked
    args: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _blocks(lang: str) -> list[Block]:
    found = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            opening = _FENCE.match(lines[index])
            if opening is None or not opening.group(1):
                index += 1
                continue
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            previous = next((t for t in reversed(lines[:index]) if t.strip()), "")
            mark = _MARK.match(previous.strip())
            if opening.group(1) == lang:
                found.append(
                    Block(
                        page=page,
                        line=index + 1,
                        lang=lang,
                        code="\n".join(lines[index + 1 : end]) + "\n",
                        kind=mark.group("kind") if mark else "run",
                        args=(mark.group("args") or "") if mark else "",
                    )
                )
            index = end + 1
    return found


PYTHON = _blocks("python")
KINDS = {"run", "api", "serve", "call", "pytest", "run-by", "skip"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(role_permissions={"deployer": ["deploy"]}) as emu:
        yield emu


@pytest.fixture(scope="module")
def access_key(emulator: ThreadedEmulator) -> str:
    with DescopeKeys(emulator.project_id, emulator.management_key, base_url=emulator.base_url) as c:
        return c.access_keys.create("docs-examples", role_names=["deployer"]).cleartext


@pytest.fixture
def env(
    emulator: ThreadedEmulator, access_key: str, monkeypatch: pytest.MonkeyPatch
) -> ThreadedEmulator:
    monkeypatch.setenv("DESCOPE_PROJECT_ID", emulator.project_id)
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", emulator.management_key)
    monkeypatch.setenv("DESCOPE_BASE_URI", emulator.base_url)
    monkeypatch.setenv("DESCOPE_ACCESS_KEY", access_key)
    return emulator


@pytest.fixture
def jwt(env: ThreadedEmulator, access_key: str) -> str:
    with DescopeKeys() as client:
        return client.exchange_access_key(access_key).jwt


def _exec(block: Block, code: str | None = None, *, main: bool = True) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__" if main else "docs_example"}
    exec(compile(code or block.code, block.name, "exec"), namespace)
    return namespace


def _close(namespace: dict[str, Any]) -> None:
    client = namespace.get("client")
    if isinstance(client, DescopeKeys):
        client.close()
    elif isinstance(client, AsyncDescopeKeys):
        asyncio.run(client.aclose())


async def _request_aiohttp(app: Any, method: str, path: str, jwt: str) -> int:
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer

    async with TestServer(app, host="127.0.0.1") as server, ClientSession() as http:
        headers = {"Authorization": f"Bearer {jwt}"}
        async with http.request(method, str(server.make_url(path)), headers=headers) as answer:
            await answer.read()
            return answer.status


async def _request_asgi(
    app: Any, client: AsyncDescopeKeys, method: str, path: str, jwt: str
) -> int:
    import httpx

    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            answer = await http.request(method, path, headers={"Authorization": f"Bearer {jwt}"})
            return answer.status_code
    finally:
        await client.aclose()


def _request_wsgi(app: Callable[..., Any], method: str, path: str, jwt: str) -> int:
    with serve_wsgi(app) as url:
        request = urllib.request.Request(
            url + path, method=method, headers={"Authorization": f"Bearer {jwt}"}, data=None
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return error.code


def _serve(block: Block, jwt: str) -> None:
    method, path, status = block.args.split()
    namespace = _exec(block, main=False)
    app, client = namespace["app"], namespace["client"]
    from aiohttp import web

    if isinstance(app, web.Application):
        got = asyncio.run(_request_aiohttp(app, method, path, jwt))
    elif isinstance(client, DescopeKeys):
        try:
            got = _request_wsgi(app, method, path, jwt)
        finally:
            client.close()
    else:
        got = asyncio.run(_request_asgi(app, client, method, path, jwt))
    assert got == int(status), f"{block.name}: {method} {path} answered {got}"


def _api(block: Block, emulator: ThreadedEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert _API.search(block.code), f"{block.name}: no API = line to point at a local app"
    with (
        DescopeKeys(emulator.project_id, base_url=emulator.base_url) as validator,
        serve_wsgi(protected_wsgi_app(validator)) as url,
    ):
        code = _API.sub(f"API = {url!r}", block.code)
        # The local app answers on any path with the seconds left on the token.
        _exec(block, code)
    printed = capsys.readouterr().out
    assert '"left"' in printed or "'left'" in printed, printed


def _pytest(block: Block, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_docs_block=block.code)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-W", "error")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert set(outcomes) <= {"passed"}, result.stdout.str()


def _run_by(block: Block) -> None:
    path, _, why = block.args.partition(":")
    test = ROOT / path.strip()
    assert why.strip(), f"{block.name}: say why another test runs it"
    assert test.is_file(), f"{block.name}: {path} does not exist"
    page = str(block.page.relative_to(ROOT)).replace(os.sep, "/")
    text = test.read_text(encoding="utf-8")
    assert page.split("/")[-1] in text, f"{path} does not read {page}"


@pytest.mark.parametrize("block", PYTHON, ids=[b.name for b in PYTHON])
def test_python_block(
    block: Block,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert block.kind in KINDS, f"{block.name}: unknown example kind {block.kind!r}"
    if block.kind == "skip":
        assert block.args, f"{block.name}: a skipped block says why"
        marked = sum(b.kind == "skip" for b in PYTHON)
        pytest.skip(f"docs example {block.name}, {marked} of {len(PYTHON)} marked: {block.args}")
    if block.kind == "run-by":
        _run_by(block)
        return
    emulator: ThreadedEmulator = request.getfixturevalue("env")
    if block.kind == "run":
        _close(_exec(block))
    elif block.kind == "api":
        _api(block, emulator, capsys)
    elif block.kind == "serve":
        _serve(block, request.getfixturevalue("jwt"))
    elif block.kind == "call":
        jwt = request.getfixturevalue("jwt")
        namespace = _exec(block, main=False)
        result = namespace[block.args.strip()](jwt)
        if asyncio.iscoroutine(result):
            result = asyncio.run(_then_close(result, namespace.get("client")))
        else:
            _close(namespace)
        assert result, f"{block.name}: {block.args}(jwt) returned {result!r}"
    else:
        _pytest(block, request.getfixturevalue("pytester"), monkeypatch)


async def _then_close(result: Any, client: Any) -> Any:
    try:
        return await result
    finally:
        if isinstance(client, AsyncDescopeKeys):
            await client.aclose()


def test_every_block_is_found_and_few_are_skipped() -> None:
    skipped = [b for b in PYTHON if b.kind == "skip"]
    counts = {kind: sum(b.kind == kind for b in PYTHON) for kind in sorted(KINDS)}
    # In the -rA output and in a failure: how many ran here, elsewhere, or not at all.
    sys.stdout.write(f"docs examples: {len(PYTHON)} Python blocks, {json.dumps(counts)}\n")
    assert len(PYTHON) >= 25  # the pages hold about 30: a parsing slip would drop many
    assert len(skipped) <= MAX_SKIPPED, [b.name for b in skipped]


# --- the CLI page's shell blocks ------------------------------------------------

CLI_PAGE = ROOT / "docs" / "cli.md"
# Placeholders of the page: two key ids, the API a machine calls (here the
# emulator's public JWKS route, which any GET reaches).
_PLACEHOLDERS = {
    "K2abc...": "$K1",
    "K2def...": "$K2",
    '"$API"': '"$DESCOPE_BASE_URI/v2/keys/$DESCOPE_PROJECT_ID"',
}


def _cli_lines() -> list[str]:
    lines = []
    for block in _blocks("sh"):
        if block.page == CLI_PAGE:
            lines += [line for line in block.code.splitlines() if line.strip()]
    return lines


# The demo line is left to tests/test_readme_quickstart.py, which runs it already.
CLI_LINES = [line for line in _cli_lines() if line != "descope-keys demo"]


def test_the_cli_page_has_its_command_lines() -> None:
    commands = [line.split()[:3] for line in CLI_LINES]
    assert ["descope-keys", "keys", "create"] in commands
    assert ["descope-keys", "validate", "-"] in commands
    assert "descope-keys demo" in _cli_lines()
    assert len(CLI_LINES) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("line", CLI_LINES, ids=[f"cli.md-line{i}" for i in range(len(CLI_LINES))])
def test_cli_shell_line(line: str, tmp_path: Path) -> None:
    """Each line as an operator types it, on a fresh emulator holding two keys of tenant acme."""
    command = line.split("  #", 1)[0].strip()
    for tool in ("jq", "curl"):
        if f"{tool} " in command and shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    for placeholder, value in _PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    with ThreadedEmulator(role_permissions={"deployer": ["deploy"]}) as emu:
        with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as c:
            tenants = [KeyTenant("acme", role_names=["deployer"])]
            first = c.access_keys.create("shell-1", key_tenants=tenants)
            second = c.access_keys.create("shell-2", key_tenants=tenants)
            jwt = c.exchange_access_key(second.cleartext).jwt
        (tmp_path / "secret.txt").write_text(first.cleartext + "\n", encoding="utf-8")
        env = {
            **os.environ,
            "DESCOPE_PROJECT_ID": emu.project_id,
            "DESCOPE_MANAGEMENT_KEY": emu.management_key,
            "DESCOPE_BASE_URI": emu.base_url,
            "DESCOPE_ACCESS_KEY": second.cleartext,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "K1": first.key.id,
            "K2": second.key.id,
            "JWT": jwt,
        }
        done = subprocess.run(
            ["bash", "-c", f"set -eo pipefail; {command}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
