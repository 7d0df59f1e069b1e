"""permittedIps: the caller IP (socket peer, or X-Forwarded-For when trusted) must match."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from multidict import CIMultiDict

from descope_keys.emulator import Emulator
from descope_keys.emulator._exchange import ip_permitted
from tests.emulator.conftest import Api, emulator_kwargs


@pytest.fixture
async def trusting(http: aiohttp.ClientSession, signing_pem: str) -> AsyncIterator[Api]:
    """An emulator that takes the caller IP from X-Forwarded-For."""
    async with Emulator(**emulator_kwargs(signing_pem, trust_forwarded_for=True)) as emu:
        yield Api(http, emu)


async def _exchange_from(api: Api, secret: str, ip: str) -> tuple[int, object]:
    # The proxy in front appends the caller's address: the rightmost entry.
    # Whatever stands left of it is the client's own claim (here, a spoof).
    return await api.exchange(secret, headers={"X-Forwarded-For": f"10.9.9.9, {ip}"})


@pytest.mark.parametrize(
    ("permitted", "caller", "allowed"),
    [
        (["10.0.0.1"], "10.0.0.1", True),
        (["10.0.0.1"], "10.0.0.2", False),
        (["192.168.1.0/24"], "192.168.1.77", True),
        (["192.168.1.0/24"], "192.168.2.1", False),
        (["192.168.1.5/24"], "192.168.1.200", True),  # host bits are ignored
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["::1"], "::1", True),
        (["10.0.0.0/8", "2001:db8::/32"], "2001:db8::1", True),
        (["10.0.0.0/8"], "2001:db8::1", False),  # other family: no match, no error
        (["10.0.0.0/8"], "::ffff:10.1.2.3", True),  # IPv4-mapped IPv6 peers
        (["10.0.0.0/8"], "not-an-ip", False),
    ],
)
async def test_exchange_honours_permitted_ips(
    trusting: Api, permitted: list[str], caller: str, allowed: bool
) -> None:
    created = await trusting.create("bot", permittedIps=permitted)
    status, body = await _exchange_from(trusting, created["cleartext"], caller)
    if allowed:
        assert status == 200, body
    else:
        assert status == 403
        assert isinstance(body, dict)
        assert body["errorCode"] == "E900403"


async def test_no_permitted_ips_allows_any_caller(trusting: Api) -> None:
    created = await trusting.create("bot")
    assert (await _exchange_from(trusting, created["cleartext"], "203.0.113.9"))[0] == 200


async def test_clearing_permitted_ips_allows_any_caller_again(trusting: Api) -> None:
    created = await trusting.create("bot", permittedIps=["10.0.0.1"])
    assert (await _exchange_from(trusting, created["cleartext"], "10.0.0.2"))[0] == 403
    await trusting.ok(
        "POST",
        "/v1/mgmt/accesskey/update",
        {"id": created["key"]["id"], "name": "bot", "permittedIps": []},
    )
    assert (await _exchange_from(trusting, created["cleartext"], "10.0.0.2"))[0] == 200


async def test_forwarded_for_is_ignored_unless_trusted(api: Api) -> None:
    # The default emulator uses the socket peer, 127.0.0.1 here.
    created = await api.create("bot", permittedIps=["10.0.0.1"])
    assert (await _exchange_from(api, created["cleartext"], "10.0.0.1"))[0] == 403
    loopback = await api.create("local", permittedIps=["127.0.0.0/8"])
    assert (await _exchange_from(api, loopback["cleartext"], "10.0.0.1"))[0] == 200


async def test_ip_check_comes_after_the_secret_check(trusting: Api) -> None:
    created = await trusting.create("bot", permittedIps=["10.0.0.1"])
    status, _ = await _exchange_from(trusting, created["cleartext"] + "x", "10.0.0.2")
    assert status == 401


def test_ip_matching_handles_zones_and_empty_callers() -> None:
    assert ip_permitted("fe80::1%eth0", ["fe80::/10"])
    assert not ip_permitted(None, ["127.0.0.1"])
    assert ip_permitted(None, [])


async def test_a_spoofed_leftmost_entry_is_not_the_caller(trusting: Api) -> None:
    created = await trusting.create("bot", permittedIps=["10.0.0.1"])
    spoofed = {"X-Forwarded-For": "10.0.0.1, 203.0.113.9"}
    assert (await trusting.exchange(created["cleartext"], headers=spoofed))[0] == 403
    honest = {"X-Forwarded-For": "203.0.113.9, 10.0.0.1"}
    assert (await trusting.exchange(created["cleartext"], headers=honest))[0] == 200


async def test_several_headers_are_read_as_one_list(trusting: Api) -> None:
    created = await trusting.create("bot", permittedIps=["10.0.0.1"])
    headers = CIMultiDict(
        [
            ("Authorization", f"Bearer {trusting.emu.project_id}:{created['cleartext']}"),
            ("X-Forwarded-For", "10.0.0.9"),
            ("X-Forwarded-For", "10.0.0.1"),
        ]
    )
    status, _ = await trusting.call(
        "POST",
        "/v1/auth/accesskey/exchange",
        {"loginOptions": {}},
        headers=headers,  # type: ignore[arg-type]
    )
    assert status == 200


@pytest.mark.parametrize(
    ("proxies", "forwarded", "allowed"),
    [
        # Two proxies in front: the client is the hop before them.
        (["127.0.0.1", "10.1.0.0/16"], "10.0.0.1, 10.1.2.3", True),
        # A spoof left of the real client: the real client is refused.
        (["127.0.0.1", "10.1.0.0/16"], "10.0.0.1, 198.51.100.4, 10.1.2.3", False),
        # Every hop trusted: the leftmost is all there is.
        (["127.0.0.1", "10.0.0.0/8"], "10.0.0.1, 10.1.2.3", True),
        # The socket peer (127.0.0.1) is no trusted proxy: it is the caller.
        (["10.1.0.0/16"], "10.0.0.1, 10.1.2.3", False),
    ],
)
async def test_trusted_proxies_are_passed_over_from_the_right(
    http: aiohttp.ClientSession,
    signing_pem: str,
    proxies: list[str],
    forwarded: str,
    allowed: bool,
) -> None:
    async with Emulator(**emulator_kwargs(signing_pem, trusted_proxies=proxies)) as emu:
        api = Api(http, emu)
        created = await api.create("bot", permittedIps=["10.0.0.1"])
        headers = {"X-Forwarded-For": forwarded}
        status, _ = await api.exchange(created["cleartext"], headers=headers)
    assert status == (200 if allowed else 403)


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="trusted_proxies"):
        Emulator(trusted_proxies=["10.0.0.0/8", "proxy.example"])
