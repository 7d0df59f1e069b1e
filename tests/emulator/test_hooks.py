"""Test hooks: rate limiting, injected faults, request counts, and their HTTP twins."""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import fields

import aiohttp
import pytest

from descope_keys.emulator import Emulator, Fault, ThreadedEmulator
from tests.emulator.conftest import PROJECT_ID, Api

LICENSE = "/v1/mgmt/license"
JWKS = f"/v2/keys/{PROJECT_ID}"


async def test_rate_limit_answers_429_with_retry_after(api: Api, emulator: Emulator) -> None:
    emulator.rate_limit(2, retry_after=3)
    statuses = []
    for _ in range(5):  # within one second: at most 2 per window pass
        async with api.session.get(api.emu.base_url + LICENSE, headers=api.mgmt_auth) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert resp.headers["Retry-After"] == "3"
                body = await resp.json()
                assert body["errorCode"] == "E130429"
    assert 429 in statuses
    assert statuses.count(200) <= 4
    emulator.rate_limit(None)
    assert (await api.mgmt("GET", LICENSE))[0] == 200


async def test_rate_limit_can_target_a_path_prefix(api: Api, emulator: Emulator) -> None:
    emulator.rate_limit(0, path_prefix="/v1/auth/")
    secret = (await api.create("bot"))["cleartext"]  # management is not limited
    status, body = await api.exchange(secret)
    assert (status, body["errorCode"]) == (429, "E130429")


async def test_a_fault_answers_the_next_matching_requests_then_stops(
    api: Api, emulator: Emulator
) -> None:
    emulator.inject_fault(LICENSE, status=503, times=2, retry_after=7)
    for _ in range(2):
        async with api.session.get(api.emu.base_url + LICENSE, headers=api.mgmt_auth) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "7"
            assert (await resp.json())["errorCode"] == "E900503"
    assert (await api.mgmt("GET", LICENSE))[0] == 200


async def test_faults_only_match_their_path_prefix(api: Api, emulator: Emulator) -> None:
    emulator.inject_fault("/v1/mgmt/accesskey/create", status=500)
    assert (await api.mgmt("GET", LICENSE))[0] == 200
    assert (await api.mgmt("POST", "/v1/mgmt/accesskey/create", {"name": "k"}))[0] == 500
    assert (await api.mgmt("POST", "/v1/mgmt/accesskey/create", {"name": "k"}))[0] == 200


async def test_a_fault_can_send_a_non_json_proxy_page(api: Api, emulator: Emulator) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    emulator.inject_fault(JWKS, status=502, body=page)
    async with api.session.get(api.emu.base_url + JWKS) as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"
        assert await resp.text() == page


async def test_a_fault_can_send_a_json_body(api: Api, emulator: Emulator) -> None:
    emulator.inject_fault(LICENSE, status=429, body={"errorCode": "E130429", "x": 1})
    assert await api.mgmt("GET", LICENSE) == (429, {"errorCode": "E130429", "x": 1})


async def test_a_delay_only_fault_slows_the_request_down(api: Api, emulator: Emulator) -> None:
    emulator.inject_fault(LICENSE, status=None, delay=0.3)
    started = time.monotonic()
    status, body = await api.mgmt("GET", LICENSE)
    assert time.monotonic() - started >= 0.3
    assert status == 200
    assert "rateLimitTier" in body


async def test_a_delayed_fault_can_outlast_a_client_timeout(api: Api, emulator: Emulator) -> None:
    emulator.inject_fault(LICENSE, status=503, delay=2)
    with pytest.raises(asyncio.TimeoutError):
        await api.session.get(
            api.emu.base_url + LICENSE,
            headers=api.mgmt_auth,
            timeout=aiohttp.ClientTimeout(total=0.2),
        )


