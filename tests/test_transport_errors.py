"""How Transport.send maps aiohttp's failures: class, request_sent, and what stays reachable."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from descope_keys import AsyncDescopeKeys, RequestTimeoutError, TransportError
from tests._aioresponses_compat import compat_aioresponses
from tests.conftest import MANAGEMENT_KEY, MOCK_BASE_URL, PROJECT_ID

LOAD_URL = MOCK_BASE_URL + "/v1/mgmt/accesskey?id=K1"
HOST = "127.0.0.1:9"


def _response_error() -> aiohttp.ClientResponseError:
    # What aiohttp attaches: our request, Authorization header included.
    headers = CIMultiDictProxy(
        CIMultiDict({"Authorization": f"Bearer {PROJECT_ID}:{MANAGEMENT_KEY}"})
    )
    info = aiohttp.RequestInfo(URL(LOAD_URL), "GET", headers, URL(LOAD_URL))
    return aiohttp.ClientResponseError(info, (), status=400, message="bad status line")


def _refused() -> aiohttp.ClientConnectorError:
    key = SimpleNamespace(host="127.0.0.1", port=9, ssl=True)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))  # type: ignore[arg-type]


CASES = [
    # (what aiohttp raises, our class, request_sent, message, chained)
    pytest.param(
        aiohttp.ConnectionTimeoutError(),
        RequestTimeoutError,
        False,
        f"timed out connecting to {HOST}",
        True,
        id="connect-timeout",
    ),
    pytest.param(
        _refused(),
        TransportError,
        False,
        f"cannot connect to {HOST}: Connection refused",
        True,
        id="refused",
    ),
    pytest.param(
        aiohttp.SocketTimeoutError(),
        RequestTimeoutError,
        True,
        "request timed out",
        True,
        id="read-timeout",
    ),
    pytest.param(
        asyncio.TimeoutError(),
        RequestTimeoutError,
        True,
        "request timed out",
        True,
        id="total-timeout",
    ),
    pytest.param(
        _response_error(),
        TransportError,
        True,
        "connection failed: ClientResponseError",
        False,
        id="bad-response",
    ),
    pytest.param(
        aiohttp.ServerDisconnectedError(),
        TransportError,
        True,
        "connection failed: ServerDisconnectedError",
        True,
        id="disconnect",
    ),
    pytest.param(
        aiohttp.ClientPayloadError("truncated"),
        TransportError,
        True,
        "connection failed: ClientPayloadError",
        True,
        id="truncated",
    ),
]


@pytest.mark.parametrize(("raised", "expected", "request_sent", "message", "chained"), CASES)
async def test_each_aiohttp_failure_maps_to_one_error(
    client: AsyncDescopeKeys,
    mocked: compat_aioresponses,
    raised: BaseException,
    expected: type[TransportError],
    request_sent: bool,
    message: str,
    chained: bool,
) -> None:
    mocked.get(LOAD_URL, exception=raised)
    with pytest.raises(TransportError) as info:
        await client.access_keys.load("K1")
    error = info.value
    assert type(error) is expected
    assert isinstance(error, TimeoutError) is (expected is RequestTimeoutError)
    assert error.request_sent is request_sent
    assert str(error) == f"access_keys.load: {message}"
    assert error.__cause__ is (raised if chained else None)
    # Raised outside the except clause: nothing is chained implicitly.
    assert error.__context__ is None


async def test_a_response_error_leaves_no_request_headers_reachable(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    mocked.get(LOAD_URL, exception=_response_error())
    with pytest.raises(TransportError) as info:
        await client.access_keys.load("K1")
    seen: list[BaseException] = []
    error: BaseException | None = info.value
    while error is not None and error not in seen:
        seen.append(error)
        assert not hasattr(error, "request_info")
        assert MANAGEMENT_KEY not in repr(error) + repr(vars(error))
        error = error.__cause__ or error.__context__
    assert len(seen) == 1


async def test_our_own_error_inside_the_request_passes_unmapped(
    client: AsyncDescopeKeys, mocked: compat_aioresponses
) -> None:
    client._transport._max_bytes = 10  # the cap is enforced while reading, inside the mapping
    mocked.get(LOAD_URL, payload={"key": {"id": "K1", "name": "a name longer than the cap"}})
    with pytest.raises(TransportError, match="byte cap") as info:
        await client.access_keys.load("K1")
    assert type(info.value) is TransportError
    assert info.value.__cause__ is None
