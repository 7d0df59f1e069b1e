"""Persistence: with a SQLite file keys survive a restart; secrets are stored only as hashes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
import pytest

from descope_keys.emulator import Emulator, StoreError
from tests.emulator.conftest import MANAGEMENT_KEY, PROJECT_ID, Api, emulator_kwargs, verify_jwt


async def test_keys_survive_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession, signing_pem: str
) -> None:
    db = tmp_path / "emulator.db"
    async with Emulator(**emulator_kwargs(signing_pem, db=db)) as emu:
        api = Api(http, emu)
        kept = await api.create("kept", roleNames=["viewer"], customAttributes={"a": 1})
        gone = await api.create("gone")
        off = await api.create("off")
        await api.ok("POST", "/v1/mgmt/accesskey/delete", {"id": gone["key"]["id"]})
        await api.ok("POST", "/v1/mgmt/accesskey/deactivate", {"id": off["key"]["id"]})
        rotated = await api.ok("POST", "/v1/mgmt/accesskey/rotate", {"id": kept["key"]["id"]})
        before = emu.stored_keys()

    async with Emulator(**emulator_kwargs(signing_pem, db=db)) as emu:
        api = Api(http, emu)
        assert emu.stored_keys() == before
        assert [k["name"] for k in before] == ["kept", "off"]
        assert (await api.exchange(rotated["cleartext"]))[0] == 200
        assert (await api.exchange(kept["cleartext"]))[0] == 401  # rotated away stays away
        assert (await api.exchange(off["cleartext"]))[0] == 401  # still inactive
        assert (await api.exchange(gone["cleartext"]))[0] == 401  # still deleted


async def test_a_restart_keeps_the_generated_signing_key_and_project(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "emulator.db"
    async with Emulator(management_key=MANAGEMENT_KEY, db=db) as emu:
        project_id, kid = emu.project_id, emu.signing_kid
        api = Api(http, emu)
        token = (await api.exchange((await api.create("k"))["cleartext"]))[1]["sessionJwt"]

    async with Emulator(management_key=MANAGEMENT_KEY, db=db) as emu:
        assert emu.project_id == project_id  # the defaulted id is taken from the file
        assert emu.signing_kid == kid
        verify_jwt(token, emu.jwks(), project_id)  # tokens from before the restart validate


async def test_a_rotated_signing_key_is_what_a_restart_uses(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    async with Emulator(db=db) as emu:
        new_kid = emu.rotate_signing_key()
    async with Emulator(db=db) as emu:
        assert emu.signing_kid == new_kid


async def test_the_file_holds_no_secret_in_clear(
    tmp_path: Path, http: aiohttp.ClientSession, signing_pem: str
) -> None:
    db = tmp_path / "emulator.db"
    async with Emulator(**emulator_kwargs(signing_pem, db=db)) as emu:
        api = Api(http, emu)
        secrets = [(await api.create(f"k{i}"))["cleartext"] for i in range(3)]
        rotated = await api.ok(
            "POST", "/v1/mgmt/accesskey/rotate", {"id": secrets[0].split(".")[0]}
        )
        secrets.append(rotated["cleartext"])
    raw = db.read_bytes()
    for secret in secrets:
        key_id, random_part = secret.split(".", 1)
        assert key_id.encode() in raw  # the keys are there...
        assert random_part.encode() not in raw  # ...their secrets are not
    assert MANAGEMENT_KEY.encode() not in raw
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT length(salt), length(digest) FROM access_keys").fetchall()
    conn.close()
    assert rows == [(16, 32)] * 3


async def test_a_file_in_use_cannot_be_opened_twice(tmp_path: Path, signing_pem: str) -> None:
    db = tmp_path / "emulator.db"
    async with Emulator(**emulator_kwargs(signing_pem, db=db)):
        second = Emulator(**emulator_kwargs(signing_pem, db=db))
        with pytest.raises(StoreError, match="in use"):
            await second.start()
        assert not second.running


async def test_a_file_of_another_project_is_refused(tmp_path: Path, signing_pem: str) -> None:
    db = tmp_path / "emulator.db"
    async with Emulator(**emulator_kwargs(signing_pem, db=db)):
        pass
    with pytest.raises(StoreError, match=PROJECT_ID):
        await Emulator(**emulator_kwargs(signing_pem, db=db, project_id="Pother")).start()


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "emulator.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable"):
        await Emulator(db=db).start()


async def test_memory_is_the_default_and_forgets(
    http: aiohttp.ClientSession, signing_pem: str
) -> None:
    async with Emulator(**emulator_kwargs(signing_pem)) as emu:
        await Api(http, emu).create("k")
        assert len(emu.stored_keys()) == 1
    async with Emulator(**emulator_kwargs(signing_pem)) as emu:
        assert emu.stored_keys() == []
