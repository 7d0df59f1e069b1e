"""OpenTelemetry traces and metrics for the SDK's operations (the ``otel`` extra).

With ``opentelemetry-api`` installed, every operation (``access_keys.load``,
``exchange_access_key``, ``jwks``...) is a CLIENT span and feeds the
``descope_keys`` meter, through OpenTelemetry's global providers unless
:func:`instrument` names others. Without it, nothing here imports it and the
SDK behaves as it always did. ``DESCOPE_KEYS_TELEMETRY=off`` (or
:func:`uninstrument`) turns it off.

What is emitted never holds a secret: no management key, access-key secret,
JWT, signature or body; operation names, hosts, paths (never a query),
status codes, error class names, retry reasons (class and status) and key
ids only.

``opentelemetry`` is imported on first use (the first operation, or
:func:`instrument`), never by ``import descope_keys``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from .errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

    from ._retry_budget import RetryBudget

__all__ = ["ENV_TELEMETRY", "instrument", "instrumented", "uninstrument"]

#: ``off`` (or ``0``, ``false``, ``no``) keeps the SDK from emitting anything.
ENV_TELEMETRY: Final = "DESCOPE_KEYS_TELEMETRY"
_OFF: Final = frozenset({"0", "off", "false", "no", "none"})
_NAME: Final = "descope_keys"

# Validations are counted in plain counters and reported by an observable
# counter's callback: a synchronous Counter.add() on the validation path
# costs far more than the validation of a cached token. next() on an
# itertools.count is one C call, atomic under the GIL, so the sync facade's
# caller threads count without a lock.
VALIDATED: Final = itertools.count()
_rejected: Counter[str] = Counter()
_rejected_lock: Final = threading.Lock()
_budgets: weakref.WeakSet[RetryBudget] = weakref.WeakSet()


def rejected(reason: str) -> None:
    """Count a token rejected for ``reason`` (a stable short code, never the token)."""
    with _rejected_lock:
        _rejected[reason] += 1


def _validated() -> int:
    # A count's repr is "count(N)"; reading it must not advance it.
    return int(repr(VALIDATED)[6:-1])


def track_budget(budget: RetryBudget) -> None:
    """Report ``budget``'s level while it lives."""
    _budgets.add(budget)


def untrack_budget(budget: RetryBudget) -> None:
    """Stop reporting ``budget`` (its client is closed)."""
    _budgets.discard(budget)


def _error_type(exc: BaseException) -> str:
    return type(exc).__name__


def _describe(exc: BaseException) -> str:
    # Class and status only: an exception's message may quote what the server said.
    status = getattr(exc, "status", None)
    return _error_type(exc) if status is None else f"{_error_type(exc)} HTTP {status}"


_servers: dict[str, tuple[str, int]] = {}


def _server(base_url: str) -> tuple[str, int]:
    server = _servers.get(base_url)
    if server is None:
        # Imported here, once per base URL: urllib.parse (with ipaddress)
        # costs more at import than this module.
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        server = _servers[base_url] = (parts.hostname or "", port)
    return server


