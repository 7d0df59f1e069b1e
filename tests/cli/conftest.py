"""One emulator per test module: every CLI subprocess talks to it on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from descope_keys.emulator import ThreadedEmulator
from tests.cli._cli import MANAGEMENT_KEY, PROJECT_ID, Cli

ROLE_PERMISSIONS = {"deployer": ["deploy", "read"], "viewer": ["read"]}


@pytest.fixture(scope="module")
def emulator() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(PROJECT_ID, MANAGEMENT_KEY, role_permissions=ROLE_PERMISSIONS) as emu:
        yield emu


@pytest.fixture(scope="module")
def cli(emulator: ThreadedEmulator) -> Cli:
    return Cli(emulator.base_url)
