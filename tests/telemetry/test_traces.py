"""Spans: one per SDK operation, CLIENT, HTTP-client attributes, retry events, errors."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from descope_keys import (
    AsyncDescopeKeys,
    AuthenticationError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    TransportError,
    telemetry,
)
from descope_keys.emulator import Emulator

from .conftest import Otel

pytestmark = pytest.mark.usefixtures("otel")


async def test_each_management_operation_is_one_client_span(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    created = await client.access_keys.create("bot", role_names=["reader"])
    key_id = created.key.id
    await client.access_keys.load(key_id)
    await client.access_keys.search()
    await client.access_keys.update(key_id, name="bot-2")
    await client.access_keys.deactivate(key_id)
    await client.access_keys.activate(key_id)
    await client.access_keys.rotate(key_id)
    await client.access_keys.delete_many([key_id])

    names = [s.name for s in otel.spans()]
    assert names == [
        "access_keys.create",
        "access_keys.load",
        "access_keys.search",
        "access_keys.update",
        "access_keys.deactivate",
        "access_keys.activate",
        "access_keys.rotate",
        "access_keys.delete_many",
    ]
    load = otel.span("access_keys.load")
    assert load.kind is SpanKind.CLIENT
    assert load.status.status_code is StatusCode.UNSET
    assert dict(load.attributes or {}) == {
        "descope.operation": "access_keys.load",
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": emu.port,
        # The key id goes as a query parameter: never in url.path.
        "url.path": "/v1/mgmt/accesskey",
        "http.response.status_code": 200,
        "descope.attempts": 1,
    }
    assert otel.span("access_keys.create").attributes["http.request.method"] == "POST"
    assert all(s.parent is None for s in otel.spans())


async def test_exchange_and_jwks_spans(otel: Otel, client: AsyncDescopeKeys) -> None:
    secret = (await client.access_keys.create("machine", role_names=["reader"])).cleartext
    otel.exporter.clear()
    token = await client.exchange_access_key(secret)
    await client.validate_token(token.jwt)

    exchange = otel.span("exchange_access_key")
    assert exchange.attributes["url.path"] == "/v1/auth/accesskey/exchange"
    assert exchange.attributes["http.response.status_code"] == 200
    jwks = otel.span("jwks")  # fetched once, for the exchanged token's validation
    assert jwks.kind is SpanKind.CLIENT
    assert jwks.attributes["http.request.method"] == "GET"
    assert jwks.attributes["url.path"] == f"/v2/keys/{client.project_id}"
    assert jwks.attributes["http.response.status_code"] == 200
    assert jwks.attributes["descope.attempts"] == 1
    # A warm validation is not an operation: no span.
    assert len(otel.spans()) == 2


async def test_the_span_is_current_while_the_call_runs(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    from opentelemetry import trace

    seen: list[trace.Span] = []
    send = client._transport.send

    async def spy(*args: object, **kwargs: object) -> object:
        seen.append(trace.get_current_span())
        return await send(*args, **kwargs)  # type: ignore[arg-type]

    client._transport.send = spy  # type: ignore[method-assign]
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("request") as outer:
        await client.access_keys.search()
        assert trace.get_current_span() is outer  # restored after the call
    search = otel.span("access_keys.search")
    assert seen[0].get_span_context().span_id == search.context.span_id
    # Nested under the application's span.
    assert search.parent is not None
    assert search.parent.span_id == outer.get_span_context().span_id


async def test_each_retry_is_an_event_with_its_reason_and_wait(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    emu.inject_fault("/v1/mgmt/accesskey/search", status=503, times=2)
    await client.access_keys.search()
    span = otel.span("access_keys.search")
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["descope.attempts"] == 3
    assert span.attributes["http.response.status_code"] == 200
    events = [e for e in span.events if e.name == "retry"]
    assert [e.attributes["descope.attempt"] for e in events] == [1, 2]
    for event in events:
        assert event.attributes["descope.retry.reason"] == "ServerError HTTP 503"
        assert 0 <= event.attributes["descope.retry.wait"] <= FAST_WAIT_MAX


FAST_WAIT_MAX = 0.02


async def test_a_failure_sets_error_status_and_error_type(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    with pytest.raises(NotFoundError):
        await client.access_keys.load("K-nope")
    span = otel.span("access_keys.load")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "NotFoundError HTTP 404"
    assert span.attributes["error.type"] == "NotFoundError"
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["descope.attempts"] == 1
    # The exception is not recorded: its message and traceback stay out.
    assert not span.events

    emu.inject_fault("/v1/mgmt/accesskey/search", status=500, times=None)
    with pytest.raises(ServerError):
        await client.access_keys.search()
    span = otel.span("access_keys.search")
    assert span.attributes["error.type"] == "ServerError"
    assert span.attributes["descope.attempts"] == 3
    assert len([e for e in span.events if e.name == "retry"]) == 2

    with pytest.raises(AuthenticationError):
        await client.exchange_access_key("K1:not-a-real-secret")
    assert otel.span("exchange_access_key").attributes["error.type"] == "AuthenticationError"


async def test_a_retry_given_up_is_an_event(otel: Otel, emu: Emulator) -> None:
    # The deadline cannot cover the Retry-After: no retry, and the span says why.
    policy = RetryPolicy(attempts=3, deadline=0.5, initial_wait=0.01, max_wait=0.02)
    emu.inject_fault("/v1/mgmt/accesskey/search", status=503, retry_after=2)
    async with AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=policy
    ) as client:
        with pytest.raises(ServerError):
            await client.access_keys.search()
    (event,) = otel.span("access_keys.search").events
    assert event.name == "retry_abandoned"
    assert event.attributes["descope.retry.reason"] == "the deadline would pass during the wait"


async def test_a_failed_jwks_fetch_is_an_error_span(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    secret = (await client.access_keys.create("machine", role_names=["reader"])).cleartext
    emu.inject_fault("/v2/keys", status=500, times=None)
    with pytest.raises(TransportError):  # no key set can be had: validation fails closed
        await client.exchange_access_key(secret)
    (jwks,) = otel.spans("jwks")[:1]
    assert jwks.status.status_code is StatusCode.ERROR
    assert jwks.attributes["error.type"] == "ServerError"
    assert jwks.attributes["http.response.status_code"] == 500


async def test_cancellation_ends_the_span_without_an_error(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    emu.inject_fault("/v1/mgmt/accesskey/search", status=None, delay=1.5)
    task = asyncio.create_task(client.access_keys.search())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = otel.span("access_keys.search")
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.UNSET
    emu.clear_faults()


async def test_uninstrument_stops_every_span(otel: Otel, client: AsyncDescopeKeys) -> None:
    telemetry.uninstrument()
    assert not telemetry.instrumented()
    await client.access_keys.search()
    assert otel.spans() == []
