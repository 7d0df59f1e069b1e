"""The event-loop thread the sync facade runs on (a "portal", as in anyio).

aiohttp has no synchronous transport, so :class:`~descope_keys.DescopeKeys`
delegates to an :class:`~descope_keys.AsyncDescopeKeys` living on one
background event loop per sync client. The async client and its aiohttp
session are only ever used on that loop; callers in any thread hop onto it
and block until their coroutine is done.

Lifecycle rules, learned from synchronicity and anyio's blocking portal:

* the thread starts lazily, behind a lock, on the first call that needs I/O;
* ``close()`` closes the session *on its own loop*, then stops and joins the
  thread; an atexit hook closes whatever the program left open;
* after ``os.fork()`` the child never touches the parent's loop or sockets:
  the fork hook gives it a fresh client (no I/O), the loop and session come
  on first use, and the descriptors it inherited from the parent's loop are
  made inert so that not even a finalizer at interpreter exit can unregister
  them from the shared epoll instance or write a TLS close_notify into the
  parent's connections;
* a call from the portal's own thread raises instead of deadlocking; a call
  from a thread that runs another event loop works and warns once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Portal", "rename_repr"]

_log = logging.getLogger("descope_keys")

# How long a Ctrl-C'd call waits for its task to unwind, and how long close()
# waits for the loop thread to finish once the session is closed.
_CANCEL_GRACE = 2.0
_JOIN_TIMEOUT = 10.0
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class _Closable(Protocol):
    async def aclose(self) -> None: ...


_T = TypeVar("_T", bound=_Closable)
_R = TypeVar("_R")

# Every portal that may own a thread, for the atexit and fork hooks.
_live: weakref.WeakSet[Portal[Any]] = weakref.WeakSet()
# A fork child keeps the parent's loops and clients reachable forever, so
# that garbage collection never runs their finalizers while it lives.
_orphans: list[object] = []


class ClosedError(RuntimeError):
    """The sync client was closed; create a new one."""


if sys.version_info >= (3, 12):

    def _new_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        # Run the first step now rather than on the next loop iteration:
        # about 10 µs less per call.
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:

    def _new_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        return loop.create_task(coro)


class _Call:
    """One coroutine hopping onto the loop; ``done`` is released when it finishes.

    A bare lock is a cheaper completion signal than concurrent.futures.Future
    (no condition variable, no waiter list), and acquiring it is
    interruptible by Ctrl-C.
    """

    __slots__ = ("coro", "done", "error", "result", "task")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.done = threading.Lock()
        self.done.acquire()
        self.task: asyncio.Task[Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None

    # -- on the loop ------------------------------------------------------

    def start(self) -> None:
        self.task = _new_task(asyncio.get_running_loop(), self._run())

    async def _run(self) -> None:
        # Releasing the caller from inside the task, not from a done
        # callback, saves a loop iteration per call.
        try:
            self.result = await self.coro
        except BaseException as exc:  # CancelledError included: the caller re-raises it
            self.error = exc
        finally:
            self.done.release()

    def cancel(self) -> None:
        if self.task is None:
            # Not started yet: start() runs first (FIFO callbacks), so this
            # only happens if the loop is going away; close the coroutine.
            self.coro.close()
        else:
            self.task.cancel()


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside this package (for warnings)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == _PACKAGE_DIR:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def rename_repr(name: str, target: object) -> str:
    """``target``'s repr with its class name replaced by ``name``."""
    text = repr(target)
    prefix = type(target).__name__
    return name + text[len(prefix) :] if text.startswith(prefix) else text


