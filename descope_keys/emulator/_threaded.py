"""The emulator on its own event loop in a background thread: :class:`ThreadedEmulator`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from descope_keys.emulator._hooks import Clock, FaultBody
from descope_keys.emulator._server import START_TIMEOUT, Emulator

__all__ = ["ThreadedEmulator"]

_T = TypeVar("_T")


class ThreadedEmulator:
    """An :class:`Emulator` on its own event loop in a daemon thread, for sync code and tests.

    Takes the same arguments. ``with ThreadedEmulator() as emu:`` (or
    ``start()``/``stop()``); the test hooks may be called from any thread.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Configure (nothing starts until :meth:`start`)."""
        self._emulator = Emulator(*args, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Threaded{self._emulator!r}"

    def start(self, timeout: float = START_TIMEOUT) -> ThreadedEmulator:
        """Start the loop thread and the server; returns once it accepts connections."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the emulator is already running")
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=self._run_loop, args=(loop,), name="descope-keys-emulator", daemon=True
            )
            thread.start()
            future = asyncio.run_coroutine_threadsafe(self._emulator.start(), loop)
            try:
                future.result(timeout)
            except BaseException:
                future.cancel()
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
                raise
            self._loop, self._thread = loop, thread
        return self

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        """Stop the server and its thread. Idempotent."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            if loop is None or thread is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._emulator.stop(), loop).result(timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)

    def __enter__(self) -> ThreadedEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, fn: Callable[[], _T]) -> _T:
        # Run on the loop thread, where the store lives; directly when stopped.
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(START_TIMEOUT)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running emulator."""
        return self._emulator.base_url

    @property
    def port(self) -> int:
        """The TCP port."""
        return self._emulator.port

    @property
    def project_id(self) -> str:
        """The project id clients must use."""
        return self._emulator.project_id

    @property
    def management_key(self) -> str:
        """The management key clients must use (a secret: do not log it)."""
        return self._emulator.management_key

    @property
    def clock(self) -> Clock:
        """The emulator's controllable clock (thread-safe)."""
        return self._emulator.clock

    @property
    def created_by(self) -> str:
        """The ``createdBy`` recorded on keys created from now on."""
        return self._emulator.created_by

    @created_by.setter
    def created_by(self, value: str) -> None:
        def assign() -> None:
            self._emulator.created_by = value

        self._call(assign)

    @property
    def signing_kid(self) -> str:
        """The ``kid`` of the key that signs new tokens."""
        return self._call(lambda: self._emulator.signing_kid)

    def jwks(self) -> dict[str, Any]:
        """The published JWKS."""
        return self._call(self._emulator.jwks)

    def publish_next_signing_key(self, pem: str | bytes | None = None) -> str:
        """See :meth:`Emulator.publish_next_signing_key`."""
        return self._call(lambda: self._emulator.publish_next_signing_key(pem))

    def switch_signing_key(self) -> str:
        """See :meth:`Emulator.switch_signing_key`."""
        return self._call(self._emulator.switch_signing_key)

    def rotate_signing_key(self, pem: str | bytes | None = None) -> str:
        """See :meth:`Emulator.rotate_signing_key`."""
        return self._call(lambda: self._emulator.rotate_signing_key(pem))

    def drop_retired_signing_keys(self) -> list[str]:
        """See :meth:`Emulator.drop_retired_signing_keys`."""
        return self._call(self._emulator.drop_retired_signing_keys)

    def rate_limit(
        self, calls_per_second: int | None, retry_after: int = 1, *, path_prefix: str = "/"
    ) -> None:
        """See :meth:`Emulator.rate_limit`."""
        self._emulator.rate_limit(calls_per_second, retry_after, path_prefix=path_prefix)

    def inject_fault(
        self,
        path_prefix: str,
        *,
        status: int | None = 503,
        times: int | None = 1,
        retry_after: float | str | None = None,
        body: FaultBody = None,
        delay: float | None = None,
        drop_connection: bool = False,
        after_handler: bool = False,
    ) -> None:
        """See :meth:`Emulator.inject_fault`."""
        self._emulator.inject_fault(
            path_prefix,
            status=status,
            times=times,
            retry_after=retry_after,
            body=body,
            delay=delay,
            drop_connection=drop_connection,
            after_handler=after_handler,
        )

    def clear_faults(self) -> None:
        """See :meth:`Emulator.clear_faults`."""
        self._emulator.clear_faults()

    @property
    def request_counts(self) -> Counter[str]:
        """A snapshot of how many requests each path has received."""
        return self._call(lambda: Counter(self._emulator.request_counts))

    def stored_keys(self) -> list[dict[str, Any]]:
        """See :meth:`Emulator.stored_keys`."""
        return self._call(self._emulator.stored_keys)
