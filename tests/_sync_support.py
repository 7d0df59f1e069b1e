"""Helpers shared by the sync facade tests (tests/test_sync_*.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every blocking wait in these tests is bounded by this many seconds.
DEADLINE = 30.0


def loop_threads() -> list[threading.Thread]:
    """The event-loop threads of live sync clients (their names end in -loop)."""
    return [t for t in threading.enumerate() if t.name.endswith("-loop") and t.is_alive()]


def python(code: str, *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (warnings as errors) and wait for it."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=child_env(),
        check=False,
    )


def child_env() -> dict[str, str]:
    """The environment for child interpreters: no Descope settings, the project importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env["PYTHONPATH"] = str(ROOT)
    return env
