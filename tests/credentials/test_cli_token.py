"""``descope-keys token [SECRET|-]``: a fresh JWT for shell scripts (``--json`` as ``exchange``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from descope_keys import AsyncDescopeKeys, CreatedAccessKey, KeyTenant
from descope_keys.emulator import ThreadedEmulator
from tests.cli._cli import MANAGEMENT_KEY, PROJECT_ID, Cli
from tests.credentials.conftest import exchanges


@pytest.fixture(scope="module")
def emulator() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(PROJECT_ID, MANAGEMENT_KEY) as emu:
        yield emu


@pytest.fixture(scope="module")
def cli(emulator: ThreadedEmulator) -> Cli:
    return Cli(emulator.base_url)


@pytest.fixture(scope="module")
def created(cli: Cli) -> CreatedAccessKey:
    async def create(client: AsyncDescopeKeys) -> CreatedAccessKey:
        return await client.access_keys.create("cli-machine", key_tenants=[KeyTenant("acme")])

    return cli.sdk(create)


def test_the_key_comes_from_the_environment_and_only_the_jwt_is_printed(
    cli: Cli, created: CreatedAccessKey, emulator: ThreadedEmulator
) -> None:
    before = exchanges(emulator)
    result = cli.run(
        "token",
        env={"DESCOPE_ACCESS_KEY": created.cleartext, "DESCOPE_MANAGEMENT_KEY": None},
        secrets=[created.cleartext],
    )
    assert result.returncode == 0, result.stderr
    jwt = result.stdout.strip()
    assert jwt.count(".") == 2
    assert result.stdout == jwt + "\n"
    assert exchanges(emulator) == before + 1


def test_a_secret_from_stdin_and_json_as_exchange_prints_it(
    cli: Cli, created: CreatedAccessKey
) -> None:
    result = cli.run(
        "token",
        "-",
        "--json",
        "--tenant",
        "acme",
        stdin=created.cleartext + "\n",
        secrets=[created.cleartext],
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"jwt", "keyId", "claims"}
    assert doc["keyId"] == created.key.id
    assert doc["claims"]["dct"] == "acme"


def test_without_a_key_it_says_what_to_set(cli: Cli) -> None:
    result = cli.run("token", env={"DESCOPE_ACCESS_KEY": None})
    assert result.returncode != 0
    assert "DESCOPE_ACCESS_KEY is not set" in result.stderr
    assert result.stdout == ""


def test_a_dead_key_fails_with_the_exchange_message_and_no_secret(cli: Cli) -> None:
    secret = "Kno-such-key.not-a-real-secret-0000"
    # From stdin, the documented way: a secret argument adds a warning line.
    result = cli.run("token", "-", stdin=secret, secrets=[secret])
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.error_lines()) == 1
