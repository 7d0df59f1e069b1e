"""Event-loop threads: the runner under the sync facade and ThreadedEmulator.

aiohttp has no synchronous transport, so :class:`~descope_keys.DescopeKeys`
delegates to an :class:`~descope_keys.AsyncDescopeKeys` living on one
background event loop per sync client, and
:class:`~descope_keys.emulator.ThreadedEmulator` serves an
:class:`~descope_keys.emulator.Emulator` the same way. Two layers:

* :class:`LoopThread`, the package's one runner: an asyncio loop on a daemon
  thread. ``run(coro)`` blocks until the coroutine is done there (its
  exception crosses unchanged, Ctrl-C in the caller cancels it), ``call(fn)``
  runs a plain function on that thread, ``stop()`` finishes every task and
  joins the thread.
* :class:`Portal` (a "portal", as in anyio), the sync client's lifecycle on a
  LoopThread, following synchronicity and anyio's blocking portal:

  - the thread starts lazily, behind a lock, on the first call that needs I/O;
  - ``close()`` closes the client *on its own loop*, then stops and joins the
    thread; an atexit hook closes whatever the program left open;
  - after ``os.fork()`` the child never touches the parent's loop or sockets:
    the fork hook gives it a fresh client (no I/O), the loop and session come
    on first use, and the descriptors it inherited from the parent's loop are
    made inert (:func:`make_inert`) so that not even a finalizer at
    interpreter exit can unregister them from the shared epoll instance or
    write a TLS close_notify into the parent's connections;
  - a call from the portal's own thread raises instead of deadlocking; a call
    from a thread that runs another event loop works and warns once.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import selectors
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar

from .errors import ClientClosedError

if TYPE_CHECKING:
    # Imported where used (see _retry): the sync facade's loop starts with
    # its first call, and most processes that import the SDK never make one.
    import asyncio

__all__ = ["LoopStoppedError", "LoopThread", "Portal", "make_inert", "rename_repr"]

_log = logging.getLogger("descope_keys")

# How long a cancelled call waits for its task to unwind, and how long stop()
# waits for the loop thread to finish by default.
_CANCEL_GRACE = 2.0
_JOIN_TIMEOUT = 10.0
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class _Closable(Protocol):
    async def aclose(self) -> None: ...


_T = TypeVar("_T", bound=_Closable)
_R = TypeVar("_R")
_P = ParamSpec("_P")

# Every portal that may own a thread, for the atexit and fork hooks; every
# runner, for the fork hook.
_live: weakref.WeakSet[Portal[Any]] = weakref.WeakSet()
_runners: weakref.WeakSet[LoopThread] = weakref.WeakSet()
# A fork child keeps the parent's loops and clients reachable forever, so
# that garbage collection never runs their finalizers while it lives.
_orphans: list[object] = []


class LoopStoppedError(RuntimeError):
    """The loop thread is not running (never started, or stopped)."""


if sys.version_info >= (3, 12):

    def _new_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        import asyncio

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
        import asyncio

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
            # Not started: start() was never queued (the caller was
            # interrupted first) or the loop is going away, since FIFO
            # callbacks would have run it first. Nothing will run the
            # coroutine: close it, and release the caller waiting in abort().
            self.coro.close()
            self.done.release()
        else:
            self.task.cancel()

    # -- in the caller ----------------------------------------------------

    def abort(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel the task and give it a moment to unwind."""
        try:
            loop.call_soon_threadsafe(self.cancel)
        except RuntimeError:  # pragma: no cover - the loop closed meanwhile
            return
        self.done.acquire(timeout=_CANCEL_GRACE)


