"""examples/machine_client.py runs with one command; its httpx and requests machines get answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "machine_client.py"


def test_the_machine_client_example_calls_the_protected_apps() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("-> 200" in line for line in lines) == 6
    assert any(line.startswith("requests POST /deploy") and "-> 403" in line for line in lines)
    assert any("as nobody" in line and "-> 401" in line for line in lines)
    assert lines[-1].startswith("3 exchanges for 7 authenticated calls")
    assert "eyJ" not in done.stdout + done.stderr  # no token is ever printed
