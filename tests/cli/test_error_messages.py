"""The CLI's one-line failure messages and exit codes, unit by unit (the
subprocess tests in test_errors.py cover the failures a live emulator can give)."""

from __future__ import annotations

import argparse

import pytest

from descope_keys.cli._errors import EXIT_FAILURE, EXIT_USAGE, Context, describe
from descope_keys.cli._parser import build_parser
from descope_keys.errors import (
    ApiError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
)


def test_a_management_403_says_the_management_key_may_not_and_gives_the_detail() -> None:
    exc = PermissionDeniedError(403, description="Forbidden", message="no mgmt access")
    assert describe(exc, Context.MANAGEMENT) == (
        EXIT_FAILURE,
        "the management key may not do this (HTTP 403: Forbidden - no mgmt access)",
    )


def test_an_exchange_403_blames_the_machine_ip_not_the_management_key() -> None:
    code, message = describe(PermissionDeniedError(403), Context.EXCHANGE)
    assert code == EXIT_FAILURE
    assert message == "this machine's IP address may not exchange this access key (HTTP 403)"


def test_a_404_names_the_key_id_when_there_is_one_else_the_base_url() -> None:
    assert describe(NotFoundError(404), Context.MANAGEMENT, key_id="K123")[1] == (
        "no access key with id K123 (HTTP 404): list ids with `descope-keys keys search`"
    )
    assert describe(NotFoundError(404), Context.MANAGEMENT) == (
        EXIT_FAILURE,
        "not found (HTTP 404): check DESCOPE_BASE_URI",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            ServerError(502, message="bad gateway"),
            "the Descope service failed (HTTP 502: bad gateway): try again later",
        ),
        (
            BadRequestError(400, description="name is required"),
            "the request was rejected (HTTP 400: name is required)",
        ),
        (ApiError(418), "the request failed (HTTP 418)"),
        (ApiError(409, message="conflict"), "the request failed (HTTP 409: conflict)"),
    ],
)
def test_other_api_statuses_get_a_message_of_their_own(exc: ApiError, expected: str) -> None:
    assert describe(exc, Context.MANAGEMENT) == (EXIT_FAILURE, expected)


def test_a_non_sdk_exception_is_unexpected_and_points_at_debug() -> None:
    code, message = describe(KeyError("boom"), Context.MANAGEMENT)
    assert code == EXIT_FAILURE
    assert message == "unexpected KeyError: 'boom' (rerun with --debug)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("0", "must be between 1 and 64"), ("65", "must be between 1 and 64"), ("x", "whole number")],
)
def test_batch_concurrency_outside_1_to_64_is_a_usage_error(
    value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["keys", "activate", "K1", "--concurrency", value])
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert problem in err
    assert err.count("\n") == 1  # one line, like every other failure


def test_batch_concurrency_in_range_is_taken_as_a_number() -> None:
    args = build_parser().parse_args(["keys", "activate", "K1", "--concurrency", "64"])
    assert args.concurrency == 64
    assert isinstance(args, argparse.Namespace)
