"""The one call path: an operation's attempts over the transport, under retry.

A :class:`Caller` holds what every call of a client shares (the transport,
the retry policy and budget) and the ``Authorization`` it sends. The
access-key operations, the exchange and the create reconciler all go through
:meth:`Caller.call`, so that retry, budget and parsing behave the same way
for each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, TypeVar, overload

from . import _retry, telemetry
from ._retry import RetryPolicy, Safety
from ._retry_budget import RetryBudget
from ._secret import Secret
from ._transport import Response, Transport

__all__ = ["Caller", "Reconciler"]

T = TypeVar("T")


class Reconciler(Protocol):
    """Makes an UNSAFE call retryable: see :data:`descope_keys._retry.Reconcile`."""

    def attempt(self) -> AbstractContextManager[None]:
        """Wraps each attempt, so the reconcile knows which attempts are still running."""

    async def __call__(self, failure: BaseException) -> None:
        """Undo what the failed attempt may have done, or raise ``AmbiguousResultError``."""


def _body(response: Response) -> Any:
    return response.body


# Reusable and reentrant: the attempts of calls without a reconcile share it.
_NULL_GUARD = nullcontext()


def _unguarded() -> AbstractContextManager[None]:
    return _NULL_GUARD


class Caller:
    """Sends one operation's attempts with one ``Authorization``, under one retry policy."""

    __slots__ = ("_authorization", "_budget", "_policy", "_transport")

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy,
        budget: RetryBudget | None,
        authorization: Secret,
    ) -> None:
        self._transport = transport
        self._policy = policy
        self._budget = budget
        self._authorization = authorization

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy the calls run under."""
        return self._policy

    def authorized(self, secret: Secret | None) -> Caller:
        """The same caller, sending ``Bearer <projectId>:<secret>`` (or the bare project id)."""
        return Caller(self._transport, self._policy, self._budget, self._transport.bearer(secret))

    def with_policy(self, policy: RetryPolicy) -> Caller:
        """The same caller under another retry policy (a reconcile's shrunk deadline)."""
        return Caller(self._transport, policy, self._budget, self._authorization)

    def exempt(self, policy: RetryPolicy) -> Caller:
        """The same caller under ``policy``, outside the retry budget.

        For cleanup (a reconcile's search and deletes): it undoes a side
        effect rather than adding the caller's load, so a spent budget must
        not stop it.
        """
        return Caller(self._transport, policy, None, self._authorization)

    @overload
    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        safety: Safety,
        body: Mapping[str, Any] | None = ...,
        params: Mapping[str, str] | None = ...,
        parse: None = ...,
        reconcile: Reconciler | None = ...,
    ) -> Any: ...

    @overload
    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        safety: Safety,
        body: Mapping[str, Any] | None = ...,
        params: Mapping[str, str] | None = ...,
        parse: Callable[[Response], T],
        reconcile: Reconciler | None = ...,
    ) -> T: ...

    async def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        safety: Safety,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        parse: Callable[[Response], Any] | None = None,
        reconcile: Reconciler | None = None,
    ) -> Any:
        """Run the operation under the retry policy and return ``parse(response)``.

        ``parse`` (default: the JSON body) runs inside each attempt: a 2xx
        body it cannot use raises, and that attempt counts as failed, retried
        where ``safety`` allows it. An UNSAFE operation is retried after an
        ambiguous failure only through ``reconcile``, which also wraps every
        attempt (:meth:`Reconciler.attempt`).
        """
        send, authorization = self._transport.send, self._authorization
        read = _body if parse is None else parse
        guard = _unguarded if reconcile is None else reconcile.attempt
        op = telemetry.Operation(operation, method, self._transport.base_url, path)

        async def attempt() -> Any:
            with guard():
                op.attempts += 1
                response = await send(
                    operation, method, path, authorization=authorization, body=body, params=params
                )
                op.status = response.status
                return read(response)

        with op:
            return await _retry.run(
                self._policy, operation, safety, attempt, budget=self._budget, reconcile=reconcile
            )

    async def send_once(
        self, operation: str, method: str, path: str, *, timeout: float | None = None
    ) -> Response:
        """One bare attempt, outside retry and budget, for callers that own their failures.

        The caller opens the operation's span (a :class:`telemetry.Operation`)
        around what it does with the answer; this attempt fills in the request.
        """
        op = telemetry.current_operation()
        if op is not None and op.name == operation:
            op.http(method, self._transport.base_url, path)
            op.attempts += 1
        response = await self._transport.send(
            operation, method, path, authorization=self._authorization, timeout=timeout
        )
        if op is not None and op.name == operation:
            op.status = response.status
        return response

    async def aclose(self) -> None:
        """Close the transport under every caller that shares it (idempotent)."""
        if self._budget is not None:
            telemetry.untrack_budget(self._budget)  # a closed client's level means nothing
        await self._transport.aclose()