class _Factory(Generic[_T]):
    """Builds the async client; its arguments (the management key among them) stay out of repr."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[], _T]) -> None:
        self._build = build

    def __call__(self) -> _T:
        return self._build()

    def __repr__(self) -> str:
        return "<client factory (arguments hidden)>"


class Portal(Generic[_T]):
    """Runs coroutines of one async ``target`` on a private event-loop thread.

    Args:
        factory: Builds the async target. Called at once (so configuration
            errors surface in the caller) and again in a forked child.
        name: Used in the thread name and in messages.
    """

    def __init__(self, factory: Callable[[], _T], *, name: str) -> None:
        self._factory = _Factory(factory)
        self._name = name
        #: The async client of this process. A plain attribute, so that
        #: validate_token's fast path pays nothing for the fork check: the
        #: fork hook replaces it in the child.
        self.target: _T = factory()
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._closed = False
        self._warned = False
        self._finalizer: weakref.finalize[Any, Any] | None = None
        _live.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._loop else "idle"
        return f"<Portal of {self._name}: {state}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def thread(self) -> threading.Thread | None:
        """The loop thread, while one is running."""
        return self._thread

    # -- calls --------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, _R]) -> _R:
        """Run ``coro`` on the loop thread and return its result (or raise its error).

        Raises:
            ClosedError: the client was closed.
            RuntimeError: called from the loop thread itself (it would deadlock).
        """
        if self._pid != os.getpid():
            # A fork the hook did not see (only a C-level fork that skips
            # Python's at-fork handlers): ``coro`` belongs to the parent's
            # client, so it must not run. Reset, and let the caller retry.
            coro.close()
            self._after_fork()
            raise RuntimeError(
                f"{self._name} was used in a forked child before its fork hook ran; call again"
            )
        loop = self._loop
        if loop is None:
            try:
                loop = self._start()
            except BaseException:
                coro.close()
                raise
        running = asyncio._get_running_loop()
        if running is not None:
            if running is loop:
                coro.close()
                raise RuntimeError(
                    f"{self._name} was called from its own event-loop thread, which "
                    "would deadlock; await the AsyncDescopeKeys method there instead"
                )
            if not self._warned:
                self._warn_blocking()
        call = _Call(coro)
        with self._lock:
            if self._closed:
                coro.close()
                raise ClosedError(f"this {self._name} client is closed; create a new one")
            # Under the lock: close() schedules its shutdown after every call
            # submitted before it, so no call is left waiting on a dead loop.
            loop.call_soon_threadsafe(call.start)
        try:
            call.done.acquire()
        except BaseException:
            # Ctrl-C (or another async exception) in the caller: cancel the
            # inner task and give it a moment to unwind, then re-raise.
            try:
                loop.call_soon_threadsafe(call.cancel)
            except RuntimeError:  # pragma: no cover - the loop closed meanwhile
                pass
            else:
                call.done.acquire(timeout=_CANCEL_GRACE)
            raise
        error = call.error
        if error is None:
            result: _R = call.result
            return result
        call.error = None  # break the frame <-> traceback cycle
        if isinstance(error, asyncio.CancelledError) and self._closed:
            raise ClosedError(f"this {self._name} client was closed during the call") from None
        try:
            raise error
        finally:
            del error

    def _warn_blocking(self) -> None:
        self._warned = True
        warnings.warn(
            f"{self._name} was called from a thread that runs an asyncio event loop: "
            "the call blocks that loop until it completes. In async code use "
            "AsyncDescopeKeys and await its methods.",
            RuntimeWarning,
            stacklevel=_caller_stacklevel(),
        )

    # -- lifecycle ------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise ClosedError(f"this {self._name} client is closed; create a new one")
            loop = self._loop
            if loop is not None:
                return loop
            target = self.target
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=_serve, args=(loop, ready), name=f"{self._name}-loop", daemon=True
            )
            thread.start()
            ready.wait()
            self._thread, self._thread_id = thread, thread.ident
            # Dropped without close(): close the session on its loop, then
            # let the thread end, without blocking whoever collects us.
            finalizer = weakref.finalize(self, _abandon, loop, target, self._name)
            finalizer.atexit = False  # the atexit hook closes it properly instead
            self._finalizer = finalizer
            self._loop = loop
            return loop

    def close(self) -> None:
        """Close the target on its loop, stop the loop and join the thread (idempotent).

        Raises:
            RuntimeError: called from the loop thread itself.
        """
        if self._pid != os.getpid():
            self._after_fork()
        if self._thread_id is not None and threading.get_ident() == self._thread_id:
            raise RuntimeError(f"{self._name}.close() cannot run on its own event-loop thread")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread, target = self._loop, self._thread, self.target
            if self._finalizer is not None:
                self._finalizer.detach()
        if loop is None or thread is None:
            return  # never started: no session, no thread
        try:
            future = asyncio.run_coroutine_threadsafe(_shutdown(target), loop)
            future.result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():  # pragma: no cover - a task ignoring cancellation
                _log.warning("%s: the event-loop thread did not stop in time", self._name)
            self._loop = self._thread = self._thread_id = None

    def _after_fork(self) -> None:
        """In a fork child: a fresh client for this process; the parent's is never touched."""
        # Only the forking thread survives a fork: the old lock may be held
        # by a thread that no longer exists.
        self._lock = threading.Lock()
        self._pid = os.getpid()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        loop = self._loop
        self._loop = self._thread = self._thread_id = None
        if loop is not None:
            _orphans.append((loop, self.target))
            _make_inert(loop)
            # Same arguments, so it cannot fail where the first build did
            # not; no I/O: the loop and session come on first use.
            self.target = self._factory()


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    """The loop thread: run until stopped, then finish every task and close the loop."""
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            # aiohttp resolves host names in the default executor: no thread
            # may outlive close().
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


