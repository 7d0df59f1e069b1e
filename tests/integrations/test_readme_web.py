"""The README's web examples are real code: each block runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def web_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- section:web -->", 1)[1].split("<!-- /section:web -->", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_web_section_has_one_block_per_framework() -> None:
    blocks = web_blocks()
    assert len(blocks) == 3
    for module in ("aiohttp", "asgi", "wsgi"):
        assert any(f"descope_keys.integrations.{module} import" in b for b in blocks)


@pytest.mark.parametrize("index", range(3))
def test_web_block_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Building clients and apps does no I/O: a project id is all the blocks need.
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "P2readme00000000000000000001")
    namespace: dict[str, object] = {"__name__": "readme_web"}
    exec(compile(web_blocks()[index], f"README web block {index}", "exec"), namespace)
    assert "app" in namespace
    close = getattr(namespace["client"], "close", None)
    if close is not None:  # the sync client: nothing started, closing is cheap
        close()
