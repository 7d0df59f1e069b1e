"""``python -m descope_keys.emulator``: run the emulator until SIGINT or SIGTERM.

When it is ready it prints, on stdout, the settings a client needs, in the
form of the environment variables the SDK reads::

    DESCOPE_PROJECT_ID=P2…
    DESCOPE_MANAGEMENT_KEY=…          (only when it generated one)
    DESCOPE_BASE_URI=http://127.0.0.1:8765

A management key given with ``--management-key`` is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from descope_keys.emulator._server import Emulator
from descope_keys.emulator._store import StoreError


def _role_permissions(value: str) -> dict[str, Any]:
    # Inline JSON, or a path to a JSON file.
    try:
        if value.lstrip().startswith("{"):
            loaded = json.loads(value)
        else:
            with open(value, encoding="utf-8") as handle:
                loaded = json.load(handle)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read role permissions: {exc}") from exc
    if not isinstance(loaded, dict):
        raise argparse.ArgumentTypeError('role permissions must be a JSON object {"role": [...]}')
    return loaded


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m descope_keys.emulator",
        description="A local Descope-compatible access-key server (for tests and demos).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port, 0 for a free one (8765)")
    parser.add_argument("--project-id", help="project id (default: random, or the one in --db)")
    parser.add_argument("--management-key", help="management key (default: random, printed)")
    parser.add_argument("--db", metavar="PATH", help="SQLite file: keys survive restarts")
    parser.add_argument("--signing-key", metavar="PEM", help="RSA private key PEM file")
    parser.add_argument(
        "--role-permissions",
        metavar="JSON",
        type=_role_permissions,
        help='role -> permissions, inline JSON or a JSON file: {"admin": ["keys:write"]}',
    )
    parser.add_argument("--session-ttl", type=int, default=600, help="token lifetime (600 s)")
    parser.add_argument(
        "--trust-forwarded-for",
        action="store_true",
        help="take the caller IP for permittedIps from X-Forwarded-For",
    )
    parser.add_argument(
        "--test-hooks", action="store_true", help="serve the /emulator/... test hooks"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    emulator = Emulator(
        args.project_id,
        args.management_key,
        host=args.host,
        port=args.port,
        db=args.db,
        signing_key=args.signing_key,
        role_permissions=args.role_permissions,
        session_ttl=args.session_ttl,
        trust_forwarded_for=args.trust_forwarded_for,
        test_hooks=args.test_hooks,
        access_log=args.access_log,
    )
    try:
        await emulator.start()
    except (OSError, ValueError, StoreError) as exc:
        print(f"error: cannot start the emulator: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(signum, stop.set)
    try:
        print(f"DESCOPE_PROJECT_ID={emulator.project_id}")
        if args.management_key is None:
            print(f"DESCOPE_MANAGEMENT_KEY={emulator.management_key}")
        print(f"DESCOPE_BASE_URI={emulator.base_url}", flush=True)
        print(f"emulator serving {emulator.base_url} (Ctrl-C to stop)", file=sys.stderr)
        await stop.wait()
    finally:
        await emulator.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.access_log:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return asyncio.run(_serve(args))
    except ValueError as exc:  # bad settings rejected by Emulator()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # where signal handlers are not available
        return 0


if __name__ == "__main__":
    sys.exit(main())