async def _shutdown(target: _Closable) -> None:
    """Close the target, then cancel whatever still runs (calls cut short by close)."""
    try:
        await target.aclose()
    finally:
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not current]
        for task in others:
            task.cancel()
        if others:
            await asyncio.gather(*others, return_exceptions=True)


def _abandon(loop: asyncio.AbstractEventLoop, target: _Closable, name: str) -> None:
    """Finalizer of a portal garbage-collected while open: shut down without blocking."""

    def begin() -> None:
        task = loop.create_task(_shutdown(target))
        task.add_done_callback(lambda _: loop.stop())

    try:
        loop.call_soon_threadsafe(begin)
    except RuntimeError:  # pragma: no cover - the loop is already closed
        return
    # Last: under "warnings as errors" this raises, and the shutdown must
    # be on its way by then.
    warnings.warn(
        f"unclosed {name} client: use `with` or call close()", ResourceWarning, stacklevel=1
    )


def _make_inert(loop: asyncio.AbstractEventLoop) -> None:
    """Point a fork child's copies of the parent loop's descriptors at /dev/null.

    The child shares the parent's epoll instance and sockets (same open file
    descriptions). Closing or unregistering them from the child, which any
    transport finalizer does at interpreter exit, would silently remove the
    parent's registrations or send bytes on its connections. dup2() swaps
    only the child's descriptor table entries: the numbers stay valid and
    owned (nothing else can reuse them), the parent is unaffected. These are
    private attributes of asyncio's selector loops; other loops are left as
    they are (still kept alive, never used).
    """
    fds: set[int] = set()
    selector = getattr(loop, "_selector", None)
    if selector is not None:
        try:
            fds.add(selector.fileno())
            fds.update(key.fd for key in selector.get_map().values())
        except (AttributeError, OSError, RuntimeError):  # pragma: no cover - defensive
            pass
    transports = getattr(loop, "_transports", None)
    if transports is not None:
        fds.update(fd for fd in list(transports.keys()) if isinstance(fd, int))
    for name in ("_ssock", "_csock"):
        sock = getattr(loop, name, None)
        if sock is not None:
            fds.add(sock.fileno())
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in sorted(fd for fd in fds if fd >= 0 and fd != null):
            with contextlib.suppress(OSError):  # already closed in the child
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def _after_fork_in_child() -> None:
    for portal in list(_live):
        portal._after_fork()


def _close_all_at_exit() -> None:
    for portal in list(_live):
        try:
            portal.close()
        except Exception:  # pragma: no cover - best effort at exit
            _log.exception("closing a sync client at exit failed")


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
