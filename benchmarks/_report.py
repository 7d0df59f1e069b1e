"""The suite's report: the machine it ran on, ``results.json`` and ``report.md``.

Nothing here names a path or a host: the machine is described by its CPU
model, core count, OS family, Python and library versions only.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ._goals import dig

LIBRARIES = (
    "descope-keys",
    "aiohttp",
    "cryptography",
    "joserfc",
    "attrs",
    "cattrs",
    "tenacity",
    "descope",
    "httpx",
    "requests",
    "PyJWT",
    "matplotlib",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU, cores, OS family, Python and library versions (no host name, no path)."""
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        usable = os.cpu_count()
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "arch": platform.machine(),
        "os": platform.system(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": versions,
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return "n/a" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _n(value: Any, digits: int = 1) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return f"{value:,.{digits}f}"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def goals_table(goals: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [(g["goal"], g["measured"], g["target"], _verdict(g["met"])) for g in goals]
    lines = _table(("Goal", "Measured", "Target", "Verdict"), rows)
    missed = [g for g in goals if not g["met"]]
    for g in missed:
        lines.append(f"- {_verdict(g['met'])}: {g['goal']}: {g['why']}")
    return lines + ([""] if missed else [])


def _validation(result: Mapping[str, Any]) -> list[str]:
    us, ratios = result.get("us_per_token", {}), result.get("ratios", {})
    floor = us.get("raw_verify")

    def vs_floor(name: str, value: float) -> float | None:
        # The module's own ratio (median of per-round ratios) where it gives one.
        ratio = ratios.get(f"{name}_vs_raw_verify")
        return ratio if ratio is not None else (value / floor if floor else None)

    rows = [(name, _n(value, 2), _n(vs_floor(name, value), 3)) for name, value in us.items()]
    head = f"Microseconds per token, median of {result.get('rounds')} interleaved rounds"
    head += f" over {result.get('tokens')} tokens ({result.get('key')})."
    lines = [head, "", *_table(("contender", "µs/token", "x raw verify"), rows)]
    rejections = result.get("rejection_us") or {}
    if rejections:
        lines += [
            f"Rejecting hostile tokens of {result.get('max_token_chars')} characters (the cap),"
            " µs per token (forged_at_cap: well formed, wrong signature):",
            "",
            *_table(("token", "µs/rejection"), [(k, _n(v, 2)) for k, v in rejections.items()]),
        ]
    return lines


def _management(cases: Mapping[str, Any]) -> list[str]:
    """One row per client; ratios only against a reference measured in the same case."""
    rows: list[tuple[Any, ...]] = []

    def add(case: str, figures: Any, label: str, reference: Any, against: str) -> None:
        if not figures:
            return
        rps = figures["requests_per_second"]
        ref = dig(reference, "requests_per_second")
        ratio = "reference" if figures is reference else None
        if ratio is None and ref:
            ratio = f"{rps / ref:.2f}x {against}"
        rows.append((label, _n(rps, 0), _n(figures.get("p50_ms"), 2), ratio, case))

    mgmt = dig(cases, "management_throughput", "result", "results") or {}
    raw = mgmt.get("raw_aiohttp")
    for key, label in (
        ("raw_aiohttp", "raw aiohttp (async, 32 in flight)"),
        ("descope_keys", "descope-keys AsyncDescopeKeys (32 in flight)"),
        ("official_descope", "official DescopeClientAsync (32 in flight)"),
        ("raw_aiohttp_in_tenacity", "raw aiohttp wrapped in tenacity (32 in flight)"),
    ):
        add("management_throughput", mgmt.get(key), label, raw, "raw aiohttp")
    threaded = dig(cases, "sync_overhead", "result", "threaded_load") or {}
    official = threaded.get("official_descope_sync")
    for key, label in (
        ("descope_keys_sync", "descope-keys DescopeKeys (32 threads)"),
        ("official_descope_sync", "official DescopeClient (32 threads)"),
    ):
        add("sync_overhead", threaded.get(key), label, official, "official sync")
    capacity = dig(cases, "emulator_throughput", "result", "load")
    add("emulator_throughput", capacity, "emulator capacity (bare aiohttp client)", None, "")
    if not rows:
        return []
    head = (
        "Requests per second against the emulator (its own process). Ratios compare only "
        "clients of the same case: management_throughput interleaves its clients over rounds "
        "(median round), sync_overhead runs its two back to back; cases ran one after another."
    )
    return [head, "", *_table(("client", "req/s", "p50 ms", "ratio", "case"), rows)]


def _overheads(cases: Mapping[str, Any]) -> list[str]:
    sync = dig(cases, "sync_overhead", "result") or {}
    mw = dig(cases, "middleware", "result") or {}
    rows = [
        (
            "sync load(): DescopeKeys",
            _n(dig(sync, "sequential_load", "sync_us_per_call")),
            "µs/call",
        ),
        (
            "sync load(): AsyncDescopeKeys",
            _n(dig(sync, "sequential_load", "async_us_per_call")),
            "µs/call",
        ),
        ("sync facade hop", _n(dig(sync, "sequential_load", "overhead_us_per_call")), "µs/call"),
        (
            "validate_token, sync in calling thread",
            _n(dig(sync, "validate_token", "sync_ns_per_call"), 0),
            "ns/call",
        ),
        (
            "validate_token, async",
            _n(dig(sync, "validate_token", "async_ns_per_call"), 0),
            "ns/call",
        ),
        (
            "middleware: server CPU, descope - bare",
            _n(dig(mw, "http", "descope_minus_bare_us"), 2),
            "µs/request",
        ),
        (
            "middleware: own work in-process",
            _n(dig(mw, "in_process_us", "middleware_own_work"), 2),
            "µs/request",
        ),
    ]
    rows = [r for r in rows if r[1] is not None]
    return _table(("measure", "value", "unit"), rows) if rows else []


def _cold_start(result: Mapping[str, Any]) -> list[str]:
    rows = [
        (name, c["cold_fetches_per_round"], c["cold_failures"], c["storm_fetches_per_round"])
        for name, c in result.get("clients", {}).items()
    ]
    head = (
        f"JWKS requests per round: a cold client gets {result.get('stampede_calls')} concurrent "
        f"validations, then {result.get('stampede_calls')} tokens with unknown kids."
    )
    return [
        head,
        "",
        *_table(("client", "cold stampede", "failed calls", "unknown-kid storm"), rows),
    ]


def _import_time(result: Mapping[str, Any]) -> list[str]:
    ms, loaded = result.get("median_ms", {}), result.get("modules_loaded", {})
    statements = result.get("statements", {})
    rows = [
        (f"`{statements.get(name, f'import {name}')}`", _n(value, 1), loaded.get(name))
        for name, value in ms.items()
    ]
    cold = result.get("pinned_validation") or {}
    cold_loaded = cold.get("modules_loaded", {})
    rows += [
        (
            f"{name}: first import through the first pinned-key validation",
            _n(value, 1),
            cold_loaded.get(name),
        )
        for name, value in (cold.get("median_ms") or {}).items()
    ]
    beyond = (result.get("cli_help") or {}).get("beyond_startup_ms") or {}
    labels = {
        "descope_keys_help": "`descope-keys --help`, whole process, beyond start-up",
        "descope_import_process": "`python -c 'import descope'`, beyond start-up (it has no CLI)",
    }
    rows += [(labels.get(name, name), _n(value, 1), None) for name, value in beyond.items()]
    head = f"Fresh interpreter, median of {result.get('rounds')} (start-up excluded)."
    lines = [head, "", *_table(("statement", "ms", "modules loaded"), rows)]
    for name, heavy in (result.get("heaviest_dependencies_ms") or {}).items():
        costs = ", ".join(f"{package} {ms} ms" for package, ms in heavy)
        lines.append(f"- heaviest imports under `{name}` (nested ones overlap): {costs}")
    return [*lines, ""]


def _memory(result: Mapping[str, Any]) -> list[str]:
    rows = [
        (
            name,
            p["operations"],
            p["growth_mib"],
            p["slope_bytes_per_op"],
            "flat" if p["flat"] else "**growing**",
        )
        for name, p in result.items()
        if isinstance(p, Mapping) and "growth_mib" in p
    ]
    head = f"RSS after warm-up; flat means growth <= {result.get('threshold_mib')} MiB."
    return [
        head,
        "",
        *_table(("phase", "operations", "growth MiB", "slope bytes/op", "verdict"), rows),
    ]


def _scaling(result: Mapping[str, Any]) -> list[str]:
    rows = []
    for kind in ("processes", "threads"):
        for mode, f in (result.get(kind) or {}).items():
            rate, cpu = f["validations_per_second"], f["per_cpu_second"]
            cores = f["cores_used"]
            rows.append(
                (
                    kind,
                    mode,
                    f"{rate.get('1'):,} ({cores.get('1')} cores)",
                    f"{rate.get('2'):,} ({cores.get('2')} cores)",
                    f["speedup_2_vs_1"],
                    f"{cpu.get('1'):,} / {cpu.get('2'):,}",
                    f["cpu_efficiency_2_vs_1"],
                )
            )
    head = (
        f"Validations per second, {result.get('usable_cpus')} usable CPUs, median of "
        f"{result.get('rounds')} rounds of {result.get('seconds_per_run')} s. The cores the "
        "workers actually got are in brackets; per CPU second is one worker's rate per CPU "
        "second it got, and its 2-vs-1 ratio (CPU efficiency) is what two free cores keep."
    )
    headers = (
        "workers",
        "tokens",
        "1 worker /s",
        "2 workers /s",
        "speedup",
        "per CPU s (1 / 2)",
        "CPU efficiency",
    )
    lines = [head, "", *_table(headers, rows)]
    usable = result.get("usable_cpus") or 1
    got = dig(result, "processes", "distinct", "cores_used", "2")
    if isinstance(got, (int, float)) and got < 0.75 * min(2, usable):
        grouped = " (the kernel shares CPU time between sessions first)"
        lines.append(
            f"Two worker processes got {got} cores between them on {usable} usable CPUs: the "
            f"machine was busy{grouped if result.get('scheduler_autogroup') else ''}, so the "
            "wall-clock speedup shows what the scheduler gave, not what the SDK can do; the "
            "CPU efficiency does."
        )
        lines.append("")
    return lines


def _jwks_rate(result: Mapping[str, Any]) -> list[str]:
    per = result.get("per_process", {})
    fleets = result.get("fleet_per_hour", {})
    sizes = list(fleets)
    rows = [
        (name, s["per_hour"], s.get("interval_s"), *(fleets[n][name] for n in sizes))
        for name, s in per.items()
    ]
    headers = ("scenario", "per process", "interval s", *(f"{n} processes" for n in sizes))
    return [
        "Steady-state JWKS requests per hour (simulated on the real cache).",
        "",
        *_table(headers, rows),
    ]


def _telemetry(result: Mapping[str, Any]) -> list[str]:
    validation = result.get("validation_ns", {})
    states = result.get("states", [])
    rows = [(side, *(figures.get(s) for s in states)) for side, figures in validation.items()]
    ops = result.get("operation_us", {})
    return [
        "Nanoseconds per warm validation (one repeated token, pinned keys), by telemetry "
        "state; `uncounted` is the same call without the validation counter. "
        f"Worst state over uncounted: {result.get('validation_added_ns')} ns.",
        "",
        *_table(("call", *states), rows),
        "Microseconds of one operation's span and duration record (what each HTTP call "
        "adds): " + ", ".join(f"{state} {us}" for state, us in ops.items()) + ".",
        "",
    ]


SECTIONS = (
    ("validation", "Local validation", _validation),
    ("cold_start", "JWKS fetches: cold stampede and unknown-kid storm", _cold_start),
    ("import_time", "Import time", _import_time),
    ("memory", "Memory", _memory),
    ("scaling", "Scaling with processes and threads", _scaling),
    ("jwks_rate", "JWKS requests per hour, default JwksPolicy", _jwks_rate),
    ("telemetry", "Telemetry (OpenTelemetry) cost", _telemetry),
)


def render(report: Mapping[str, Any], charts: Sequence[str]) -> str:
    """The Markdown report."""
    cases = report["cases"]
    mode = "quick (smoke counts: not for comparison)" if report["quick"] else "full"
    machine = report["machine"]
    lines = [
        "# descope-keys benchmark report",
        "",
        f"Run {report['started_utc']} ({mode}), {report['duration_s']:.0f} s, "
        f"`{report['command']}`.",
        "",
    ]
    if report.get("note"):
        lines += [f"> {report['note']}", ""]
    lines += ["## Goals", "", *goals_table(report["goals"])]
    lines += ["## Management throughput (`load()`)", "", *_management(cases)]
    lines += ["## Overheads", "", *_overheads(cases)]
    for name, title, render_section in SECTIONS:
        result = dig(cases, name, "result")
        if result:
            lines += [f"## {title}", "", *render_section(result)]
    if charts:
        lines += ["## Charts", ""]
        lines += [f"![{Path(c).stem}]({c})" for c in charts] + [""]
    elif report.get("charts_skipped"):
        lines += [f"Charts skipped: {report['charts_skipped']}", ""]
    lines += ["## Machine", ""]
    lib = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items() if v)
    lines += [
        f"- CPU: {machine['cpu']} ({machine['cpu_count']} logical CPUs, "
        f"{machine['usable_cpus']} usable), {machine['arch']}, {machine['os']}",
        f"- Python: {machine['python']}",
        f"- Libraries: {lib}",
        f"- Load average (1/5/15 min) at start {machine.get('load_average_start')}, "
        f"at end {machine.get('load_average_end')}",
        "",
        "## Cases",
        "",
    ]
    rows = [
        (name, c["status"], _n(c.get("seconds"), 1), c.get("load_average"), c.get("error") or "")
        for name, c in cases.items()
    ]
    lines += _table(("case", "status", "seconds", "load average after", "error"), rows)
    return "\n".join(lines).rstrip() + "\n"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write(report: Mapping[str, Any], out: Path, charts: Sequence[str]) -> None:
    """Write ``results.json`` and ``report.md`` into ``out``."""
    write_atomic(out / "results.json", json.dumps(report, indent=2, sort_keys=False) + "\n")
    write_atomic(out / "report.md", render(report, charts))