class _Instruments:
    """The tracer and the instruments of one pair of providers."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from opentelemetry import context, metrics, trace

        from ._version import __version__

        if tracer_provider is None:
            tracer_provider = trace.get_tracer_provider()
        elif not isinstance(tracer_provider, trace.TracerProvider):
            raise ConfigurationError("tracer_provider must be an OpenTelemetry TracerProvider")
        if meter_provider is None:
            meter_provider = metrics.get_meter_provider()
        elif not isinstance(meter_provider, metrics.MeterProvider):
            raise ConfigurationError("meter_provider must be an OpenTelemetry MeterProvider")
        self.trace = trace
        self.context = context
        self.tracer = tracer_provider.get_tracer(_NAME, __version__)
        meter = meter_provider.get_meter(_NAME, __version__)
        self.duration = meter.create_histogram(
            "descope_keys.operation.duration",
            unit="s",
            description="How long each SDK operation took, retries and waits included",
        )
        self.retries = meter.create_counter(
            "descope_keys.retries",
            unit="{retry}",
            description="Retries, by operation and the failure that caused them",
        )
        self.jwks_fetches = meter.create_counter(
            "descope_keys.jwks.fetches",
            unit="{fetch}",
            description="JWKS fetches, by outcome",
        )
        self.jwks_stale_age = meter.create_histogram(
            "descope_keys.jwks.stale_age",
            unit="s",
            description="How far past its lifetime the key set still served was, "
            "at each failed refresh",
        )
        self.refreshes = meter.create_counter(
            "descope_keys.credentials.refreshes",
            unit="{refresh}",
            description="Access-key credentials refreshes (exchanges), by outcome",
        )
        meter.create_observable_counter(
            "descope_keys.validations",
            callbacks=[self._observe_validations],
            unit="{validation}",
            description="Local token validations, by result: ok or the rejection reason",
        )
        meter.create_observable_gauge(
            "descope_keys.retry_budget.tokens",
            callbacks=[self._observe_budget],
            unit="{token}",
            description="Tokens left in the emptiest live client's retry budget",
        )

    def _observe_validations(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        with _rejected_lock:
            counts = dict(_rejected)
        yield Observation(_validated(), {"result": "ok"})
        for reason, count in counts.items():
            yield Observation(count, {"result": reason})

    def _observe_budget(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        levels = [budget.tokens for budget in list(_budgets)]
        if levels:
            yield Observation(min(levels), {})


_lock: Final = threading.Lock()
_active: _Instruments | None = None
_resolved = False


def _current() -> _Instruments | None:
    if _resolved:
        return _active
    return _resolve()


def _resolve() -> _Instruments | None:
    global _active, _resolved
    with _lock:
        if not _resolved:
            if os.environ.get(ENV_TELEMETRY, "").strip().lower() not in _OFF:
                try:
                    _active = _Instruments(None, None)
                except ImportError:  # no otel extra: stay silent, as before it existed
                    _active = None
            _resolved = True
        return _active


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Emit traces and metrics through these providers from now on.

    Without arguments, OpenTelemetry's global providers (what the SDK uses
    by default anyway, unless ``DESCOPE_KEYS_TELEMETRY=off``). Providers
    passed here leave the global ones alone, which is what tests want.

    Raises:
        ConfigurationError: OpenTelemetry is not installed (``pip install
            'descope-keys[otel]'``), or a provider is not one.
    """
    global _active, _resolved
    try:
        instruments = _Instruments(tracer_provider, meter_provider)
    except ImportError:
        raise ConfigurationError(
            "telemetry needs opentelemetry-api: install descope-keys[otel]"
        ) from None
    with _lock:
        _active, _resolved = instruments, True


def uninstrument() -> None:
    """Emit nothing from now on (until :func:`instrument`)."""
    global _active, _resolved
    with _lock:
        _active, _resolved = None, True


def instrumented() -> bool:
    """Whether the SDK emits traces and metrics (through providers, no-op or not)."""
    return _current() is not None


# The operation running in this context, for hooks below the one that opened it.
_operation: ContextVar[Operation | None] = ContextVar("descope_keys_operation", default=None)


