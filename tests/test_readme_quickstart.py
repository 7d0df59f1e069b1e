"""The README's Quickstart lines are real: CI runs the test line, the demo line works."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_TIMEOUT = 60.0


def _quickstart_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None, "the Quickstart has no ```sh block"
    return [line.strip() for line in block[1].splitlines() if line.strip()]


def _demo_line() -> str:
    (line,) = [line for line in _quickstart_lines() if line.endswith(" demo")]
    return line


def test_quickstart_is_two_lines_demo_then_tests() -> None:
    lines = _quickstart_lines()
    assert len(lines) == 2
    assert lines[0] == _demo_line()
    assert "nox" in lines[1]


def test_the_test_suite_line_is_exactly_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _quickstart_lines()[1] in [line.strip() for line in ci]


def test_the_demo_line_installs_this_project_and_runs_its_console_script() -> None:
    make_venv, install, run = (part.strip() for part in _demo_line().split("&&"))
    venv = re.fullmatch(r"python3 -m venv (\S+)", make_venv)
    assert venv is not None, make_venv
    assert install == f"{venv[1]}/bin/pip install -q ."
    script, command = run.split()
    assert command == "demo"
    assert script.startswith(f"{venv[1]}/bin/")
    name = script.rsplit("/", 1)[1]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = re.search(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", pyproject, re.M | re.S)
    assert declared is not None
    assert f'{name} = "descope_keys.cli:main"' in declared[1]
    (installed,) = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    assert installed.value == "descope_keys.cli:main"
    assert callable(installed.load())


def test_the_demo_command_of_the_quickstart_works() -> None:
    name = _demo_line().split("&&")[-1].split()[0].rsplit("/", 1)[1]
    # The console script pip put next to this interpreter, as the Quickstart runs it.
    script = shutil.which(name, path=str(Path(sys.executable).parent))
    assert script is not None, f"{name} is not installed next to {sys.executable}"
    proc = subprocess.run(
        [script, "demo"],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Done in" in proc.stdout
