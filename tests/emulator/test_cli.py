"""``python -m descope_keys.emulator``: prints its settings when ready, stops on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import jwt
import pytest

from tests.emulator.conftest import TIMEOUT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

MGMT_KEY = "cli-test-management-key"


class Running:
    def __init__(self, proc: asyncio.subprocess.Process, settings: dict[str, str]) -> None:
        self.proc = proc
        self.settings = settings

    @property
    def base_url(self) -> str:
        return self.settings["DESCOPE_BASE_URI"]

    @property
    def project_id(self) -> str:
        return self.settings["DESCOPE_PROJECT_ID"]

    async def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal the process; return its exit code and stderr."""
        self.proc.send_signal(signum)
        _, stderr = await asyncio.wait_for(self.proc.communicate(), 15)
        assert self.proc.returncode is not None
        return self.proc.returncode, stderr.decode()


@asynccontextmanager
async def cli(*args: str) -> AsyncIterator[Running]:
    """Run the CLI on a free port of 127.0.0.1 until its settings are printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "descope_keys.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        settings: dict[str, str] = {}
        while "DESCOPE_BASE_URI" not in settings:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, "the emulator exited before printing its base URL"
            name, _, value = line.strip().partition("=")
            settings[name] = value
        yield Running(proc, settings)
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 15)


async def _create(session: aiohttp.ClientSession, emu: Running, key: str) -> int:
    async with session.post(
        emu.base_url + "/v1/mgmt/accesskey/create",
        json={"name": "cli-key"},
        headers={"Authorization": f"Bearer {emu.project_id}:{key}"},
    ) as resp:
        return resp.status


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_cli_prints_settings_serves_and_stops_cleanly(signum: int) -> None:
    async with cli() as emu, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        assert emu.base_url.startswith("http://127.0.0.1:")
        assert emu.project_id.startswith("P")
        generated_key = emu.settings["DESCOPE_MANAGEMENT_KEY"]
        assert await _create(session, emu, generated_key) == 200
        code, stderr = await emu.stop(signum)
    assert code == 0
    assert "Traceback" not in stderr


async def test_cli_never_prints_a_management_key_it_was_given() -> None:
    async with cli("--project-id", "Pcli", "--management-key", MGMT_KEY) as emu:
        assert emu.project_id == "Pcli"
        assert "DESCOPE_MANAGEMENT_KEY" not in emu.settings
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            assert await _create(session, emu, MGMT_KEY) == 200
        code, stderr = await emu.stop()
    assert code == 0
    assert MGMT_KEY not in stderr


async def test_cli_db_keeps_keys_across_restarts(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    args = ("--project-id", "Pcli", "--management-key", MGMT_KEY, "--db", db)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with cli(*args) as emu:
            assert await _create(session, emu, MGMT_KEY) == 200
            assert (await emu.stop())[0] == 0
        async with cli(*args) as emu:
            async with session.post(
                emu.base_url + "/v1/mgmt/accesskey/search",
                json={},
                headers={"Authorization": f"Bearer Pcli:{MGMT_KEY}"},
            ) as resp:
                assert [k["name"] for k in (await resp.json())["keys"]] == ["cli-key"]
            assert (await emu.stop())[0] == 0


async def test_cli_options_reach_the_emulator(tmp_path: Path, signing_pem: str) -> None:
    pem = tmp_path / "signing.pem"
    pem.write_text(signing_pem)
    args = (
        "--management-key",
        MGMT_KEY,
        "--signing-key",
        str(pem),
        "--role-permissions",
        '{"admin": ["all"]}',
        "--session-ttl",
        "42",
        "--test-hooks",
    )
    async with cli(*args) as emu, aiohttp.ClientSession(timeout=TIMEOUT) as session:
        auth = {"Authorization": f"Bearer {emu.project_id}:{MGMT_KEY}"}
        async with session.post(
            emu.base_url + "/v1/mgmt/accesskey/create",
            json={"name": "k", "roleNames": ["admin"]},
            headers=auth,
        ) as resp:
            secret = (await resp.json())["cleartext"]
        async with session.post(
            emu.base_url + "/v1/auth/accesskey/exchange",
            json={"loginOptions": {}},
            headers={"Authorization": f"Bearer {emu.project_id}:{secret}"},
        ) as resp:
            body = await resp.json()
        claims = jwt.decode(body["sessionJwt"], options={"verify_signature": False})
        assert claims["permissions"] == ["all"]
        assert claims["exp"] - claims["iat"] == 42
        async with session.get(emu.base_url + "/emulator/clock", headers=auth) as resp:
            assert resp.status == 200  # --test-hooks
        assert (await emu.stop())[0] == 0


@pytest.mark.parametrize(
    "args",
    [
        ("--signing-key", "/nonexistent/key.pem"),
        ("--project-id", "bad:id"),
        ("--role-permissions", "[1, 2]"),
    ],
)
async def test_cli_bad_settings_fail_with_one_line_and_no_traceback(args: tuple[str, ...]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "descope_keys.emulator",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode not in (0, None)
    text = stderr.decode()
    assert "error" in text
    assert "Traceback" not in text
