"""The Observability page's setup (docs/observability.md) works as written: a subprocess
(global providers can be set once per process) runs it, then a client call, and reads the
console exporters."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CALL = """
import asyncio
from descope_keys import AsyncDescopeKeys
from descope_keys.emulator import Emulator

async def main():
    async with Emulator() as emu, AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url
    ) as client:
        await client.access_keys.search()

asyncio.run(main())
"""


def _setup_block() -> str:
    page = (ROOT / "docs" / "observability.md").read_text(encoding="utf-8")
    section = page.split("<!-- section:observability -->", 1)[1]
    section = section.split("<!-- /section:observability -->", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return block


def test_the_setup_is_ten_lines() -> None:
    assert len([line for line in _setup_block().splitlines() if line.strip()]) == 10


@pytest.mark.slow
def test_the_setup_exports_the_sdks_spans_and_metrics() -> None:
    code = _setup_block() + textwrap.dedent(_CALL)
    # Providers flush at interpreter exit (shutdown_on_exit), which ends the output.
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    assert '"name": "access_keys.search"' in done.stdout
    assert '"kind": "SpanKind.CLIENT"' in done.stdout
    assert "descope_keys.operation.duration" in done.stdout
