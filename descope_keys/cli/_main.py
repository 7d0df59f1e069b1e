"""``main()``: parse, check the environment, run one command, map failures to exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Coroutine, Sequence
from typing import Any

from .._config import ENV_MANAGEMENT_KEY, ENV_PROJECT_ID
from .._secret import Secret
from ._console import Io
from ._errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    Context,
    describe,
    error_document,
    looks_like_secret,
    redact,
)
from ._parser import BATCH_COMMANDS, UsageError, build_parser

__all__ = ["main"]

_EXIT_INTERRUPTED = 130
# The SDK's network side (asyncio, aiohttp, joserfc) is imported only by the
# commands that use it, so that --help, --version and usage errors answer at
# once (tests/test_imports.py holds the list of what they may load).


def _read_stdin(what: str) -> str:
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError(f"'-' reads the {what} from stdin: pipe it in (e.g. < file)")
    value = sys.stdin.read().strip()
    if not value:
        raise UsageError(f"no {what} on stdin")
    return value


def _prepare_batch(args: argparse.Namespace) -> None:
    tenant = getattr(args, "tenant", None)
    if tenant is not None and args.key_ids:
        raise UsageError("give key ids or --tenant, not both")
    if args.key_ids == ["-"]:
        args.key_ids = _read_stdin("key ids").split()
    elif "-" in args.key_ids:
        raise UsageError("'-' (ids from stdin) cannot be mixed with ids on the command line")
    if tenant is None and not args.key_ids:
        if args.action == "delete":
            # There is no tenant-wide delete (on the wire nor here): do not hint at one.
            raise UsageError(
                "keys delete needs at least one key id ('-' reads ids from stdin; "
                "`descope-keys keys search --tenant T` lists a tenant's keys)"
            )
        raise UsageError(f"keys {args.action} needs at least one key id (or --tenant T)")


def _prepare(args: argparse.Namespace) -> Context:
    """Check what can be checked before any I/O; read '-' arguments from stdin."""
    from .._credentials import ENV_ACCESS_KEY  # the token side, not needed by --help

    if args.command == "keys":
        if args.action is None:
            raise UsageError(
                "keys needs an action: create, load, search, update, activate, "
                "deactivate, delete or rotate (see descope-keys keys --help)"
            )
        if args.action in ("create", "update") and args.roles and args.tenants:
            raise UsageError(
                "--role cannot be combined with --tenant: give the roles per tenant "
                "(--tenant T:ROLE,ROLE)"
            )
        if args.action == "update" and args.no_ips and args.ips:
            raise UsageError("--ip and --no-ips contradict each other: give one")
        if args.action in BATCH_COMMANDS:
            _prepare_batch(args)
    elif args.command in ("exchange", "token") and args.secret == "-":
        args.secret = _read_stdin("access key secret")
    elif args.command in ("exchange", "token") and args.secret is not None:
        sys.stderr.write(
            "warning: a secret given as an argument is visible to other local users in the "
            "process list, and stays in your shell history: pipe it in with '-' instead "
            "(e.g. descope-keys exchange - < key-file)\n"
        )
    elif args.command == "token" and args.secret is None and not os.environ.get(ENV_ACCESS_KEY):
        raise UsageError(
            f"{ENV_ACCESS_KEY} is not set: export the access key secret, "
            "or pass it ('-' reads it from stdin)"
        )
    elif args.command == "validate" and args.jwt == "-":
        args.jwt = _read_stdin("JWT")
    if not (getattr(args, "project_id", None) or os.environ.get(ENV_PROJECT_ID)):
        raise UsageError(
            f"{ENV_PROJECT_ID} is not set: export your Descope project id (or pass --project-id)"
        )
    if args.command == "keys":
        if not os.environ.get(ENV_MANAGEMENT_KEY):
            raise UsageError(
                f"{ENV_MANAGEMENT_KEY} is not set: export a management key of the project "
                "(it is read from the environment only, never from a flag)"
            )
        return Context.MANAGEMENT
    return Context.EXCHANGE if args.command in ("exchange", "token") else Context.VALIDATE


async def _dispatch(args: argparse.Namespace, io: Io) -> int:
    from .._client import AsyncDescopeKeys
    from ._commands import run_exchange, run_keys, run_token, run_validate

    async with AsyncDescopeKeys(
        getattr(args, "project_id", None), base_url=getattr(args, "base_url", None)
    ) as client:
        if args.command == "keys":
            return await run_keys(client, args, io)
        if args.command == "exchange":
            return await run_exchange(client, args, io)
        if args.command == "token":
            return await run_token(client, args, io)
        return await run_validate(client, args, io)


def _key_id(args: argparse.Namespace) -> str | None:
    """The one key id a failed command was about, for the error line."""
    ids = getattr(args, "key_ids", None) or []
    return getattr(args, "key_id", None) or (ids[0] if len(ids) == 1 else None)


def _secrets(args: argparse.Namespace) -> list[str]:
    from .._credentials import ENV_ACCESS_KEY

    values = [os.environ.get(ENV_MANAGEMENT_KEY, ""), os.environ.get(ENV_ACCESS_KEY, "")]
    values += [getattr(args, "secret", ""), getattr(args, "jwt", "")]
    # A secret pasted where an id goes would be echoed by "no access key with id ...".
    ids = [getattr(args, "key_id", None) or "", *(getattr(args, "key_ids", None) or [])]
    values += [i for i in ids if looks_like_secret(i)]
    return [v for v in values if v and v != "-"]


def _run(command: Coroutine[Any, Any, int]) -> int:
    """Run one command's coroutine; asyncio comes in here, after the usage checks."""
    import asyncio

    return asyncio.run(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``descope-keys`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    io = Io(sys.stdout, sys.stderr, json=getattr(args, "json", False))
    if debug:
        logging.basicConfig(stream=sys.stderr, format="%(name)s: %(message)s")
        logging.getLogger("descope_keys").setLevel(logging.DEBUG)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    context = Context.MANAGEMENT
    try:
        if args.command == "demo":
            from ._demo import run_demo

            return _run(run_demo(io))
        context = _prepare(args)
        io.secrets = _secrets(args)
        if isinstance(getattr(args, "secret", None), str):
            # Wrapped from here on: args (and its repr) is a local of every frame below.
            args.secret = Secret(args.secret)
        return _run(_dispatch(args, io))
    except KeyboardInterrupt:
        io.error("interrupted")
        return _EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep the
        # interpreter from complaining while flushing at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        code, message = describe(exc, context, key_id=_key_id(args))
        if debug:
            io.err.write(redact("".join(traceback.format_exc()), io.secrets))
        if io.json:
            # Scripts read stdout: a failure is a JSON document there too.
            io.out.write(json.dumps(error_document(exc, redact(message, io.secrets)), indent=2))
            io.out.write("\n")
            io.out.flush()
        io.error(message)
        return code
