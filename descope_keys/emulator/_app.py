"""The aiohttp application: routes, the error/hook middleware, and the ``/emulator`` hooks.

The middleware turns every failure into a Descope error body (never a 500
page or a traceback), counts requests, and applies the rate limit and
injected faults to the Descope API paths (never to ``/emulator/…``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from descope_keys.emulator._exchange import AuthRoutes
from descope_keys.emulator._hooks import Fault, reject_unknown_fields
from descope_keys.emulator._mgmt import ManagementRoutes
from descope_keys.emulator._signing import generate_rsa_key
from descope_keys.emulator._state import EmulatorState, read_json
from descope_keys.emulator._wire import (
    BODY_TOO_LARGE,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NO_SUCH_PATH,
    RATE_LIMITED,
    ApiFailure,
    error_response,
    invalid_argument,
    opt_int,
    opt_number,
    opt_str,
    validation_failure,
)

__all__ = ["HOOKS_PREFIX", "MAX_BODY_BYTES", "build_app", "fault_response"]

logger = logging.getLogger("descope_keys.emulator")

MAX_BODY_BYTES = 1024 * 1024
HOOKS_PREFIX = "/emulator/"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _retry_after_header(retry_after: float | str | None) -> dict[str, str]:
    if retry_after is None:
        return {}
    text = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
    return {"Retry-After": text}


def fault_response(fault: Fault) -> web.Response:
    """The answer an injected fault gives (its ``status`` must be set)."""
    assert fault.status is not None
    headers = _retry_after_header(fault.retry_after)
    body = fault.body
    if body is None:
        code = RATE_LIMITED if fault.status == 429 else f"E900{fault.status:03d}"
        return error_response(fault.status, code, "injected fault", headers=headers)
    if isinstance(body, Mapping):
        return web.json_response(dict(body), status=fault.status, headers=headers)
    if isinstance(body, bytes):
        return web.Response(
            body=body, status=fault.status, headers=headers, content_type="application/octet-stream"
        )
    content_type = "text/html" if body.lstrip().startswith("<") else "text/plain"
    return web.Response(text=body, status=fault.status, headers=headers, content_type=content_type)


def _http_exception_response(exc: web.HTTPException) -> web.StreamResponse:
    if exc.status == 413:
        return error_response(413, BODY_TOO_LARGE, f"request body over {MAX_BODY_BYTES} bytes")
    if exc.status == 405:
        allow = exc.headers.get("Allow")
        return error_response(
            405,
            METHOD_NOT_ALLOWED,
            "method not allowed",
            headers={"Allow": allow} if allow else None,
        )
    if exc.status == 404:
        return error_response(404, NO_SUCH_PATH, "no such path")
    if exc.status >= 400:
        return error_response(exc.status, f"E900{exc.status:03d}", exc.reason)
    return exc  # a redirect or similar: pass through


async def _dispatch(request: web.Request, handler: _Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiFailure as failure:
        return failure.response()
    except web.HTTPException as exc:
        return _http_exception_response(exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        # Logged for whoever runs the emulator; the client only sees a Descope body.
        logger.exception("emulator error on %s %s", request.method, request.path)
        return error_response(500, INTERNAL_ERROR, "internal emulator error")


def _middleware(state: EmulatorState) -> Any:
    limiter, faults, counts = state.rate_limiter, state.faults, state.request_counts

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        path = request.path
        counts[path] += 1
        if path.startswith(HOOKS_PREFIX):
            return await _dispatch(request, handler)
        if limiter.enabled:
            retry_after = limiter.check(path)
            if retry_after is not None:
                return error_response(
                    429,
                    RATE_LIMITED,
                    "rate limit exceeded",
                    headers={"Retry-After": str(retry_after)},
                )
        fault = faults.take(path) if faults else None
        if fault is None:
            return await _dispatch(request, handler)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        response: web.StreamResponse | None = None
        if fault.after_handler or fault.status is None:
            response = await _dispatch(request, handler)
        if fault.drop_connection:
            if request.transport is not None:
                request.transport.abort()
            return web.Response()  # never reaches the client
        if fault.status is None:
            assert response is not None
            return response
        return fault_response(fault)

    return middleware


# The clock stays within what datetime (and so every client) can show.
_EPOCH_MAX = 253402300799.0  # 9999-12-31T23:59:59Z


def _non_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinity in a JSON value, else None (no recursion)."""
    pending = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where
        if isinstance(item, dict):
            pending += [(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            pending += [(v, f"{where}[{i}]") for i, v in enumerate(item)]
    return None


async def _hook_body(request: web.Request, known: tuple[str, ...]) -> dict[str, Any]:
    """A hook's JSON body, with only ``known`` fields and no NaN or infinity (else a 400
    naming the field).

    Python's JSON reads ``NaN``, ``Infinity`` and ``1e999`` as floats; one in
    the clock would break every later create. An unknown field is refused
    rather than ignored: a misspelt ``pathPrefix`` would otherwise fault every path.
    """
    body = await read_json(request)
    reject_unknown_fields(body, known)
    where = _non_finite(body, "")
    if where is not None:
        raise invalid_argument(where, "a finite number")
    return body


class HookRoutes:
    """``/emulator/…`` routes, present only with test hooks on; management auth needed."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve ``state``."""
        self._state = state

    def add_to(self, app: web.Application) -> None:
        """Register the routes on ``app``."""
        r = app.router
        r.add_post("/emulator/signing-keys/rotate", self.signing_keys)
        r.add_post("/emulator/signing-keys/publish-next", self.signing_keys)
        r.add_post("/emulator/signing-keys/switch", self.signing_keys)
        r.add_post("/emulator/signing-keys/drop-retired", self.signing_keys)
        r.add_get("/emulator/clock", self.clock)
        r.add_post("/emulator/clock", self.clock)
        r.add_post("/emulator/rate-limit", self.rate_limit)
        r.add_post("/emulator/faults", self.add_fault)
        r.add_delete("/emulator/faults", self.clear_faults)
        r.add_get("/emulator/requests", self.requests)
        r.add_get("/emulator/keys", self.keys)

    async def signing_keys(self, request: web.Request) -> web.Response:
        """Rotate, publish the next, switch to the next, or drop retired signing keys."""
        state = self._state
        state.require_management(request)
        await _hook_body(request, ())
        action = request.path.rsplit("/", 1)[1]
        if action == "drop-retired":
            return web.json_response({"dropped": state.signing.drop_retired()})
        if action in ("rotate", "publish-next") and state.signing.next_kid is None:
            key = await asyncio.get_running_loop().run_in_executor(None, generate_rsa_key)
            state.signing.publish_next(key)
        if action in ("rotate", "switch"):
            try:  # checked here, not before the await above: a concurrent switch may win
                state.switch_signing_key()
            except RuntimeError as exc:
                raise validation_failure(str(exc)) from exc
        return web.json_response({"kid": state.signing.kid, "nextKid": state.signing.next_kid})

    async def clock(self, request: web.Request) -> web.Response:
        """GET the emulator time; POST ``{"advance": s}``, ``{"set": t}`` or ``{"reset": true}``."""
        state = self._state
        state.require_management(request)
        if request.method == "POST":
            body = await _hook_body(request, ("advance", "set", "reset"))
            advance, set_to = opt_number(body, "advance"), opt_number(body, "set")
            if set_to is not None and not 0 <= set_to <= _EPOCH_MAX:
                raise validation_failure(f"set must be epoch seconds from 0 to {_EPOCH_MAX:.0f}")
            if advance is not None and abs(advance) > _EPOCH_MAX:
                raise validation_failure(f"advance must be at most {_EPOCH_MAX:.0f} seconds")
            if body.get("reset"):
                state.clock.reset()
            if set_to is not None:
                state.clock.set(set_to)
            if advance is not None:
                state.clock.advance(advance)
        return web.json_response({"now": state.clock.now()})

    async def rate_limit(self, request: web.Request) -> web.Response:
        """POST ``{"callsPerSecond": n | null, "retryAfter": s, "pathPrefix": "/"}``."""
        state = self._state
        state.require_management(request)
        body = await _hook_body(request, ("callsPerSecond", "retryAfter", "pathPrefix"))
        calls = opt_int(body, "callsPerSecond")
        retry_after = opt_int(body, "retryAfter")
        try:
            state.rate_limiter.configure(
                calls,
                1 if retry_after is None else retry_after,
                opt_str(body, "pathPrefix") or "/",
            )
        except ValueError as exc:
            raise validation_failure(str(exc)) from exc
        return web.json_response({})

    async def add_fault(self, request: web.Request) -> web.Response:
        """POST a fault: ``pathPrefix``, ``status``, ``times``, ``retryAfter``, ``body``, ``delay``,
        ``dropConnection``, ``afterHandler`` (as the Python ``inject_fault``)."""
        state = self._state
        state.require_management(request)
        fault = Fault.from_json(await _hook_body(request, Fault.json_fields()))
        try:
            state.faults.add(fault)
        except ValueError as exc:
            raise validation_failure(str(exc)) from exc
        return web.json_response({})

    async def clear_faults(self, request: web.Request) -> web.Response:
        """DELETE every queued fault."""
        self._state.require_management(request)
        await _hook_body(request, ())
        self._state.faults.clear()
        return web.json_response({})

    async def requests(self, request: web.Request) -> web.Response:
        """GET ``{"counts": {path: n}}`` of every request served so far."""
        self._state.require_management(request)
        return web.json_response({"counts": dict(self._state.request_counts)})

    async def keys(self, request: web.Request) -> web.Response:
        """GET ``{"keys": [AccessKey…]}``: the stored keys, without secrets."""
        self._state.require_management(request)
        return web.json_response({"keys": self._state.stored_keys()})


def build_app(state: EmulatorState, *, test_hooks: bool) -> web.Application:
    """The emulator's aiohttp application for ``state``."""
    app = web.Application(
        middlewares=[_middleware(state)],
        client_max_size=MAX_BODY_BYTES,
    )
    ManagementRoutes(state).add_to(app)
    AuthRoutes(state).add_to(app)
    if test_hooks:
        HookRoutes(state).add_to(app)
    return app
