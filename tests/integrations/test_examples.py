"""The examples run with one command each and show 200, 401 and 403."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["aiohttp_app.py", "fastapi_app.py", "flask_app.py"])
def test_example_runs_and_shows_every_outcome(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for outcome in ("-> 200", "-> 401", "-> 403"):
        assert outcome in done.stdout
    # Tokens are never printed: no JWT header segment in the output.
    assert "eyJ" not in done.stdout + done.stderr
