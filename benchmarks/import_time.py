"""How long ``import descope_keys`` takes in a fresh interpreter, next to ``import descope``.

Each sample is a new subprocess that times the import statement with
``time.perf_counter`` (interpreter start-up excluded) and counts the modules
it loaded. Targets are interleaved round by round and the median is kept.
Bytecode is compiled by a warm-up run first, as it is on a deployed service.

Run::

    python -m benchmarks.import_time [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from ._common import ROOT

TARGETS = {
    "descope_keys": "import descope_keys",
    "descope": "import descope",
}
_PROBE = """
import sys, time
before = set(sys.modules)
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(elapsed, len(set(sys.modules) - before))
"""
_TIMEOUT = 120


def _sample(statement: str) -> tuple[float, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=True,
    )
    seconds, modules = done.stdout.split()
    return float(seconds), int(modules)


def _heaviest(module: str, top: int = 6) -> list[list[Any]]:
    """The packages that cost ``import module`` the most (``-X importtime``), stdlib included."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=True,
    )
    entries = []
    for line in done.stderr.splitlines():
        fields = line.split("|")
        if len(fields) == 3 and fields[1].strip().isdigit():
            name = fields[2][1:]
            depth = (len(name) - len(name.lstrip())) // 2
            entries.append((depth, int(fields[1]), name.strip()))
    # Post-order: the module's own line comes last, after its whole subtree.
    subtree = []
    for depth, cumulative, name in reversed(entries[:-1]):
        if depth == 0:
            break
        subtree.append((cumulative, name.split(".")[0]))
    own = module.split(".")[0]
    costs: dict[str, int] = {}
    for cumulative, package in subtree:
        if package != own:
            costs[package] = max(costs.get(package, 0), cumulative)
    ranked = sorted(costs.items(), key=lambda item: -item[1])[:top]
    return [[package, round(us / 1000, 1)] for package, us in ranked]


def main(quick: bool = False) -> dict[str, Any]:
    """Time fresh-interpreter imports of ``descope_keys`` and of the official ``descope``.

    Args:
        quick: Three samples per target instead of fifteen.

    Returns:
        Per target the median milliseconds and modules loaded, the ratio
        ``descope / descope_keys``, and the packages that cost
        each import the most (the standard library's included).
    """
    rounds = 3 if quick else 15
    for statement in TARGETS.values():
        _sample(statement)  # compile bytecode, fill the OS file cache
    samples: dict[str, list[float]] = {name: [] for name in TARGETS}
    modules: dict[str, int] = {}
    for _ in range(rounds):
        for name, statement in TARGETS.items():
            seconds, loaded = _sample(statement)
            samples[name].append(seconds * 1000)
            modules[name] = loaded
    ms = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    return {
        "rounds": rounds,
        "median_ms": ms,
        "min_ms": {name: round(min(values), 1) for name, values in samples.items()},
        "modules_loaded": modules,
        "descope_over_descope_keys": round(ms["descope"] / ms["descope_keys"], 2),
        # Nested packages count inside their importer too: a ranking, not a sum.
        "heaviest_dependencies_ms": {name: _heaviest(name) for name in TARGETS},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
