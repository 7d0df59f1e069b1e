"""Run the whole benchmark suite and write the report: ``python -m benchmarks [--quick]``.

Every case runs in a fresh subprocess, one after the other: a case's memory,
imports, CPU pinning or stray threads cannot touch the next one, and a case
that fails or hangs is recorded as failed (with its error) while the others
still run. Then ``results.json`` (everything), ``report.md`` (tables, goals
met or missed and why, the machine) and PNG charts are written to ``--out``
(default ``benchmarks/results/``). The exit status is 1 when a case failed.

``--quick`` runs every case with small counts: a smoke run, whose figures are
not for comparison.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import importlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import _goals, _report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent / "results"

# name → what it measures; the module benchmarks.<name> has main(quick) -> dict.
CASES = {
    "validation": "local validation: raw verify, ours, PyJWT, joserfc, official SDK",
    "management_throughput": "load() at concurrency 32: raw aiohttp, ours, official async SDK",
    "sync_overhead": "sync facade hop, validate in the calling thread, 32 threads vs official",
    "emulator_throughput": "the emulator's own capacity (it must not be the bottleneck)",
    "middleware": "aiohttp middleware cost per request",
    "cold_start": "JWKS fetches of a cold stampede and of an unknown-kid storm",
    "import_time": "import descope_keys vs import descope",
    "memory": "RSS growth over 100k validations and 20k management calls",
    "scaling": "validation throughput with 1 and 2 processes (and threads)",
    "jwks_rate": "JWKS requests per hour per process and per fleet (simulated)",
    "credentials": "warm authorization() and each HTTP-client adapter's cost per request",
    "telemetry": "warm validation and an operation's span with the OpenTelemetry hooks off and on",
}
_TIMEOUT = {True: 300.0, False: 3600.0}  # per case: quick, full
_ERROR_LINES = 3
# Tracebacks name files by absolute path; the report keeps only their names.
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\\/\s\"':]+)+[\\/]([^\\/\s\"':]+)")


def _error_text(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return _PATH.sub(r"\1", " / ".join(lines[-_ERROR_LINES:]))[:500] or "no error output"


def _run_case(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    """Run one case in a subprocess of its own session; its record for the report."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        stderr_file = Path(tmp) / "stderr.txt"
        command = [sys.executable, "-m", "benchmarks", "--run-case", name]
        command += ["--result-file", str(result_file)] + (["--quick"] if quick else [])
        with open(stderr_file, "w+") as stderr:
            # A session of its own: on a timeout the whole group goes, emulators included.
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout)
                error = None
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code, error = None, f"timed out after {timeout:g} s"
            stderr.seek(0)
            errors = stderr.read()
        seconds = round(time.perf_counter() - started, 1)
        if code == 0 and result_file.exists():
            result = json.loads(result_file.read_text(encoding="utf-8"))
            return {"status": "ok", "seconds": seconds, "result": result}
    if error is None:
        error = _error_text(errors) if code else "no result written"
    return {"status": "failed", "seconds": seconds, "error": error}


def _case_main(name: str, result_file: Path, quick: bool) -> None:
    """In the case's subprocess: run ``benchmarks.<name>.main`` and save its result."""
    module = importlib.import_module(f"benchmarks.{name}")
    result = module.main(quick=quick)
    _report.write_atomic(result_file, json.dumps(result))


def run(cases: list[str], quick: bool, out: Path, note: str | None, jobs: int) -> int:
    """Run ``cases``, write the report into ``out``; 0 when every case succeeded."""
    out.mkdir(parents=True, exist_ok=True)
    started_utc = datetime.datetime.now(datetime.timezone.utc)
    started = time.perf_counter()
    machine = _report.machine_info()
    machine["load_average_start"] = _report.load_average()
    records: dict[str, dict[str, Any]] = {}
    timeout = _TIMEOUT[quick]

    def one(name: str) -> dict[str, Any]:
        print(f"[bench] {name}: {CASES[name]} ...", flush=True)
        record = _run_case(name, quick, timeout)
        # How busy the machine was while the case ran: other work skews its figures.
        record["load_average"] = _report.load_average()
        print(f"[bench] {name}: {record['status']} in {record['seconds']} s", flush=True)
        return record

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = {name: pool.submit(one, name) for name in cases}
        for name, future in futures.items():
            records[name] = {"title": CASES[name], **future.result()}
    machine["load_average_end"] = _report.load_average()
    command = "python -m benchmarks" + (" --quick" if quick else "")
    if jobs > 1:
        command += f" --jobs {jobs}"
    if set(cases) != set(CASES):
        command += "".join(f" --case {shlex.quote(c)}" for c in cases)
    report: dict[str, Any] = {
        "suite": "descope-keys benchmarks",
        "quick": quick,
        "jobs": jobs,
        "command": command,
        "note": note,
        "started_utc": started_utc.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "cases": records,
    }
    return _publish(report, out)


def _publish(report: dict[str, Any], out: Path) -> int:
    """Judge the goals, draw the charts, write the files; 0 when every case succeeded."""
    records = report["cases"]
    report["goals"] = _goals.evaluate(records, report["machine"])
    report.pop("charts_skipped", None)
    try:
        from . import _charts

        charts = _charts.write(records, out)
    except ImportError as exc:  # matplotlib is a benchmark-only dependency
        charts = []
        report["charts_skipped"] = f"matplotlib is not installed ({exc.name})"
    report["charts"] = charts
    _report.write(report, out, charts)
    failed = [name for name, record in records.items() if record["status"] != "ok"]
    missed = [g["goal"] for g in report["goals"] if g["met"] is False]
    print(f"[bench] report: {out / 'report.md'} ({len(charts)} charts)")
    print(f"[bench] goals missed: {len(missed)}; cases failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


def rerender(out: Path, note: str | None) -> int:
    """Rewrite report.md, the goals and the charts from ``out/results.json`` (no new run)."""
    report: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    if note is not None:
        report["note"] = note
    return _publish(report, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the whole benchmark suite and write its report (Markdown, JSON, charts).",
        epilog=f"cases: {', '.join(CASES)}",
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="report directory (benchmarks/results)"
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=sorted(CASES),
        metavar="NAME",
        help="run only this case (repeatable)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="cases run at once (default 1; more skews the figures: for smoke runs only)",
    )
    parser.add_argument("--note", help="a remark recorded with the report")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite report.md and the charts from the results.json in --out",
    )
    parser.add_argument("--run-case", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_case:
        _case_main(args.run_case, args.result_file, args.quick)
        return 0
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.render:
        return rerender(args.out.resolve(), args.note)
    cases = [name for name in CASES if not args.case or name in args.case]
    return run(cases, args.quick, args.out.resolve(), args.note, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
