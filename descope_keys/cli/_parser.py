"""The argument parser of ``descope-keys`` and the parsing of flag values."""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta
from typing import Any, NoReturn

from .._models import KeyTenant
from .._version import __version__

__all__ = [
    "BATCH_COMMANDS",
    "DEFAULT_CONCURRENCY",
    "UsageError",
    "build_parser",
    "parse_claim",
    "parse_duration",
    "parse_expires_at",
    "parse_tenant",
]

BATCH_COMMANDS = ("activate", "deactivate", "delete", "rotate")
DEFAULT_CONCURRENCY = 8
_MAX_CONCURRENCY = 64
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class UsageError(Exception):
    """The command line or the environment is unusable (exit code 2)."""


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``1w2d``, ``90m``, ``45s`` -> a positive ``timedelta``."""
    value = text.strip().lower()
    if not value or _DURATION_PART.sub("", value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use a number and a unit s/m/h/d/w, e.g. 30d or 1w2d"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the duration must be longer than zero")
    return timedelta(seconds=seconds)


def parse_expires_at(text: str) -> datetime:
    """An ISO 8601 date or time; without a UTC offset it is read as local time.

    ``Z`` is accepted as UTC on every supported Python (3.10's
    ``fromisoformat`` does not know it).
    """
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2030-01-31 or 2030-01-31T18:00:00+01:00"
        ) from None
    # A naive time means the operator's wall clock: astimezone() reads it as local.
    return when if when.tzinfo is not None else when.astimezone()


def parse_tenant(text: str) -> KeyTenant:
    """``T`` or ``T:ROLE,ROLE`` -> ``KeyTenant``."""
    tenant_id, _, roles = text.partition(":")
    tenant_id = tenant_id.strip()
    if not tenant_id:
        raise argparse.ArgumentTypeError(f"{text!r} has no tenant id: use T or T:ROLE,ROLE")
    role_names = tuple(r.strip() for r in roles.split(",") if r.strip())
    return KeyTenant(tenant_id, role_names)


def parse_claim(text: str) -> tuple[str, Any]:
    """``NAME=VALUE``; VALUE is read as JSON when it parses (42, true, {...}), else as text."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= _MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"must be between 1 and {_MAX_CONCURRENCY}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other failure of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _common_options() -> _Parser:
    # SUPPRESS defaults let these flags go before or after the subcommand
    # without a subparser's default overwriting a value given earlier.
    common = _Parser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print machine output"
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and SDK debug logs on errors",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="API base URL (default: $DESCOPE_BASE_URI, then the Descope host)",
    )
    group.add_argument(
        "--project-id",
        metavar="ID",
        default=argparse.SUPPRESS,
        help="Descope project id (default: $DESCOPE_PROJECT_ID)",
    )
    return common


def _key_fields(parser: argparse.ArgumentParser, *, update: bool) -> None:
    parser.add_argument("--description", metavar="TEXT", help="free text about the key")
    parser.add_argument(
        "--role",
        dest="roles",
        metavar="ROLE",
        action="append",
        help="project-level role (repeatable; not with --tenant)"
        + ("; replaces the key's roles" if update else ""),
    )
    parser.add_argument(
        "--tenant",
        dest="tenants",
        metavar="T[:ROLE,ROLE]",
        type=parse_tenant,
        action="append",
        help="tenant with the key's roles in it (repeatable)"
        + ("; replaces the key's tenants" if update else ""),
    )
    parser.add_argument(
        "--ip",
        dest="ips",
        metavar="CIDR",
        action="append",
        help="IP address or CIDR range allowed to exchange the key (repeatable)"
        + ("; replaces the list" if update else ""),
    )
    parser.add_argument(
        "--claim",
        dest="claims",
        metavar="NAME=VALUE",
        type=parse_claim,
        action="append",
        help="custom claim put in every JWT of the key (repeatable; VALUE may be JSON)"
        + ("; replaces the key's claims" if update else ""),
    )


