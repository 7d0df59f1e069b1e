"""The docs' "Calling an API with an access key" blocks run as written (only API points here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from descope_keys import DescopeKeys
from descope_keys.emulator import ThreadedEmulator
from tests.credentials._apps import protected_wsgi_app, serve_wsgi
from tests.credentials.conftest import exchanges

PAGE = Path(__file__).resolve().parents[2] / "docs" / "machine.md"
_API = 'API = "https://reports.example.com"\n'


def blocks() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("<!-- section:credentials -->", 1)[1]
    section = section.split("<!-- /section:credentials -->", 1)[0]
    return [b for b in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL) if _API in b]


def test_there_is_a_block_per_http_client() -> None:
    found = blocks()
    assert len(found) == 3
    for module in ("aiohttp", "httpx", "requests"):
        assert any(f"descope_keys.integrations.{module} import" in b for b in found)


@pytest.mark.parametrize("index", range(3))
def test_the_block_calls_a_protected_api(
    index: int,
    threaded: ThreadedEmulator,
    sync_client: DescopeKeys,
    sync_secret: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DESCOPE_PROJECT_ID", threaded.project_id)
    monkeypatch.setenv("DESCOPE_BASE_URI", threaded.base_url)
    monkeypatch.setenv("DESCOPE_ACCESS_KEY", sync_secret)
    with (
        DescopeKeys(threaded.project_id, base_url=threaded.base_url) as validator,
        serve_wsgi(protected_wsgi_app(validator)) as url,
    ):
        code = blocks()[index].replace(_API, f"API = {url!r}\n")
        exec(compile(code, f"docs/machine.md block {index}", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    assert printed
    assert all("'left'" in line or '"left"' in line for line in printed), printed
    assert exchanges(threaded) == len(printed)  # one per client in the block
