"""Run the real ``descope-keys`` entry point in a subprocess against an emulator."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

import attrs

from descope_keys._client import AsyncDescopeKeys
from descope_keys._retry import RetryPolicy

T = TypeVar("T")

PROJECT_ID = "Pclitests0000000000000000"
MANAGEMENT_KEY = "Kcli-mgmt-SECRET-never-shown-0123456789"
# Every CLI run gets a hard bound: a hung command fails the test instead of the suite.
TIMEOUT = 60.0


@attrs.frozen
class Result:
    """What one CLI run produced."""

    returncode: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        """The non-empty lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.strip()]


@attrs.frozen
class Running:
    """A started CLI process."""

    cli: Cli
    args: tuple[str, ...]
    proc: subprocess.Popen[str]
    stdin: str

    def finish(self, secrets: Sequence[str] = ()) -> Result:
        """Wait (bounded), then check that no secret reached stderr."""
        try:
            stdout, stderr = self.proc.communicate(self.stdin, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        result = Result(self.proc.returncode, stdout, stderr)
        for secret in (self.cli.management_key, *secrets):
            assert secret not in result.stderr, f"a secret leaked into stderr of {self.args}"
        assert self.cli.management_key not in result.stdout
        return result


@attrs.frozen
class Cli:
    """The CLI pointed at one emulator, with a clean environment."""

    base_url: str
    project_id: str = PROJECT_ID
    management_key: str = MANAGEMENT_KEY

    def env(self, overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """The subprocess environment: no DESCOPE_* from the developer's shell, UTC times."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
        env.update(
            DESCOPE_PROJECT_ID=self.project_id,
            DESCOPE_MANAGEMENT_KEY=self.management_key,
            DESCOPE_BASE_URI=self.base_url,
            TZ="UTC",
            PYTHONIOENCODING="utf-8",
        )
        for name, value in (overrides or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def start(
        self,
        *args: str,
        stdin: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Running:
        """Start ``python -m descope_keys.cli ARGS`` without waiting for it."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "descope_keys.cli", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(env),
        )
        return Running(self, args, proc, stdin or "")

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        env: Mapping[str, str | None] | None = None,
        secrets: Sequence[str] = (),
    ) -> Result:
        """Run ``python -m descope_keys.cli ARGS``; no secret may reach stderr."""
        return self.start(*args, stdin=stdin, env=env).finish(secrets)

    def sdk(self, action: Callable[[AsyncDescopeKeys], Awaitable[T]]) -> T:
        """Set up or check state through the SDK itself, in-process."""

        async def go() -> T:
            async with AsyncDescopeKeys(
                self.project_id,
                self.management_key,
                base_url=self.base_url,
                retry=RetryPolicy.disabled(),
            ) as client:
                return await action(client)

        return asyncio.run(go())


def fields(text: str) -> dict[str, str]:
    """``label  value`` lines -> a dict; asserts the values share one column."""
    out: dict[str, str] = {}
    columns = set()
    for line in text.splitlines():
        label, sep, value = line.partition("  ")
        if not sep or not label or label.startswith(" "):
            continue
        value = value.lstrip(" ")
        out[label] = value
        columns.add(len(line) - len(value))
    assert len(columns) <= 1, f"values are not aligned: {text!r}"
    return out
