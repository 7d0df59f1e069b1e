"""mypy sees real signatures for the sync facade (no Any, no __getattr__, no coroutines)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests._sync_support import ROOT

MYPY_TIMEOUT = 300.0


def mypy(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *paths],
        capture_output=True,
        text=True,
        timeout=MYPY_TIMEOUT,
        check=False,
        cwd=ROOT,
    )


def test_the_typing_only_api_file_passes_mypy_strict() -> None:
    done = mypy("tests/typing_api.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_reveals_the_full_sync_signatures(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from descope_keys._sync import DescopeKeys

            client = DescopeKeys("P2")
            reveal_type(client.access_keys.create)
            reveal_type(client.validate_token)
            reveal_type(client.__enter__)
            """
        )
    )
    done = mypy(str(probe))
    # mypy versions differ in spelling builtins ("builtins.str" or "str").
    out = done.stdout.replace("builtins.", "")
    assert 'Revealed type is "def (name: str, *, expire_time: datetime.datetime' in out
    assert "user_id: str | None =, custom_claims: typing.Mapping[str, Any] | None =" in out
    assert ") -> descope_keys._models.CreatedAccessKey" in out
    assert (
        'Revealed type is "def (jwt: str, *, audience: str | None =) '
        '-> descope_keys._tokens.AccessKeyToken"'
    ) in out
    assert 'Revealed type is "def () -> descope_keys._sync.DescopeKeys"' in out
    assert "Coroutine" not in out
    assert "*Any" not in out  # no catch-all (*args: Any, **kwargs: Any) signature
