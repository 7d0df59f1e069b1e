"""parse_http_date: the one HTTP-date parser (Retry-After, the server's Date)."""

from __future__ import annotations

import calendar

import pytest

from descope_keys._http_date import parse_http_date
from descope_keys._transport import parse_retry_after

# RFC 9110 §5.6.7's example instant, 1994-11-06 08:49:37 UTC.
EXAMPLE = calendar.timegm((1994, 11, 6, 8, 49, 37))


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime: no zone, so UTC
        "  Sun, 06 Nov 1994 08:49:37 GMT \r\n",
        "Sun, 06 Nov 1994 08:49:37 -0000",  # zone unknown: UTC
        "Sun, 06 Nov 1994 10:49:37 +0200",
    ],
)
def test_the_three_http_date_forms_give_posix_seconds(value: str) -> None:
    assert parse_http_date(value) == EXAMPLE


def test_a_date_without_a_zone_is_utc_not_local_time() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37") == EXAMPLE


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "soon",
        "120",  # delta-seconds is Retry-After's business, not a date
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 99999 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
    ],
)
def test_missing_or_unparseable_is_none(value: str | None) -> None:
    assert parse_http_date(value) is None


def test_retry_after_reads_dates_with_it() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now=EXAMPLE) == 30.0
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:07 GMT", now=EXAMPLE) == 0.0
    assert parse_retry_after("Sun Nov  6 08:50:37 1994", now=EXAMPLE) == 60.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), (" 1.5 ", 1.5), ("-3", 0.0), ("nan", None), ("inf", None), ("soon", None)],
)
def test_retry_after_delta_seconds(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, now=EXAMPLE) == seconds


def test_retry_after_missing_is_none() -> None:
    assert parse_retry_after(None) is None
