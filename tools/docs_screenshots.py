"""Screenshots of the built docs site in headless Chromium: the home page and a reference page.

    python tools/docs_screenshots.py [--out DIR] [--site DIR] [--chromium PATH]

Builds the site (``mkdocs build --strict``, the ``docs`` dependency group) into
a temporary directory unless ``--site`` names a built one, serves it on
127.0.0.1, and writes ``home.png`` and ``reference.png`` into ``--out``
(default ``build/docs-screenshots``, ignored by git). A person looks at them:
this checks what a browser shows, which a strict build cannot. Not run in CI,
which has no browser; on Debian, ``apt-get install chromium``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"home.png": "", "reference.png": "reference/descope_keys/"}
# A fresh profile and no background traffic: the screenshot shows the page
# alone, and the browser reaches nothing but the local server.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1600",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free port of 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def build(site: Path) -> None:
    subprocess.run(  # noqa: S603 - our own build, with fixed arguments
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
    )


def screenshot(chromium: str, url: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(  # noqa: S603 - a local browser on a local URL
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not out.is_file():
        raise SystemExit(f"chromium wrote no screenshot for {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "docs-screenshots")
    parser.add_argument("--site", type=Path, help="an already built site (default: build one)")
    parser.add_argument("--chromium", default=None, help="the browser binary (default: on PATH)")
    args = parser.parse_args(argv)
    chromium = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        parser.error("no chromium on PATH (Debian: apt-get install chromium), or pass --chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        site: Path = args.site or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.site is None:
            build(site)
        base = stack.enter_context(serve(site))
        for name, page in PAGES.items():
            target = args.out / name
            screenshot(chromium, base + page, target)
            print(f"{target} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
