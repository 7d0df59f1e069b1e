"""PNG charts of one run (matplotlib is a benchmark-only dependency, imported lazily).

Each chart is drawn only when its case succeeded; :func:`write` returns the
file names it wrote, and raises ImportError when matplotlib is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._goals import dig

CHARTS = (
    "validation.png",
    "management.png",
    "jwks_fetches.png",
    "memory.png",
    "import_time.png",
    "scaling.png",
    "overheads.png",
)
_OURS = "#2b7bba"
_OTHER = "#9a9a9a"
_FLOOR = "#4daf4a"


def _label(value: float) -> str:
    if abs(value) >= 100:
        return f" {value:,.0f}"
    return f" {value:.3g}"


def _color(label: str) -> str:
    if label.startswith(("raw", "floor")):
        return _FLOOR
    return _OURS if ("ours" in label or "descope-keys" in label) else _OTHER


def _bars(
    plt: Any,
    path: Path,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    unit: str,
    *,
    log: bool = False,
) -> None:
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.4))
    y = range(len(labels))
    ax.barh(list(y), values, color=[_color(label) for label in labels])
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(unit)
    ax.set_title(title)
    for i, value in enumerate(values):
        ax.annotate(f" {value:,.3g}", (value, i), va="center", fontsize=8, annotation_clip=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _validation(plt: Any, out: Path, cases: Mapping[str, Any]) -> bool:
    us = dig(cases, "validation", "result", "us_per_token")
    if not us:
        return False
    names = {
        "raw_verify": "floor: raw RSA verify",
        "ours_distinct": "ours, distinct tokens",
        "ours_repeated": "ours, repeated token",
        "pyjwt": "PyJWT jwt.decode",
        "descope_sdk": "official validate_session",
    }
    rows = [(names.get(k, k.replace("_", " ")), v) for k, v in us.items()]
    _bars(
        plt,
        out / "validation.png",
        "Local validation (lower is better)",
        [r[0] for r in rows],
        [r[1] for r in rows],
        "µs per token (log scale)",
        log=True,
    )
    return True


def _management(plt: Any, out: Path, cases: Mapping[str, Any]) -> bool:
    rows = []
    mgmt = dig(cases, "management_throughput", "result", "results") or {}
    for key, label in (
        ("raw_aiohttp", "raw aiohttp"),
        ("descope_keys", "descope-keys async"),
        ("official_descope", "official SDK async"),
        ("raw_aiohttp_in_tenacity", "aiohttp + tenacity"),
    ):
        if key in mgmt:
            rows.append((label, mgmt[key]["requests_per_second"]))
    threaded = dig(cases, "sync_overhead", "result", "threaded_load") or {}
    for key, label in (
        ("descope_keys_sync", "descope-keys sync, 32 threads*"),
        ("official_descope_sync", "official SDK sync, 32 threads*"),
    ):
        if key in threaded:
            rows.append((label, threaded[key]["requests_per_second"]))
    if not rows:
        return False
    _bars(
        plt,
        out / "management.png",
        "access_keys.load() against the emulator (higher is better; *: another case)",
        [r[0] for r in rows],
        [r[1] for r in rows],
        "requests per second",
    )
    return True


def _jwks_fetches(plt: Any, out: Path, cases: Mapping[str, Any]) -> bool:
    clients = dig(cases, "cold_start", "result", "clients")
    if not clients:
        return False
    labels = [name.replace("descope_keys", "descope-keys").replace("_", " ") for name in clients]
    cold = [max(c["cold_fetches_per_round"]) for c in clients.values()]
    storm = [max(c["storm_fetches_per_round"]) for c in clients.values()]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    y = list(range(len(labels)))
    ax.barh([i - 0.2 for i in y], cold, height=0.4, color=_OURS, label="cold stampede")
    ax.barh([i + 0.2 for i in y], storm, height=0.4, color=_OTHER, label="unknown-kid storm")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xscale("symlog")
    ax.set_xlabel("JWKS requests (worst round; 200 validations each)")
    ax.set_title("JWKS requests per stampede (lower is better)")
    for i in y:
        ax.annotate(f" {cold[i]}", (cold[i], i - 0.2), va="center", fontsize=8)
        ax.annotate(f" {storm[i]}", (storm[i], i + 0.2), va="center", fontsize=8)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "jwks_fetches.png", dpi=110)
    plt.close(fig)
    return True


def _memory(plt: Any, out: Path, cases: Mapping[str, Any]) -> bool:
    memory = dig(cases, "memory", "result")
    phases = {
        k: v for k, v in (memory or {}).items() if isinstance(v, Mapping) and "checkpoints" in v
    }
    if not phases:
        return False
    fig, axes = plt.subplots(1, len(phases), figsize=(4 * len(phases), 3.2), squeeze=False)
    for ax, (name, phase) in zip(axes[0], phases.items(), strict=True):
        points = phase["checkpoints"]
        start = points[0][1]
        ax.plot([p[0] for p in points], [p[1] - start for p in points], marker="o", color=_OURS)
        ax.axhline(memory["threshold_mib"], color="#d62728", linestyle="--", linewidth=1)
        ax.set_ylim(-0.5, max(memory["threshold_mib"] * 1.5, max(p[1] - start for p in points)))
        ax.set_title(f"{name} ({phase['growth_mib']} MiB)", fontsize=9)
        ax.set_xlabel("operations after warm-up")
    axes[0][0].set_ylabel("RSS growth, MiB (dashed: limit)")
    fig.suptitle("Memory after warm-up (flat is good)")
    fig.tight_layout()
    fig.savefig(out / "memory.png", dpi=110)
    plt.close(fig)
    return True


def _import_time(plt: Any, out: Path, cases: Mapping[str, Any]) -> bool:
    ms = dig(cases, "import_time", "result", "median_ms")
    if not ms:
        return False
    statements = dig(cases, "import_time", "result", "statements") or {}
    labels = [
        statements.get(name, f"import {name}").replace("descope_keys", "descope_keys (ours)")
        for name in ms
    ]
    _bars(
        plt,
        out / "import_time.png",
        "Import time, fresh interpreter",
        labels,
        list(ms.values()),
        "ms",
    )
    return True


def _scaling(plt: Any, out: Path, cases: Mapping[str, Any]) -> bool:
    result = dig(cases, "scaling", "result")
    if not result:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    panels = (
        ("validations_per_second", "all workers, per wall-clock second"),
        ("per_cpu_second", "one worker, per CPU second it got"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for offset, kind, color in ((-0.2, "processes", _OURS), (0.2, "threads", _OTHER)):
            rates = dig(result, kind, "distinct", key) or {}
            cores = dig(result, kind, "distinct", "cores_used") or {}
            xs = [int(n) + offset for n in rates]
            ax.bar(xs, list(rates.values()), width=0.4, color=color, label=kind)
            if key == "validations_per_second":
                for x, (n, value) in zip(xs, rates.items(), strict=True):
                    ax.annotate(f"{cores.get(n, 0):.2f} cores", (x, value), ha="center", fontsize=7)
        ax.set_xticks([1, 2], ["1 worker", "2 workers"])
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("validations (distinct tokens)")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Validation throughput: processes vs threads")
    fig.tight_layout()
    fig.savefig(out / "scaling.png", dpi=110)
    plt.close(fig)
    return True


def _overheads(plt: Any, out: Path, cases: Mapping[str, Any]) -> bool:
    rows = [
        (
            "sync facade hop per load()",
            dig(cases, "sync_overhead", "result", "sequential_load", "overhead_us_per_call"),
        ),
        (
            "middleware, server CPU per request",
            dig(cases, "middleware", "result", "http", "descope_minus_bare_us"),
        ),
        (
            "middleware own work, in-process",
            dig(cases, "middleware", "result", "in_process_us", "middleware_own_work"),
        ),
        (
            "validate_token, repeated token",
            dig(cases, "middleware", "result", "in_process_us", "validate_token"),
        ),
    ]
    rows = [(label, float(v)) for label, v in rows if isinstance(v, (int, float))]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    y = list(range(len(rows)))
    ax.barh(y, [max(v, 0.0) for _, v in rows], color=_OURS)
    ax.axvline(100, color="#d62728", linestyle="--", linewidth=1)
    ax.set_yticks(y, [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("µs (dashed: the 100 µs sync-overhead limit)")
    ax.set_title("Per-call overheads (lower is better)")
    for i, (_, value) in enumerate(rows):
        ax.annotate(_label(value), (max(value, 0.0), i), va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "overheads.png", dpi=110)
    plt.close(fig)
    return True


def write(cases: Mapping[str, Any], out: Path) -> list[str]:
    """Draw every chart whose data is there; return the file names written.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    written = []
    for name, draw in zip(
        CHARTS,
        (_validation, _management, _jwks_fetches, _memory, _import_time, _scaling, _overheads),
        strict=True,
    ):
        path = out / name
        if draw(plt, out, cases):
            written.append(name)
        elif path.exists():
            path.unlink()  # never leave a chart of an older run next to this report
    return written
