"""Developer sessions: ``nox`` runs what CI runs (see ``.ci/run`` and docs/development.md).

Tooling comes from the PEP 735 dependency groups of ``pyproject.toml``, expanded
by nox itself, so a session's pip needs no ``--group`` support of its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Every Python we claim (requires-python and the classifiers); nox looks for
# python3.X on PATH.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT = None  # the interpreter nox runs under
_RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
_FULL = _RUNNING if _RUNNING in PYTHONS else PYTHONS[-1]

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
# What CI runs. The full suite under coverage on all four Pythons took 13
# minutes on a 2-core machine before lint, typecheck and the bench smoke test,
# too close to CI's 15: the suite runs in full, under coverage, on the
# interpreter nox runs under, and its quick subset on the other Pythons.
# `nox -s tests` runs the full suite on all of them.
nox.options.sessions = [
    "lint",
    "typecheck",
    f"tests-{_FULL}",
    *(f"tests_quick-{python}" for python in PYTHONS if python != _FULL),
    "coverage",
    "bench_smoke",
    "docs",
]
nox.options.reuse_existing_virtualenvs = False
# A machine without some of the Pythons above skips their sessions.
nox.options.error_on_missing_interpreters = False


# Most of the suite's time is spent waiting (sockets, subprocesses, servers
# starting): four pytest-xdist workers halve the wall time, on a 2-core
# machine too. `nox -s tests -- -n 0` runs it in one process.
WORKERS = ["-n", "4"]


def _install(session: nox.Session, *groups: str) -> None:
    requirements = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    session.install("-e", ".", *requirements)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite under coverage (subprocesses included), without the bench smoke test.

    Each Python writes its own data files; the ``coverage`` session combines them.
    Pass pytest arguments after ``--``.
    """
    _install(session, "test")
    session.run(
        "coverage", "run", "-m", "pytest", "-m", "not bench_smoke", *WORKERS, *session.posargs
    )


# Left out of the quick run: the tests that spend their time starting
# subprocesses and third-party servers (the CLI, the emulator's CLI, the
# examples, uvicorn and waitress), about 40 % of the suite's time. What
# differs between Pythons (asyncio, the portal and fork, the transport's
# errors, joserfc's line, typing) is covered by what remains.
QUICK_IGNORE = [
    "tests/cli",
    "tests/emulator/test_cli.py",
    "tests/integrations/test_examples.py",
    "tests/integrations/test_servers.py",
]


@nox.session(python=PYTHONS)
def tests_quick(session: nox.Session) -> None:
    """A quick subset, without coverage: no soak, bench smoke, subprocess or server tests."""
    _install(session, "test")
    ignored = [f"--ignore={path}" for path in QUICK_IGNORE]
    session.run(
        "pytest", "-m", "not slow and not bench_smoke", *WORKERS, *ignored, *session.posargs
    )


@nox.session(python=DEFAULT)
def coverage(session: nox.Session) -> None:
    """Combine the tests sessions' data; report branch coverage of descope_keys (>= 95 %)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "coverage"))
    # Combining removes the per-process files, so each run reports fresh data.
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session(python=DEFAULT)
def bench_smoke(session: nox.Session) -> None:
    """The benchmark suite with small counts (files and verdicts, never timings)."""
    _install(session, "bench-smoke")
    session.run("pytest", "-m", "bench_smoke", *session.posargs)


@nox.session(python=DEFAULT)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the generated sync facade check."""
    _install(session, "lint")  # the generator check imports the package
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "tools/gen_sync.py", "--check")


@nox.session(python=DEFAULT)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, the tools and the typing-only API test."""
    _install(session, "test", "typecheck")
    session.run("mypy", "--strict")


@nox.session(python=DEFAULT)
def docs(session: nox.Session) -> None:
    """Build the docs site with ``mkdocs build --strict`` (a broken link or reference fails).

    The site goes into the session's own directory; ``-- --site-dir DIR`` writes it elsewhere.
    """
    # mkdocstrings reads the sources statically: the package itself is not installed.
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    site = ["--site-dir", str(Path(session.virtualenv.location) / "site")]
    session.run("mkdocs", "build", "--strict", *(session.posargs or site))


@nox.session(python=DEFAULT)
def bench(session: nox.Session) -> None:
    """Run the benchmark suite and write the report to benchmarks/results/."""
    _install(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=DEFAULT)
def demo(session: nox.Session) -> None:
    """Run the lifecycle demo against the embedded emulator."""
    session.install("-e", ".")
    session.run("descope-keys", "demo")