class Operation:
    """One SDK operation: its span (current while it runs) and its duration.

    Built for every call; inert (no span, no clock read) while telemetry is off.
    """

    __slots__ = (
        "_context",
        "_instruments",
        "_span",
        "_started",
        "_token",
        "attempts",
        "name",
        "status",
    )

    def __init__(
        self,
        name: str,
        method: str | None = None,
        base_url: str | None = None,
        path: str | None = None,
    ) -> None:
        self.name = name
        self.attempts = 0
        self.status: int | None = None
        self._instruments = instruments = _current()
        self._span: Span | None = None
        if instruments is None:
            return
        trace = instruments.trace
        self._span = instruments.tracer.start_span(
            name, kind=trace.SpanKind.CLIENT, attributes={"descope.operation": name}
        )
        if method is not None and base_url is not None and path is not None:
            self.http(method, base_url, path)
        self._started = time.perf_counter()

    def http(self, method: str, base_url: str, path: str) -> None:
        """Describe the request (``path`` holds no query: the SDK sends params apart)."""
        span = self._span
        if span is None or not span.is_recording():
            return
        address, port = _server(base_url)
        span.set_attributes(
            {
                "http.request.method": method,
                "server.address": address,
                "server.port": port,
                "url.path": path,
            }
        )

    def __enter__(self) -> Operation:
        instruments = self._instruments
        if self._span is not None and instruments is not None:
            context = instruments.trace.set_span_in_context(self._span)
            self._context = instruments.context.attach(context)
            self._token: Token[Operation | None] = _operation.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, instruments = self._span, self._instruments
        if span is None or instruments is None:
            return
        _operation.reset(self._token)
        instruments.context.detach(self._context)
        labels: dict[str, str] = {"descope.operation": self.name}
        # A cancellation ends the span without an error: nothing failed.
        error = exc if isinstance(exc, Exception) else None
        if error is not None:
            labels["error.type"] = _error_type(error)
        if span.is_recording():  # not for the API's no-op span: it would ignore all this
            attributes: dict[str, str | int] = {}
            status = self.status
            attempts = self.attempts
            if error is not None:
                attributes["error.type"] = labels["error.type"]
                status = getattr(error, "status", None) or status
                attempts = getattr(error, "attempts", None) or attempts
                # The exception itself is not recorded: its message and traceback stay out.
                span.set_status(
                    instruments.trace.Status(
                        instruments.trace.StatusCode.ERROR,
                        _describe(error),
                    )
                )
            if status is not None:
                attributes["http.response.status_code"] = status
            attributes["descope.attempts"] = attempts
            span.set_attributes(attributes)
        span.end()
        instruments.duration.record(time.perf_counter() - self._started, labels)


def current_operation() -> Operation | None:
    """The SDK operation running in this context (None while telemetry is off)."""
    return _operation.get()


def retried(operation: str, attempt: int, reason: str, wait: float) -> None:
    """A retry: an event on the operation's span, and a count by operation and reason."""
    instruments = _current()
    if instruments is None:
        return
    instruments.retries.add(1, {"descope.operation": operation, "reason": reason})
    op = _operation.get()
    if op is not None and op._span is not None:
        op._span.add_event(
            "retry",
            {
                "descope.attempt": attempt,
                "descope.retry.reason": reason,
                "descope.retry.wait": wait,
            },
        )


def gave_up(why: str) -> None:
    """No retry after a retryable failure (deadline or budget): an event on the span."""
    op = _operation.get()
    if op is not None and op._span is not None:
        op._span.add_event("retry_abandoned", {"descope.retry.reason": why})


def _outcome(error: BaseException | None) -> Mapping[str, str]:
    """The labels of an outcome counter: ``ok``, or ``error`` with its type."""
    if error is None:
        return {"outcome": "ok"}
    return {"outcome": "error", "error.type": _error_type(error)}


def jwks_fetched(error: BaseException | None, stale_for: float | None = None) -> None:
    """A JWKS fetch ended; ``stale_for``: seconds past its lifetime of the set still served."""
    instruments = _current()
    if instruments is None:
        return
    instruments.jwks_fetches.add(1, _outcome(error))
    if stale_for is not None:
        instruments.jwks_stale_age.record(stale_for)


def refreshed(error: BaseException | None) -> None:
    """A credentials refresh ended, with ``error`` or without."""
    instruments = _current()
    if instruments is None:
        return
    instruments.refreshes.add(1, _outcome(error))
