"""mkdocs hooks: publish the benchmark report and its charts as docs pages.

The report is written by ``python -m benchmarks`` into ``benchmarks/results/``;
serving it from there, instead of a copy under ``docs/``, keeps one source
that the benchmark run overwrites.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    for path in sorted(RESULTS.iterdir()):
        if path.suffix in {".md", ".png"}:
            files.append(File.generated(config, f"benchmarks/{path.name}", abs_src_path=str(path)))
    return files