class _TrackingSelector(selectors.DefaultSelector):
    """The loop's selector, remembering every descriptor the loop gave it to watch.

    Everything an asyncio selector loop watches passes through
    :meth:`register`: its self-pipe and the socket of every transport. Each
    is recorded with its identity (device and inode), so that a number
    closed since and reused for another file is never mistaken for it. This
    is what :func:`make_inert` silences in a fork child, with public API only.
    """

    def __init__(self) -> None:
        super().__init__()
        self.watched: dict[int, tuple[int, int]] = {}
        fileno = getattr(self, "fileno", None)  # epoll, kqueue, devpoll: a descriptor of their own
        if fileno is not None:
            self._remember(fileno())

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().register(fileobj, events, data)
        self._remember(key.fd)
        return key

    def _remember(self, fd: int) -> None:
        identity = _identity(fd)
        if identity is not None:
            self.watched[fd] = identity


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        stat = os.fstat(fd)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def make_inert(selector: _TrackingSelector) -> None:
    """In a fork child: point its copies of the parent loop's descriptors at /dev/null.

    The child shares the parent's epoll instance and sockets (same open file
    descriptions). Closing or unregistering them from the child, which any
    transport finalizer does at interpreter exit, would silently remove the
    parent's registrations or send bytes on its connections. dup2() swaps
    only the child's descriptor table entries: the numbers stay valid and
    owned (nothing else can reuse them), the parent is unaffected.

    The descriptors are the selector's own and the ones the loop registered
    with it that are still the same files. Not covered: the write end of the
    loop's self-pipe, which asyncio never registers; at worst a stray write
    there wakes the parent's loop once, and nothing in the child writes to it.
    """
    fds = [fd for fd, identity in selector.watched.items() if _identity(fd) == identity]
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            if fd != null:
                with contextlib.suppress(OSError):  # closed in the child meanwhile
                    os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def _new_loop() -> tuple[asyncio.AbstractEventLoop, _TrackingSelector | None]:
    """A new loop; asyncio's own selector loop with a tracking selector wherever fork exists."""
    import asyncio

    # An event-loop policy of the application's (uvloop, say) gets its own
    # loop, as asyncio.new_event_loop() gives it; after a fork that loop is
    # only kept alive, never used.
    if hasattr(os, "fork") and type(asyncio.get_event_loop_policy()) is (
        asyncio.DefaultEventLoopPolicy
    ):
        selector = _TrackingSelector()
        return asyncio.SelectorEventLoop(selector), selector
    return asyncio.new_event_loop(), None


