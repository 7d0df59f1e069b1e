"""Flag parsing and human formatting, in-process (no subprocess needed)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

import pytest

from descope_keys._models import KeyTenant
from descope_keys.cli._output import expiry_text, relative, table
from descope_keys.cli._parser import (
    build_parser,
    parse_claim,
    parse_duration,
    parse_expires_at,
    parse_tenant,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("1w2d", timedelta(days=9)),
        (" 2W ", timedelta(weeks=2)),
    ],
)
def test_durations_take_s_m_h_d_w(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "3d 4h", "-1d", "0d", "1.5d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_expires_at_keeps_an_offset_and_reads_z_as_utc() -> None:
    assert parse_expires_at("2030-01-31T18:00:00+01:00") == datetime(
        2030, 1, 31, 17, 0, tzinfo=timezone.utc
    )
    assert parse_expires_at("2030-01-31T18:00:00Z") == datetime(
        2030, 1, 31, 18, 0, tzinfo=timezone.utc
    )


def test_expires_at_without_offset_is_local_time() -> None:
    parsed = parse_expires_at("2030-01-31T18:00")
    assert parsed.tzinfo is not None
    assert parsed == datetime(2030, 1, 31, 18, 0).astimezone()
    with pytest.raises(argparse.ArgumentTypeError):
        parse_expires_at("next tuesday")


def test_tenant_flag_carries_optional_roles() -> None:
    assert parse_tenant("acme") == KeyTenant("acme", ())
    assert parse_tenant("acme:deployer, viewer") == KeyTenant("acme", ("deployer", "viewer"))
    assert parse_tenant("acme:") == KeyTenant("acme", ())
    with pytest.raises(argparse.ArgumentTypeError):
        parse_tenant(":admin")


def test_claim_values_are_json_when_they_parse() -> None:
    assert parse_claim("team=infra") == ("team", "infra")
    assert parse_claim("level=3") == ("level", 3)
    assert parse_claim('tags=["a"]') == ("tags", ["a"])
    assert parse_claim("note=a=b") == ("note", "a=b")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_claim("novalue")


def test_common_flags_work_before_and_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--json", "--base-url", "http://127.0.0.1:1", "keys", "load", "K1"])
    after = parser.parse_args(["keys", "load", "K1", "--json", "--base-url", "http://127.0.0.1:1"])
    for args in (before, after):
        assert (args.json, args.base_url, args.key_id) == (True, "http://127.0.0.1:1", "K1")
    assert not hasattr(parser.parse_args(["keys", "load", "K1"]), "json")


def test_there_is_no_flag_for_the_management_key() -> None:
    assert "management" not in build_parser().format_help().lower().replace(
        "descope_management_key", ""
    )


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=30) - timedelta(seconds=2), "in 30 days"),
        (timedelta(days=29, hours=1), "in 29 days"),
        (timedelta(minutes=10) - timedelta(seconds=1), "in 10 minutes"),
        (timedelta(hours=3), "in 3 hours"),
        (timedelta(hours=30), "in 30 hours"),
        (timedelta(seconds=1), "in 1 second"),
        (timedelta(0), "now"),
        (-timedelta(days=2), "2 days ago"),
        (timedelta(days=800), "in 2 years"),
    ],
)
def test_relative_times_round_to_the_nearest_unit(delta: timedelta, expected: str) -> None:
    assert relative(NOW + delta, NOW) == expected


def test_expiry_is_local_time_plus_relative_or_never() -> None:
    assert expiry_text(None, NOW) == "never"
    future = expiry_text(NOW + timedelta(days=3), NOW)
    assert future.endswith("(in 3 days)")
    assert future.startswith((NOW + timedelta(days=3)).astimezone().strftime("%Y-%m-%d %H:%M"))
    assert expiry_text(NOW - timedelta(hours=5), NOW).endswith("(expired 5 hours ago)")


def test_table_aligns_columns_and_trims_trailing_space() -> None:
    lines = table(["ID", "NAME", "X"], [["K1", "a-long-name", ""], ["K22", "b", "y"]])
    assert lines == [
        "ID   NAME         X",
        "K1   a-long-name",
        "K22  b            y",
    ]
