"""Cold start in fresh interpreters, ours beside the official ``descope`` SDK, in one run.

Three things a short-lived process pays on every run:

- ``import``: ``import descope_keys`` and the import of its two client
  classes next to ``import descope``, timed with ``time.perf_counter`` around
  the statement (interpreter start-up excluded), with the modules loaded.
- ``pinned_validation``: a serverless cold start, from the first import
  through the first validation with a pinned public key (no network):
  ``DescopeKeys(...).validate_token`` next to the official
  ``DescopeClient(...).validate_session``, timed the same way.
- ``cli_help``: ``descope-keys --help`` as a whole process (wall clock), less
  the median of a bare ``python -c pass``: what the CLI adds to interpreter
  start-up. The official SDK ships no CLI; the least any CLI built on it
  pays is ``import descope``, so that process (less start-up) stands beside it.

Each sample is a new subprocess; every target runs once per round, rounds are
interleaved and the median is kept. Bytecode is compiled by a warm-up run of
each target first, as it is on a deployed service.

Run::

    python -m benchmarks.import_time [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from ._common import PROJECT_ID, ROOT, public_jwk, sign_tokens, signing_key

TARGETS = {
    "descope_keys": "import descope_keys",
    # The package serves its clients lazily: this is what a user of them pays,
    # and what ``import descope`` (which loads DescopeClient) compares with.
    "descope_keys_clients": "from descope_keys import AsyncDescopeKeys, DescopeKeys",
    "descope": "import descope",
}
# The official client gets a base URL nobody listens on: it must not reach out.
_VALIDATE = {
    "descope_keys": (
        "from descope_keys import DescopeKeys\n"
        "client = DescopeKeys({project!r}, public_key=sys.argv[1])\n"
        "client.validate_token(sys.argv[2])\n"
    ),
    "descope": (
        "import json\n"
        "from descope import DescopeClient\n"
        "client = DescopeClient({project!r}, public_key=json.loads(sys.argv[1]),"
        " base_url='http://127.0.0.1:9')\n"
        "client.validate_session(sys.argv[2])\n"
    ),
}
# What the ``descope-keys`` console script runs.
_CLI = "import sys; from descope_keys.cli import main; sys.exit(main())"
_WALL = {
    "interpreter": ["-c", "pass"],
    "descope_keys_help": ["-c", _CLI, "--help"],
    "descope_import_process": ["-c", "import descope"],
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
# The warm-up writes bytecode, as pip does at install time for the official
# SDK: an environment that forbids writing it (PYTHONDONTWRITEBYTECODE) would
# have every sample of ours compile its sources, and none of theirs.
_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
#: Goals (issue 14): import at most half the official SDK's; the CLI's help
#: within this many ms of a bare interpreter's start-up.
IMPORT_RATIO_GOAL = 0.5
HELP_BEYOND_STARTUP_GOAL_MS = 150.0


def _sample(statement: str, *args: str) -> tuple[float, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement), *args],
        cwd=ROOT,
        env=_ENV,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=True,
    )
    seconds, modules = done.stdout.split()
    return float(seconds), int(modules)


def _wall(args: list[str]) -> float:
    """Seconds from spawn to exit of one interpreter running ``args``."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_ENV,
        capture_output=True,
        timeout=_TIMEOUT,
        check=True,
    )
    return time.perf_counter() - started


def _heaviest(module: str, top: int = 6) -> list[list[Any]]:
    """The packages that cost ``import module`` the most (``-X importtime``), stdlib included."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=_ENV,
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


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main(quick: bool = False) -> dict[str, Any]:
    """Time imports, a pinned-key cold validation and ``--help``, ours and the official SDK's.

    Args:
        quick: Three samples per target instead of fifteen.

    Returns:
        ``median_ms``/``min_ms``/``modules_loaded`` of the imports, the
        ratio ``descope / descope_keys`` (as before) and ours over theirs,
        the clients' import included; ``pinned_validation``
        (median ms from first import through the first validation, each
        side); ``cli_help`` (median wall ms of each process and of a bare
        interpreter, and each beyond that start-up); the goals; and the
        packages that cost each import the most (the standard library's
        included).
    """
    rounds = 3 if quick else 15
    key = signing_key()
    validate_args = (json.dumps(public_jwk(key)), sign_tokens(key, 1)[0])
    validate = {name: code.format(project=PROJECT_ID) for name, code in _VALIDATE.items()}
    # Compile bytecode, fill the OS file cache, and fail early on a broken target.
    for statement in TARGETS.values():
        _sample(statement)
    for statement in validate.values():
        _sample(statement, *validate_args)
    for args in _WALL.values():
        _wall(args)
    imports: dict[str, list[float]] = {name: [] for name in TARGETS}
    modules: dict[str, int] = {}
    cold: dict[str, list[float]] = {name: [] for name in validate}
    cold_modules: dict[str, int] = {}
    wall: dict[str, list[float]] = {name: [] for name in _WALL}
    for _ in range(rounds):  # interleaved: every target sees the same conditions
        for name, statement in TARGETS.items():
            seconds, loaded = _sample(statement)
            imports[name].append(seconds * 1000)
            modules[name] = loaded
        for name, statement in validate.items():
            seconds, loaded = _sample(statement, *validate_args)
            cold[name].append(seconds * 1000)
            cold_modules[name] = loaded
        for name, args in _WALL.items():
            wall[name].append(_wall(args) * 1000)
    ms = {name: _median(values) for name, values in imports.items()}
    cold_ms = {name: _median(values) for name, values in cold.items()}
    wall_ms = {name: _median(values) for name, values in wall.items()}
    startup = wall_ms["interpreter"]
    help_beyond = round(wall_ms["descope_keys_help"] - startup, 1)
    # Judged on the clients' import: a bare ``import descope_keys`` defers them.
    import_ratio = round(ms["descope_keys_clients"] / ms["descope"], 2)
    return {
        "rounds": rounds,
        "median_ms": ms,
        "min_ms": {name: round(min(values), 1) for name, values in imports.items()},
        "modules_loaded": modules,
        "descope_over_descope_keys": round(ms["descope"] / ms["descope_keys"], 2),
        "statements": TARGETS,
        "descope_keys_over_descope": round(ms["descope_keys"] / ms["descope"], 2),
        "descope_keys_clients_over_descope": import_ratio,
        "pinned_validation": {
            "median_ms": cold_ms,
            "min_ms": {name: round(min(values), 1) for name, values in cold.items()},
            "modules_loaded": cold_modules,
            "descope_keys_over_descope": round(cold_ms["descope_keys"] / cold_ms["descope"], 2),
        },
        "cli_help": {
            "wall_median_ms": wall_ms,
            "beyond_startup_ms": {
                "descope_keys_help": help_beyond,
                "descope_import_process": round(wall_ms["descope_import_process"] - startup, 1),
            },
        },
        "goals": {
            "import_ratio": {
                "measured": import_ratio,
                "limit": IMPORT_RATIO_GOAL,
                "met": import_ratio <= IMPORT_RATIO_GOAL,
            },
            "help_beyond_startup_ms": {
                "measured": help_beyond,
                "limit": HELP_BEYOND_STARTUP_GOAL_MS,
                "met": help_beyond < HELP_BEYOND_STARTUP_GOAL_MS,
            },
        },
        # Nested packages count inside their importer too: a ranking, not a sum.
        "heaviest_dependencies_ms": {name: _heaviest(name) for name in ("descope_keys", "descope")},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
