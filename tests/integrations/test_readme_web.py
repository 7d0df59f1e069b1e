"""The docs' web examples (docs/validating.md) are real code: each block runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "validating.md"


def web_blocks() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("<!-- section:web -->", 1)[1].split("<!-- /section:web -->", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


MODULES = ("aiohttp", "fastapi", "asgi", "flask", "wsgi")


def test_the_web_section_has_one_block_per_framework() -> None:
    blocks = web_blocks()
    assert len(blocks) == len(MODULES)
    for block, module in zip(blocks, MODULES, strict=True):
        assert f"descope_keys.integrations.{module} import" in block


def test_the_plain_asgi_and_wsgi_blocks_import_no_other_framework() -> None:
    by_module = dict(zip(MODULES, web_blocks(), strict=True))
    assert "fastapi" not in by_module["asgi"]
    assert "flask" not in by_module["wsgi"]


def test_the_module_table_names_every_module() -> None:
    section = PAGE.read_text(encoding="utf-8").split("<!-- section:web -->", 1)[1]
    table = section.split("```", 1)[0]
    for module in MODULES:
        assert f"| `descope_keys.integrations.{module}` |" in table


@pytest.mark.parametrize("index", range(len(MODULES)))
def test_web_block_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Building clients and apps does no I/O: a project id is all the blocks need.
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "P2readme00000000000000000001")
    namespace: dict[str, object] = {"__name__": "readme_web"}
    exec(compile(web_blocks()[index], f"docs/validating.md web block {index}", "exec"), namespace)
    assert "app" in namespace
    close = getattr(namespace["client"], "close", None)
    if close is not None:  # the sync client: nothing started, closing is cheap
        close()
