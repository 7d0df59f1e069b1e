"""Failures: one clear line on stderr, the right exit code, no traceback, no secret."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import pytest

from descope_keys.cli._errors import Context, describe, redact
from descope_keys.errors import (
    AmbiguousResultError,
    AuthenticationError,
    ConfigurationError,
    ExpiredTokenError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TokenValidationError,
    TransportError,
    UnknownKeyError,
)
from tests._servers import closed_port
from tests.cli._cli import Cli

WRONG_MANAGEMENT_KEY = "Kwrong-mgmt-SECRET-abcdefghijkl"
WRONG_ACCESS_KEY = "Kwrong.access-SECRET-abcdefghijkl"
GARBAGE_JWT = "eyJnYXJiYWdl.SECRET-garbage-token.c2ln"


@attrs.frozen
class Case:
    args: tuple[str, ...]
    code: int
    says: str
    stdin: str | None = None
    env: Mapping[str, str | None] = attrs.field(factory=dict)
    secrets: tuple[str, ...] = ()


def _cases() -> dict[str, Case]:
    return {
        "missing management key": Case(
            ("keys", "search"), 2, "descope-keys: DESCOPE_MANAGEMENT_KEY is not set: export",
            env={"DESCOPE_MANAGEMENT_KEY": None},
        ),
        "missing project id": Case(
            ("validate", GARBAGE_JWT), 2, "descope-keys: DESCOPE_PROJECT_ID is not set",
            env={"DESCOPE_PROJECT_ID": None}, secrets=(GARBAGE_JWT,),
        ),
        "wrong management key": Case(
            ("keys", "load", "Kany"), 1,
            "descope-keys: the management key was refused (HTTP 401): check DESCOPE_MANAGEMENT_KEY",
            env={"DESCOPE_MANAGEMENT_KEY": WRONG_MANAGEMENT_KEY}, secrets=(WRONG_MANAGEMENT_KEY,),
        ),
        "unknown id": Case(
            ("keys", "load", "Kunknown"), 1,
            "descope-keys: no access key with id Kunknown (HTTP 404): list ids with",
        ),
        "unknown id, json mode": Case(
            ("keys", "rotate", "Kunknown", "--json"), 1, "no access key with id Kunknown"
        ),
        "garbage jwt": Case(
            ("validate", GARBAGE_JWT), 1, "descope-keys: the token is invalid (",
            secrets=(GARBAGE_JWT,),
        ),
        "garbage jwt on stdin": Case(
            ("validate", "-", "--json"), 1, "the token is invalid", stdin=GARBAGE_JWT,
            secrets=(GARBAGE_JWT,),
        ),
        "wrong access key": Case(
            ("exchange", "-"), 1, "descope-keys: the access key was refused (HTTP 401)",
            stdin=WRONG_ACCESS_KEY, secrets=(WRONG_ACCESS_KEY,),
        ),
        "empty stdin": Case(("exchange", "-"), 2, "no access key secret on stdin", stdin=""),
        "role with tenant": Case(
            ("keys", "create", "--name", "x", "--role", "r", "--tenant", "t"), 2,
            "--role cannot be combined with --tenant",
        ),
        "update role with tenant": Case(
            ("keys", "update", "K1", "--role", "r", "--tenant", "t:a"), 2,
            "--role cannot be combined with --tenant",
        ),
        "bad duration": Case(
            ("keys", "create", "--name", "x", "--expires-in", "30x"), 2,
            "descope-keys keys create: argument --expires-in: '30x' is not a duration",
        ),
        "expiry in the past": Case(
            ("keys", "create", "--name", "x", "--expires-at", "2001-01-01"), 2,
            "descope-keys: --expires-in/--expires-at: must be in the future",
        ),
        "bad ip": Case(
            ("keys", "create", "--name", "x", "--ip", "10.0.0.300"), 2,
            "descope-keys: --ip: '10.0.0.300' is not an IP address",
        ),
        "no ids": Case(("keys", "deactivate"), 2, "needs at least one key id (or --tenant T)"),
        "ids and tenant": Case(
            ("keys", "rotate", "K1", "--tenant", "t"), 2, "give key ids or --tenant, not both"
        ),
        "no command": Case((), 2, "usage: descope-keys"),
        "no keys action": Case(("keys",), 2, "keys needs an action: create, load"),
        "unreachable server": Case(
            ("--base-url", f"http://127.0.0.1:{closed_port()}", "keys", "search"), 1,
            "cannot connect to 127.0.0.1:",
        ),
        "malformed base url": Case(
            ("keys", "search"), 2, "base_url must be an absolute http(s) URL",
            env={"DESCOPE_BASE_URI": "not-a-url"},
        ),
    }  # fmt: skip


def test_every_failure_is_one_clear_line_with_the_right_exit_code(cli: Cli) -> None:
    cases = _cases()
    # Started together: the cases are independent, and this keeps the suite fast.
    running = {
        name: cli.start(*case.args, stdin=case.stdin, env=case.env) for name, case in cases.items()
    }
    for name, case in cases.items():
        result = running[name].finish(case.secrets)
        assert result.returncode == case.code, (name, result.stderr)
        assert "Traceback" not in result.stderr, name
        if case.args:
            assert len(result.error_lines()) == 1, (name, result.stderr)
        assert case.says in result.stderr, (name, result.stderr)
        if "--json" not in case.args:
            assert result.stdout == "", (name, result.stdout)
        for secret in case.secrets:
            assert secret not in result.stdout, name


def test_debug_adds_the_traceback_but_still_no_secret(cli: Cli) -> None:
    result = cli.run(
        "--debug",
        "exchange",
        "-",
        stdin=WRONG_ACCESS_KEY,
        secrets=[WRONG_ACCESS_KEY],
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "AuthenticationError" in result.stderr
    assert result.error_lines()[-1].startswith("descope-keys: the access key was refused")


@pytest.mark.parametrize(
    ("error", "context", "code", "says"),
    [
        (ConfigurationError("project_id is required"), Context.MANAGEMENT, 2, "project_id"),
        (InvalidArgumentError("permitted_ips[0]", "bad"), Context.MANAGEMENT, 2, "--ip: bad"),
        (AuthenticationError(401), Context.MANAGEMENT, 1, "DESCOPE_MANAGEMENT_KEY"),
        (AuthenticationError(401), Context.EXCHANGE, 1, "access key was refused"),
        (PermissionDeniedError(403), Context.EXCHANGE, 1, "IP address may not exchange"),
        (NotFoundError(404), Context.MANAGEMENT, 1, "K9 (HTTP 404)"),
        (RateLimitError(429, retry_after=3), Context.MANAGEMENT, 1, "retry after 3s"),
        (ServerError(503, message="down"), Context.MANAGEMENT, 1, "HTTP 503: down): try again"),
        (TransportError("cannot connect"), Context.VALIDATE, 1, "check DESCOPE_BASE_URI"),
        (
            AmbiguousResultError("timed out", candidate_ids=["K7"]),
            Context.MANAGEMENT,
            1,
            "possible ids: K7",
        ),
        (ExpiredTokenError("expired"), Context.VALIDATE, 1, "has expired: exchange the access"),
        (UnknownKeyError("unknown_kid"), Context.VALIDATE, 1, "does not publish"),
        (TokenValidationError("bad_issuer"), Context.VALIDATE, 1, "another project"),
        (TokenValidationError("bad_signature"), Context.VALIDATE, 1, "invalid (bad_signature)"),
        (RuntimeError("boom"), Context.VALIDATE, 1, "rerun with --debug"),
    ],
)
def test_each_error_class_maps_to_an_exit_code_and_a_hint(
    error: BaseException, context: Context, code: int, says: str
) -> None:
    got_code, message = describe(error, context, key_id="K9")
    assert got_code == code
    assert says in message
    assert "\n" not in message


def test_redact_masks_secrets_but_not_short_words() -> None:
    text = "refused Kwrong-mgmt-SECRET-abcdefghijkl for id"
    assert redact(text, [WRONG_MANAGEMENT_KEY, "id"]) == "refused *** for id"
