"""Smoke test of the benchmark suite: ``python -m benchmarks --quick`` runs every case and
writes its report, JSON and charts.

These tests check that the suite works, never a timing: the figures of a
quick run on a busy machine mean nothing. They write to a temporary
directory, never over the committed ``benchmarks/results/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.bench_smoke

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "validation",
    "management_throughput",
    "sync_overhead",
    "emulator_throughput",
    "middleware",
    "cold_start",
    "import_time",
    "memory",
    "scaling",
    "jwks_rate",
    "credentials",
    "telemetry",
}
CHARTS = {
    "validation.png",
    "management.png",
    "jwks_fetches.png",
    "memory.png",
    "import_time.png",
    "scaling.png",
    "overheads.png",
}
# A hard bound, not a speed check: the quick suite takes well under a minute
# with three cases at a time, even on a loaded two-core machine.
_TIMEOUT = 300


def _run_suite(out: Path, *args: str) -> tuple[int, str]:
    # Its own session: on a timeout the whole tree goes (emulators, servers, workers).
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--out", str(out), *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the quick suite did not finish within {_TIMEOUT} s")
    return proc.returncode, output


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("bench")
    code, output = _run_suite(out, "--quick", "--jobs", "3")
    return out, code, output


def _results(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return data


def test_quick_suite_exits_zero(quick_run: tuple[Path, int, str]) -> None:
    _, code, output = quick_run
    assert code == 0, output[-3000:]


def test_quick_suite_runs_every_case(quick_run: tuple[Path, int, str]) -> None:
    out, _, _ = quick_run
    results = _results(out)
    assert results["quick"] is True
    assert set(results["cases"]) == CASES
    failed = {n: c.get("error") for n, c in results["cases"].items() if c["status"] != "ok"}
    assert not failed
    assert all(isinstance(c["result"], dict) and c["result"] for c in results["cases"].values())


def test_quick_suite_judges_every_goal(quick_run: tuple[Path, int, str]) -> None:
    out, _, _ = quick_run
    goals = _results(out)["goals"]
    assert len(goals) >= 9
    # Every case ran, so every goal has a verdict; a missed one says why.
    assert all(g["met"] in (True, False) for g in goals)
    assert all(g["why"] for g in goals if g["met"] is False)


def test_quick_suite_records_the_machine(quick_run: tuple[Path, int, str]) -> None:
    out, _, _ = quick_run
    machine = _results(out)["machine"]
    assert machine["cpu"]
    assert machine["cpu_count"] >= 1
    assert machine["python"].split()[-1] == ".".join(map(str, sys.version_info[:3]))
    assert machine["libraries"]["descope-keys"]


def test_quick_suite_writes_the_markdown_report(quick_run: tuple[Path, int, str]) -> None:
    out, _, _ = quick_run
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# descope-keys benchmark report")
    for heading in ("## Goals", "## Local validation", "## Memory", "## Machine", "## Cases"):
        assert heading in report
    assert "quick" in report.splitlines()[2]
    assert str(ROOT) not in report


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="charts need matplotlib (the bench-smoke group)",
)
def test_quick_suite_draws_every_chart(quick_run: tuple[Path, int, str]) -> None:
    out, _, _ = quick_run
    assert {p.name for p in out.glob("*.png")} == CHARTS
    for name in CHARTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in (out / "report.md").read_text(encoding="utf-8")


def test_render_rewrites_the_report_from_saved_results(
    quick_run: tuple[Path, int, str], tmp_path: Path
) -> None:
    from benchmarks import __main__ as suite

    out, _, _ = quick_run
    (tmp_path / "results.json").write_bytes((out / "results.json").read_bytes())
    assert suite.rerender(tmp_path, "a remark about the machine") == 0
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "> a remark about the machine" in report
    assert _results(tmp_path)["goals"] == _results(out)["goals"]


def test_a_failing_case_is_reported_and_the_report_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import __main__ as suite

    monkeypatch.setitem(suite.CASES, "no_such_case", "a case whose module does not exist")
    code = suite.run(["no_such_case", "jwks_rate"], True, tmp_path, None, 1)
    assert code == 1
    results = _results(tmp_path)
    failed = results["cases"]["no_such_case"]
    assert failed["status"] == "failed"
    assert "No module named 'benchmarks.no_such_case'" in failed["error"]
    assert results["cases"]["jwks_rate"]["status"] == "ok"
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| no_such_case | failed |" in report
    assert "not measured" in report
