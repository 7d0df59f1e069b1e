"""Without OpenTelemetry, or switched off, the SDK emits nothing and works as before."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from descope_keys import AsyncDescopeKeys, ConfigurationError, telemetry
from descope_keys.emulator import Emulator

from .conftest import Otel


@pytest.fixture
def fresh_state() -> Iterator[None]:
    """Telemetry not resolved yet, as in a new process; restored afterwards."""
    saved = telemetry._active, telemetry._resolved
    telemetry._active, telemetry._resolved = None, False
    try:
        yield
    finally:
        telemetry._active, telemetry._resolved = saved


@pytest.mark.usefixtures("fresh_state")
async def test_without_opentelemetry_nothing_is_emitted(
    monkeypatch: pytest.MonkeyPatch, client: AsyncDescopeKeys
) -> None:
    for name in ("opentelemetry", "opentelemetry.trace", "opentelemetry.metrics"):
        monkeypatch.setitem(sys.modules, name, None)  # "import" raises ImportError
    with pytest.raises(ConfigurationError, match=r"descope-keys\[otel\]"):
        telemetry.instrument()
    assert not telemetry.instrumented()
    await client.access_keys.search()
    assert telemetry.current_operation() is None


@pytest.mark.usefixtures("fresh_state")
def test_the_environment_variable_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(telemetry.ENV_TELEMETRY, "off")
    assert not telemetry.instrumented()


@pytest.mark.usefixtures("fresh_state")
def test_by_default_the_global_providers_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(telemetry.ENV_TELEMETRY, raising=False)
    assert telemetry.instrumented()


def test_providers_must_be_providers(otel: Otel) -> None:
    with pytest.raises(ConfigurationError, match="TracerProvider"):
        telemetry.instrument(tracer_provider=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="MeterProvider"):
        telemetry.instrument(meter_provider=object())  # type: ignore[arg-type]


async def test_instrumenting_again_moves_to_the_new_providers(
    otel: Otel, emu: Emulator, client: AsyncDescopeKeys
) -> None:
    other = Otel()
    telemetry.instrument(tracer_provider=other.tracer_provider, meter_provider=other.meter_provider)
    try:
        await client.access_keys.search()
    finally:
        other.tracer_provider.shutdown()
    assert otel.spans() == []
    assert [s.name for s in other.spans()] == ["access_keys.search"]
    other.meter_provider.shutdown()


@pytest.mark.slow
def test_import_loads_no_opentelemetry() -> None:
    code = (
        "import sys, descope_keys, descope_keys.telemetry\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