def _add_keys(sub: Any, common: argparse.ArgumentParser) -> None:
    keys = sub.add_parser(
        "keys", parents=[common], help="manage access keys (needs DESCOPE_MANAGEMENT_KEY)"
    )
    actions = keys.add_subparsers(dest="action", metavar="ACTION")

    create = actions.add_parser("create", parents=[common], help="create a key, print its secret")
    create.add_argument("--name", required=True, help="the key's name")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-in", metavar="DURATION", type=parse_duration, help="e.g. 30d, 12h, 1w2d"
    )
    expiry.add_argument(
        "--expires-at",
        metavar="ISO",
        type=parse_expires_at,
        help="ISO 8601 time; local time when it has no UTC offset",
    )
    create.add_argument("--user", metavar="USER_ID", help="bind the key to this user")
    _key_fields(create, update=False)

    load = actions.add_parser("load", parents=[common], help="show one key")
    load.add_argument("key_id", metavar="ID", help="the key's id (as `keys search` lists it)")

    search = actions.add_parser("search", parents=[common], help="list keys matching filters")
    search.add_argument(
        "--tenant", dest="tenants", metavar="T", action="append", help="in this tenant (repeatable)"
    )
    search.add_argument("--bound-user", metavar="USER_ID", help="bound to this user")
    search.add_argument("--created-by", metavar="USER_ID", help="created by this user")

    update = actions.add_parser(
        "update", parents=[common], help="change a key; unspecified fields stay"
    )
    update.add_argument("key_id", metavar="ID", help="the key's id (as `keys search` lists it)")
    update.add_argument("--name", help="new name (default: keep the current one)")
    _key_fields(update, update=True)
    update.add_argument(
        "--no-ips", action="store_true", help="clear the permitted IPs (any IP may exchange)"
    )

    for action in BATCH_COMMANDS:
        batch = actions.add_parser(
            action,
            parents=[common],
            help=f"{action} keys by id"
            + (" and print the new secrets" if action == "rotate" else ""),
        )
        batch.add_argument(
            "key_ids",
            metavar="ID",
            nargs="*",
            help="ids of the keys (as `keys search` lists them); '-' reads ids from stdin",
        )
        if action != "delete":
            # Deleting a whole tenant's keys stays a deliberate two-step
            # (search, then delete the ids) rather than one flag away.
            batch.add_argument("--tenant", metavar="T", help=f"{action} every key of this tenant")
        batch.add_argument(
            "--concurrency",
            metavar="N",
            type=_concurrency,
            default=DEFAULT_CONCURRENCY,
            help=f"requests in flight at once (default {DEFAULT_CONCURRENCY})",
        )


def build_parser() -> argparse.ArgumentParser:
    """The whole ``descope-keys`` command line."""
    common = _common_options()
    parser = _Parser(
        prog="descope-keys",
        parents=[common],
        description="Manage Descope access keys, exchange them for JWTs and validate JWTs. "
        "Credentials come from DESCOPE_PROJECT_ID and DESCOPE_MANAGEMENT_KEY.",
        epilog="Try it without an account: descope-keys demo",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "demo", parents=[common], help="walk through the key lifecycle on an embedded emulator"
    )
    _add_keys(sub, common)

    exchange = sub.add_parser(
        "exchange", parents=[common], help="exchange an access key's secret for a session JWT"
    )
    exchange.add_argument(
        "secret",
        metavar="SECRET",
        help="'-': read the access key secret from stdin (the way to pass it: an argument "
        "shows in the process list and shell history, and warns)",
    )
    exchange.add_argument("--tenant", metavar="T", help="tenant to select in the JWT (dct)")
    exchange.add_argument("--audience", metavar="AUD", help="require this aud in the JWT")
    exchange.add_argument(
        "-q", "--quiet", action="store_true", help="print only the JWT (for $(...) in scripts)"
    )

    token = sub.add_parser(
        "token",
        parents=[common],
        help="print a fresh session JWT for scripts (key from DESCOPE_ACCESS_KEY by default)",
    )
    token.add_argument(
        "secret",
        metavar="SECRET",
        nargs="?",
        help="'-': read the access key secret from stdin (an argument shows in the process "
        "list, and warns); default: env DESCOPE_ACCESS_KEY",
    )
    token.add_argument("--tenant", metavar="T", help="tenant to select in the JWT (dct)")
    token.add_argument("--audience", metavar="AUD", help="require this aud in the JWT")

    validate = sub.add_parser(
        "validate", parents=[common], help="validate a session JWT locally and show its claims"
    )
    validate.add_argument("jwt", metavar="JWT", help="the JWT; '-' reads it from stdin")
    validate.add_argument("--audience", metavar="AUD", help="require this aud in the JWT")
    return parser