async def test_a_fault_can_drop_the_connection(api: Api, emulator: Emulator) -> None:
    # A POST: aiohttp's client silently retries an idempotent GET once.
    search = "/v1/mgmt/accesskey/search"
    emulator.inject_fault(search, drop_connection=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.mgmt("POST", search, {})
    assert (await api.mgmt("POST", search, {}))[0] == 200


async def test_an_after_handler_fault_hides_a_change_that_happened(
    api: Api, emulator: Emulator
) -> None:
    # What the SDK's ambiguous-create handling must cope with.
    emulator.inject_fault("/v1/mgmt/accesskey/create", status=503, after_handler=True)
    status, _ = await api.mgmt("POST", "/v1/mgmt/accesskey/create", {"name": "ghost"})
    assert status == 503
    assert [k["name"] for k in emulator.stored_keys()] == ["ghost"]


async def test_an_after_handler_drop_loses_a_rotated_secret(api: Api, emulator: Emulator) -> None:
    created = await api.create("bot")
    emulator.inject_fault("/v1/mgmt/accesskey/rotate", drop_connection=True, after_handler=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.mgmt("POST", "/v1/mgmt/accesskey/rotate", {"id": created["key"]["id"]})
    assert (await api.exchange(created["cleartext"]))[0] == 401  # the rotation happened


async def test_unlimited_faults_last_until_cleared(api: Api, emulator: Emulator) -> None:
    emulator.inject_fault(LICENSE, status=520, times=None)
    for _ in range(3):
        assert (await api.mgmt("GET", LICENSE))[0] == 520
    emulator.clear_faults()
    assert (await api.mgmt("GET", LICENSE))[0] == 200


async def test_faults_are_used_in_the_order_given(api: Api, emulator: Emulator) -> None:
    emulator.inject_fault(LICENSE, status=503)
    emulator.inject_fault(LICENSE, status=429)
    assert [(await api.mgmt("GET", LICENSE))[0] for _ in range(3)] == [503, 429, 200]


@pytest.mark.parametrize(
    "kwargs", [{"times": 0}, {"status": 42}, {"delay": -1}], ids=["times", "status", "delay"]
)
async def test_bad_fault_settings_are_refused(emulator: Emulator, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        emulator.inject_fault("/", **kwargs)  # type: ignore[arg-type]


async def test_request_counts_count_each_path(api: Api, emulator: Emulator) -> None:
    for _ in range(3):
        await api.call("GET", JWKS)
    await api.mgmt("GET", LICENSE)
    assert emulator.request_counts[JWKS] == 3
    assert emulator.request_counts[LICENSE] == 1


async def test_hooks_never_fault_or_limit_the_hook_routes(api: Api, emulator: Emulator) -> None:
    emulator.inject_fault("/", status=503, times=None)
    emulator.rate_limit(0)
    status, body = await api.mgmt("GET", "/emulator/clock")
    assert status == 200
    assert "now" in body


async def test_http_hooks_need_the_management_key(api: Api) -> None:
    status, body = await api.call("GET", "/emulator/requests")
    assert (status, body["errorCode"]) == (401, "E900401")


async def test_http_clock_hook(api: Api, emulator: Emulator) -> None:
    before = emulator.clock.now()
    status, body = await api.mgmt("POST", "/emulator/clock", {"advance": 3600})
    assert status == 200
    assert body["now"] - before >= 3600
    body = await api.ok("POST", "/emulator/clock", {"set": 2_000_000_000})
    assert abs(body["now"] - 2_000_000_000) < 5
    body = await api.ok("POST", "/emulator/clock", {"reset": True})
    assert abs(body["now"] - time.time()) < 5
    status, error = await api.mgmt("POST", "/emulator/clock", {"advance": "soon"})
    assert (status, error["errorCode"]) == (400, "E011004")


async def test_http_fault_and_rate_limit_hooks(api: Api) -> None:
    await api.ok(
        "POST",
        "/emulator/faults",
        {"pathPrefix": LICENSE, "status": 502, "body": "<html>bad gateway</html>"},
    )
    assert await api.mgmt("GET", LICENSE) == (502, "<html>bad gateway</html>")
    await api.ok("POST", "/emulator/faults", {"pathPrefix": LICENSE, "times": None})
    assert (await api.mgmt("GET", LICENSE))[0] == 503
    assert await api.ok("DELETE", "/emulator/faults") == {}
    assert (await api.mgmt("GET", LICENSE))[0] == 200
    await api.ok("POST", "/emulator/rate-limit", {"callsPerSecond": 0, "retryAfter": 2})
    assert (await api.mgmt("GET", LICENSE))[0] == 429
    await api.ok("POST", "/emulator/rate-limit", {"callsPerSecond": None})
    assert (await api.mgmt("GET", LICENSE))[0] == 200
    status, error = await api.mgmt("POST", "/emulator/faults", {"status": 1000})
    assert (status, error["errorCode"]) == (400, "E011003")


async def test_http_signing_key_hooks(api: Api, emulator: Emulator) -> None:
    first = emulator.signing_kid
    published = await api.ok("POST", "/emulator/signing-keys/publish-next")
    assert published["kid"] == first
    assert published["nextKid"] not in (None, first)
    switched = await api.ok("POST", "/emulator/signing-keys/switch")
    assert switched == {"kid": published["nextKid"], "nextKid": None}
    rotated = await api.ok("POST", "/emulator/signing-keys/rotate")
    assert rotated["kid"] not in (first, published["nextKid"])
    dropped = await api.ok("POST", "/emulator/signing-keys/drop-retired")
    assert set(dropped["dropped"]) == {first, published["nextKid"]}
    status, error = await api.mgmt("POST", "/emulator/signing-keys/switch")
    assert (status, error["errorCode"]) == (400, "E011003")


async def test_http_inspection_hooks(api: Api) -> None:
    created = await api.create("bot")
    assert await api.ok("GET", "/emulator/keys") == {"keys": [created["key"]]}
    counts = (await api.ok("GET", "/emulator/requests"))["counts"]
    assert counts["/v1/mgmt/accesskey/create"] == 1


async def test_concurrent_http_rotations_never_fail_the_server(
    api: Api, emulator: Emulator
) -> None:
    results = await asyncio.gather(
        *(api.mgmt("POST", "/emulator/signing-keys/rotate") for _ in range(4))
    )
    assert {status for status, _ in results} <= {200, 400}
    assert any(status == 200 for status, _ in results)
    kids = [k["kid"] for k in emulator.jwks()["keys"]]
    assert kids[0] == emulator.signing_kid
    assert len(kids) == len(set(kids))


def test_the_http_fault_fields_are_the_python_ones_in_camel_case() -> None:
    assert Fault.from_json({}) == Fault("/")
    wire = {
        "pathPrefix": "/v2/keys",
        "status": None,
        "times": None,
        "retryAfter": 2,
        "body": "<html>busy</html>",
        "delay": 0.5,
        "dropConnection": True,
        "afterHandler": True,
    }
    assert Fault.from_json(wire) == Fault(
        "/v2/keys",
        status=None,
        times=None,
        retry_after=2.0,
        body="<html>busy</html>",
        delay=0.5,
        drop_connection=True,
        after_handler=True,
    )
    # Every field of Fault has its wire name, and nothing else does.
    assert {_camel(f.name) for f in fields(Fault)} == set(wire)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def test_inject_fault_takes_exactly_the_arguments_of_fault() -> None:
    fault = inspect.signature(Fault)
    for method in (Emulator.inject_fault, ThreadedEmulator.inject_fault):
        params = list(inspect.signature(method).parameters.values())
        assert params[0].name == "self"
        assert params[1:] == list(fault.parameters.values())


async def test_a_fault_value_can_be_added_twice(api: Api, emulator: Emulator) -> None:
    fault = Fault(LICENSE, status=502)
    emulator.add_fault(fault)
    emulator.add_fault(fault)  # a copy each time: two separate single uses
    statuses = []
    for _ in range(3):
        async with api.session.get(api.emu.base_url + LICENSE, headers=api.mgmt_auth) as resp:
            statuses.append(resp.status)
    assert statuses == [502, 502, 200]
    assert fault.times == 1  # the caller's value is untouched
