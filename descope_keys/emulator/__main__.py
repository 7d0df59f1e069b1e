"""``python -m descope_keys.emulator``: run the emulator until SIGINT or SIGTERM.

When it is ready it prints, on stdout, the settings a client needs, in the
form of the environment variables the SDK reads::

    DESCOPE_PROJECT_ID=P2…
    DESCOPE_MANAGEMENT_KEY=…          (only when it generated one)
    DESCOPE_BASE_URI=http://127.0.0.1:8765

A management key the emulator is given is never printed. Give it in a file
(``--management-key-file``) or in ``DESCOPE_EMULATOR_MANAGEMENT_KEY``: a
``--management-key`` value is visible to every local user in the process
list (``/proc/PID/cmdline``), and the emulator warns when it is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
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


ENV_MANAGEMENT_KEY = "DESCOPE_EMULATOR_MANAGEMENT_KEY"


def _key_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            key = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read the management key file: {exc}") from None
    if not key:
        raise argparse.ArgumentTypeError("the management key file is empty")
    return key


def _management_key(args: argparse.Namespace) -> str | None:
    """The key from --management-key-file, --management-key, then the environment."""
    if args.management_key_file is not None:
        return str(args.management_key_file)
    if args.management_key is not None:
        print(
            "warning: --management-key is visible to other local users in the process "
            f"list; use --management-key-file or {ENV_MANAGEMENT_KEY} instead",
            file=sys.stderr,
        )
        return str(args.management_key)
    return os.environ.get(ENV_MANAGEMENT_KEY, "").strip() or None


def exposure_warning(host: str) -> str | None:
    """The stderr warning for a ``--host`` other machines may reach, else None.

    The emulator checks no real credentials and prints its management key: on
    a non-loopback interface anyone on the network can mint keys and tokens.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return None
    everywhere = name == ""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        pass  # a host name: it may resolve to any interface
    else:
        if address.is_loopback:
            return None
        everywhere = address.is_unspecified
    where = "every interface" if everywhere else repr(host)
    return (
        f"warning: --host {host or repr(host)} listens on {where}, so the emulator is "
        "reachable from the network; it is a test server with no real protection: "
        "keep the default 127.0.0.1 unless other machines must reach it"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m descope_keys.emulator",
        description="A local Descope-compatible access-key server (for tests and demos).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port, 0 for a free one (8765)")
    parser.add_argument("--project-id", help="project id (default: random, or the one in --db)")
    key = parser.add_mutually_exclusive_group()
    key.add_argument(
        "--management-key-file",
        metavar="PATH",
        type=_key_file,
        help=f"file holding the management key (or set {ENV_MANAGEMENT_KEY}; "
        "default: random, printed)",
    )
    key.add_argument(
        "--management-key",
        help="management key; visible in the process list: prefer --management-key-file",
    )
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
        help="take the caller IP for permittedIps from X-Forwarded-For: its rightmost "
        "entry, the one the proxy in front appended",
    )
    parser.add_argument(
        "--trusted-proxies",
        metavar="CIDRS",
        help="comma-separated addresses or CIDR ranges of the proxies in front (implies "
        "--trust-forwarded-for): X-Forwarded-For is read from the right, past them",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="close connections idle, or sending headers, this long (30)",
    )
    parser.add_argument(
        "--test-hooks", action="store_true", help="serve the /emulator/... test hooks"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    management_key = _management_key(args)
    warning = exposure_warning(args.host)
    if warning is not None:
        print(warning, file=sys.stderr)
    emulator = Emulator(
        args.project_id,
        management_key,
        host=args.host,
        port=args.port,
        db=args.db,
        signing_key=args.signing_key,
        role_permissions=args.role_permissions,
        session_ttl=args.session_ttl,
        trust_forwarded_for=args.trust_forwarded_for,
        trusted_proxies=args.trusted_proxies,
        idle_timeout=args.idle_timeout,
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
        if management_key is None:
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
