"""Time parsing is total, and out-of-range expire_time is refused before any I/O (issue 20.3)."""

from __future__ import annotations

import math
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from descope_keys import AccessKey, AsyncDescopeKeys, DescopeKeys, InvalidArgumentError
from descope_keys._converter import EARLIEST, LATEST, converter, epoch_to_datetime
from descope_keys.errors import ConfigurationError

UTC = timezone.utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0, None),
        (math.nan, None),
        (1.7e9, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (253402300799, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (253402300800, LATEST),
        (1e30, LATEST),
        (1e300, LATEST),
        (10**400, LATEST),
        (math.inf, LATEST),
        (-1e300, EARLIEST),
        (-(10**400), EARLIEST),
        (-math.inf, EARLIEST),
    ],
)
def test_every_number_parses(value: Any, expected: datetime | None) -> None:
    assert epoch_to_datetime(value) == expected


def test_one_odd_record_does_not_sink_the_others() -> None:
    records = [
        {"id": "K1", "expireTime": 1e30, "createdTime": -1e300},
        {"id": "K2", "expireTime": 1.8e9, "createdTime": 1.7e9},
    ]
    keys = [converter.structure(r, AccessKey) for r in records]
    assert keys[0].expire_time == LATEST
    assert keys[0].created_time == EARLIEST
    assert keys[1].expire_time == datetime.fromtimestamp(1.8e9, UTC)


OUT_OF_RANGE = [
    datetime.max.replace(tzinfo=UTC),
    datetime(3000, 1, 1, tzinfo=UTC),
    timedelta.max,
    timedelta(days=2_000 * 366),
]
# A closed port: any request would fail with a TransportError instead.
NOWHERE = "http://127.0.0.1:9"


@pytest.mark.parametrize("expire_time", OUT_OF_RANGE)
async def test_create_refuses_an_out_of_range_expire_time_before_any_io(expire_time: Any) -> None:
    async with AsyncDescopeKeys("P2x", "mgmt-key", base_url=NOWHERE) as client:
        with pytest.raises(InvalidArgumentError) as info:
            await client.access_keys.create("k", expire_time=expire_time)
    assert info.value.argument == "expire_time"


@pytest.mark.parametrize("expire_time", OUT_OF_RANGE)
def test_sync_create_refuses_an_out_of_range_expire_time(expire_time: Any) -> None:
    with (
        DescopeKeys("P2x", "mgmt-key", base_url=NOWHERE) as client,
        pytest.raises(InvalidArgumentError) as info,
    ):
        client.access_keys.create("k", expire_time=expire_time)
    assert info.value.argument == "expire_time"


def test_a_half_built_client_has_a_repr() -> None:
    for cls in (AsyncDescopeKeys, DescopeKeys):
        with pytest.raises(ConfigurationError) as info:
            cls(project_id="")
        rendered = "".join(
            traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
        )
        assert f"{cls.__name__}(<not configured>)" in rendered
