"""OpenTelemetry's SDK, in memory, behind providers given to ``telemetry.instrument``.

The global providers are never set (OpenTelemetry allows that once per
process); each test gets its own providers, and the SDK's telemetry state is
put back as it was afterwards, so nothing leaks into other tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from descope_keys import AsyncDescopeKeys, RetryPolicy, telemetry
from descope_keys.emulator import Emulator
from descope_keys.emulator._signing import generate_rsa_key

# Short waits: the retry tests must stay fast.
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02, deadline=5)


class Otel:
    """What the SDK exported during one test."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        (span,) = self.spans(name)
        return span

    def metrics_json(self) -> str:
        data = self.reader.get_metrics_data()
        return "" if data is None else data.to_json()

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` collected now."""
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                if scope.scope.name != "descope_keys":
                    continue
                for found in scope.metrics:
                    if found.name == metric:
                        out.extend(found.data.data_points)
        return out

    def value(self, metric: str, **labels: Any) -> float:
        """The sum (or count, for a histogram) of ``metric``'s points that carry ``labels``."""
        total = 0.0
        for point in self.points(metric):
            attributes = dict(point.attributes or {})
            if all(attributes.get(k.replace("_", ".")) == v for k, v in labels.items()):
                total += point.count if hasattr(point, "bucket_counts") else point.value
        return total


@pytest.fixture
def otel() -> Iterator[Otel]:
    recorder = Otel()
    saved = telemetry._active, telemetry._resolved
    telemetry.instrument(
        tracer_provider=recorder.tracer_provider, meter_provider=recorder.meter_provider
    )
    try:
        yield recorder
    finally:
        telemetry._active, telemetry._resolved = saved
        recorder.tracer_provider.shutdown()
        recorder.meter_provider.shutdown()


@pytest.fixture(scope="session")
def signing_pem() -> str:
    return generate_rsa_key().as_pem(private=True).decode("ascii")


@pytest.fixture
async def emu(signing_pem: str) -> AsyncIterator[Emulator]:
    async with Emulator(signing_key=signing_pem, role_permissions={"reader": ["read"]}) as e:
        yield e


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncDescopeKeys]:
    async with AsyncDescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=FAST_RETRY, timeout=5
    ) as c:
        yield c