class LoopThread:
    """An asyncio event loop on a daemon thread of its own; restartable after :meth:`stop`.

    Args:
        name: The thread's name, also used in messages.
        call_timeout: How long :meth:`call` waits for the loop (``None``: no bound).
    """

    def __init__(self, name: str, *, call_timeout: float | None = None) -> None:
        self.name = name
        self._call_timeout = call_timeout
        #: The running loop, or ``None``.
        self.loop: asyncio.AbstractEventLoop | None = None
        #: The loop's thread, while it runs.
        self.thread: threading.Thread | None = None
        self._selector: _TrackingSelector | None = None
        self._lock = threading.Lock()
        _runners.add(self)

    def __repr__(self) -> str:
        return f"<LoopThread {self.name}: {'running' if self.loop else 'stopped'}>"

    def start(
        self,
        setup: Callable[[], Coroutine[Any, Any, object]] | None = None,
        timeout: float | None = None,
    ) -> asyncio.AbstractEventLoop:
        """Start the thread, then run ``setup()`` there; if that fails, stop again and raise.

        Raises:
            RuntimeError: already running.
        """
        with self._lock:
            if self.loop is not None:
                raise RuntimeError(f"{self.name} is already running")
            loop, selector = _new_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=_serve, args=(loop, ready), name=self.name, daemon=True
            )
            thread.start()
            ready.wait()
            self.loop, self.thread, self._selector = loop, thread, selector
        if setup is not None:
            try:
                self.run(setup(), timeout)
            except BaseException:
                self.stop(timeout=timeout)
                raise
        return loop

    def stop(
        self,
        teardown: Callable[[], Coroutine[Any, Any, object]] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Run ``teardown()`` on the loop, then stop it, finish its tasks and join (idempotent).

        Calls submitted before this one run first; later ones raise
        :class:`LoopStoppedError`. ``timeout`` bounds the teardown (``None``: none)
        and the join (``None``: ten seconds).
        """
        with self._lock:
            loop, thread = self.loop, self.thread
            self.loop = self.thread = self._selector = None
        if loop is None or thread is None:
            return  # never started: a client that only validated needs no asyncio
        import asyncio

        try:
            if teardown is not None:
                asyncio.run_coroutine_threadsafe(teardown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_JOIN_TIMEOUT if timeout is None else timeout)
            if thread.is_alive():  # pragma: no cover - a task ignoring cancellation
                _log.warning("%s: the event-loop thread did not stop in time", self.name)

    def run(self, coro: Coroutine[Any, Any, _R], timeout: float | None = None) -> _R:
        """Run ``coro`` on the loop and return its result, or raise its exception unchanged.

        An exception in the caller while it waits (Ctrl-C) cancels the task.

        Raises:
            LoopStoppedError: not running (``coro`` is closed, never run).
            TimeoutError: not done within ``timeout`` seconds (the task is cancelled).
        """
        call = _Call(coro)
        loop: asyncio.AbstractEventLoop | None = None
        try:
            with self._lock:
                loop = self.loop
                if loop is None:
                    coro.close()
                    raise LoopStoppedError(f"{self.name} is not running")
                # Under the lock: stop() schedules its teardown after every call
                # submitted before it, so no call is left waiting on a dead loop.
                loop.call_soon_threadsafe(call.start)
            finished = call.done.acquire() if timeout is None else call.done.acquire(True, timeout)
        except BaseException:
            # Ctrl-C can land while call_soon_threadsafe wakes the loop, when
            # the loop thread may already be running the call: it is
            # cancelled like one interrupted while the caller waits.
            if loop is not None:
                call.abort(loop)
            raise
        if not finished:
            call.abort(loop)
            raise TimeoutError(f"{self.name}: no answer within {timeout} s")
        error = call.error
        if error is None:
            result: _R = call.result
            return result
        call.error = None  # break the frame <-> traceback cycle
        try:
            raise error
        finally:
            del error

    def call(self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run the plain ``fn`` on the loop thread (directly when stopped or already on it)."""
        thread = self.thread
        if thread is not None and thread.ident != threading.get_ident():

            async def on_loop() -> _R:
                return fn(*args, **kwargs)

            with contextlib.suppress(LoopStoppedError):  # stopped meanwhile: run here
                return self.run(on_loop(), self._call_timeout)
        return fn(*args, **kwargs)

    def forget_after_fork(self) -> bool:
        """In a fork child: drop the parent's loop, unused and inert; True if there was one."""
        # Only the forking thread survives a fork: the old lock may be held
        # by a thread that no longer exists.
        self._lock = threading.Lock()
        loop, selector = self.loop, self._selector
        self.loop = self.thread = self._selector = None
        if loop is None:
            return False
        _orphans.append(loop)
        if selector is not None:
            make_inert(selector)
        return True


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside this package (for warnings)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == _PACKAGE_DIR:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def rename_repr(name: str, target: Callable[[], object]) -> str:
    """The repr of what ``target()`` returns, with its class name replaced by ``name``.

    Total: a wrapper whose constructor raised has no target, and error
    reporters that capture locals format it all the same.
    """
    try:
        resolved = target()
    except AttributeError:
        return f"{name}(<not configured>)"
    text = repr(resolved)
    prefix = type(resolved).__name__
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
    """Runs coroutines of one async ``target`` on a private :class:`LoopThread`.

    Args:
        factory: Builds the async target. Called at once (so configuration
            errors surface in the caller) and again in a forked child.
        name: Used in the thread name and in messages.
    """

    def __init__(self, factory: Callable[[], _T], *, name: str) -> None:
        self._factory = _Factory(factory)
        del factory  # its repr shows the arguments: not a local when the build fails
        self._name = name
        #: The async client of this process. A plain attribute, so that
        #: validate_token's fast path pays nothing for the fork check: the
        #: fork hook replaces it in the child.
        self.target: _T = self._factory()
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._runner = LoopThread(f"{name}-loop")
        _runners.discard(self._runner)  # its fork is ours to handle: see _after_fork
        self._closed = False
        self._warned = False
        self._finalizer: weakref.finalize[Any, Any] | None = None
        _live.add(self)

    def __repr__(self) -> str:
        runner = getattr(self, "_runner", None)
        if runner is None:  # the factory raised: half built, yet formatted by error reporters
            return f"<Portal of {self._name}: not configured>"
        state = "closed" if self._closed else "running" if runner.loop else "idle"
        return f"<Portal of {self._name}: {state}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def open_target(self) -> _T:
        """The target, for a wrapper about to make an object from it.

        Raises:
            ClientClosedError: the client was closed: what it made could never run.
        """
        if self._closed:
            raise self._closed_error("is closed; create a new one")
        return self.target

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop, while its thread runs."""
        return self._runner.loop

    @property
    def thread(self) -> threading.Thread | None:
        """The loop thread, while one is running."""
        return self._runner.thread

    # -- calls --------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, _R]) -> _R:
        """Run ``coro`` on the loop thread and return its result (or raise its error).

        Raises:
            ClientClosedError: the client was closed (before or during the call).
            RuntimeError: called from the loop thread itself (it would deadlock).
        """
        import asyncio

        try:
            self._admit()
        except BaseException:
            coro.close()
            raise
        try:
            return self._runner.run(coro)
        except LoopStoppedError:  # close() won the race since _admit()
            raise self._closed_error("is closed; create a new one") from None
        except asyncio.CancelledError:
            if self._closed:
                raise self._closed_error("was closed during the call") from None
            raise

    def _admit(self) -> None:
        """Make sure a call may run now, starting the loop thread if need be."""
        import asyncio

        if self._pid != os.getpid():
            # A fork the hook did not see (only a C-level fork that skips
            # Python's at-fork handlers): the coroutine belongs to the
            # parent's client, so it must not run. Reset, and let the caller retry.
            self._after_fork()
            raise RuntimeError(
                f"{self._name} was used in a forked child before its fork hook ran; call again"
            )
        loop = self._runner.loop or self._start()
        running = asyncio._get_running_loop()
        if running is not None:
            self._check_calling_loop(running, loop)

    def _check_calling_loop(
        self, running: asyncio.AbstractEventLoop, loop: asyncio.AbstractEventLoop
    ) -> None:
        if running is loop:
            raise RuntimeError(
                f"{self._name} was called from its own event-loop thread, which "
                "would deadlock; await the AsyncDescopeKeys method there instead"
            )
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{self._name} was called from a thread that runs an asyncio event loop: "
                "the call blocks that loop until it completes. In async code use "
                "AsyncDescopeKeys and await its methods.",
                RuntimeWarning,
                stacklevel=_caller_stacklevel(),
            )

    def _closed_error(self, what: str) -> ClientClosedError:
        return ClientClosedError(f"this {self._name} client {what}")

    # -- lifecycle ------------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise self._closed_error("is closed; create a new one")
            loop = self._runner.loop
            if loop is None:
                loop = self._runner.start()
                # Dropped without close(): close the client on its loop, then
                # let the thread end, without blocking whoever collects us.
                finalizer = weakref.finalize(self, _abandon, loop, self.target, self._name)
                finalizer.atexit = False  # the atexit hook closes it properly instead
                self._finalizer = finalizer
            return loop

    def close(self) -> None:
        """Close the target on its loop, stop the loop and join the thread (idempotent).

        Raises:
            RuntimeError: called from the loop thread itself.
        """
        if self._pid != os.getpid():
            self._after_fork()
        thread = self._runner.thread
        if thread is not None and threading.get_ident() == thread.ident:
            raise RuntimeError(f"{self._name}.close() cannot run on its own event-loop thread")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._finalizer is not None:
                self._finalizer.detach()
        target = self.target
        self._runner.stop(lambda: _shutdown(target))

    def _after_fork(self) -> None:
        """In a fork child: a fresh client for this process; the parent's is never touched."""
        self._lock = threading.Lock()  # the old one may be held by a thread that is gone
        self._pid = os.getpid()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._runner.forget_after_fork():
            _orphans.append(self.target)
            # Same arguments, so it cannot fail where the first build did
            # not; no I/O: the loop and session come on first use.
            self.target = self._factory()


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    """The loop thread: run until stopped, then finish every task and close the loop."""
    import asyncio

    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            # aiohttp resolves host names in the default executor: no thread
            # may outlive stop().
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    import asyncio

    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


async def _shutdown(target: _Closable) -> None:
    """Close the target, then cancel whatever still runs (calls cut short by close)."""
    import asyncio

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


def _after_fork_in_child() -> None:
    # Portals first: each rebuilds its client if its runner had a loop.
    for portal in list(_live):
        portal._after_fork()
    # Then every other runner (ThreadedEmulator's): its thread is gone, so
    # call() runs functions directly in the child.
    for runner in list(_runners):
        runner.forget_after_fork()


def _close_all_at_exit() -> None:
    for portal in list(_live):
        try:
            portal.close()
        except Exception:  # pragma: no cover - best effort at exit
            _log.exception("closing a sync client at exit failed")


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
