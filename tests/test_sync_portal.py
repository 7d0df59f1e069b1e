"""The portal: the event-loop thread under the sync facade, tested with a fake client."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from descope_keys._portal import LoopStoppedError, LoopThread, Portal
from descope_keys.errors import ClientClosedError
from tests._sync_support import DEADLINE, ROOT, child_env, loop_threads, python


class Boom(Exception):
    pass


class FakeClient:
    """Stands in for AsyncDescopeKeys: records which thread its coroutines ran on."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.closed_on: int | None = None
        self.raised: Boom | None = None
        self.started = threading.Event()

    async def echo(self, value: object) -> object:
        self.threads.append(threading.get_ident())
        await asyncio.sleep(0)
        return value

    async def fail(self) -> None:
        self.raised = Boom("inner failure")
        raise self.raised

    async def forever(self) -> None:
        self.started.set()
        await asyncio.sleep(3600)

    async def aclose(self) -> None:
        self.closed_on = threading.get_ident()


@pytest.fixture
def portal() -> Iterator[Portal[FakeClient]]:
    p: Portal[FakeClient] = Portal(FakeClient, name="Fake")
    yield p
    p.close()


def test_thread_starts_lazily_on_first_call(portal: Portal[FakeClient]) -> None:
    assert portal.thread is None
    assert portal.run(portal.target.echo(1)) == 1
    assert portal.thread is not None
    assert portal.thread.is_alive()
    assert portal.target.threads == [portal.thread.ident]


def test_one_thread_serves_every_call(portal: Portal[FakeClient]) -> None:
    for i in range(5):
        assert portal.run(portal.target.echo(i)) == i
    assert len(set(portal.target.threads)) == 1
    assert portal.target.threads[0] != threading.get_ident()


def test_exception_arrives_unchanged_with_inner_frames(portal: Portal[FakeClient]) -> None:
    with pytest.raises(Boom) as info:
        portal.run(portal.target.fail())
    assert info.value is portal.target.raised
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    # The caller's frames and the coroutine's frame on the loop thread.
    assert "test_exception_arrives_unchanged_with_inner_frames" in frames
    assert "fail" in frames


def test_call_from_the_loop_thread_raises_instead_of_deadlocking(
    portal: Portal[FakeClient],
) -> None:
    async def reenter() -> str:
        try:
            portal.run(portal.target.echo("nested"))
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    message = portal.run(reenter())
    assert "deadlock" in message


async def test_call_from_a_running_loop_works_and_warns_once(
    portal: Portal[FakeClient],
) -> None:
    with pytest.warns(RuntimeWarning, match="AsyncDescopeKeys") as record:
        assert portal.run(portal.target.echo("a")) == "a"
    assert len(record) == 1
    assert record[0].filename == __file__  # points at the caller, not the SDK
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert portal.run(portal.target.echo("b")) == "b"  # no second warning


def test_close_runs_aclose_on_the_loop_thread_and_joins_it(portal: Portal[FakeClient]) -> None:
    portal.run(portal.target.echo(None))
    thread = portal.thread
    assert thread is not None
    portal.close()
    assert portal.target.closed_on == thread.ident
    assert not thread.is_alive()
    assert portal.thread is None
    assert thread not in loop_threads()


def test_close_is_idempotent(portal: Portal[FakeClient]) -> None:
    portal.run(portal.target.echo(None))
    portal.close()
    portal.close()
    assert portal.closed


def test_close_before_first_use_starts_no_thread() -> None:
    before = set(loop_threads())
    portal: Portal[FakeClient] = Portal(FakeClient, name="Fake")
    portal.close()
    assert set(loop_threads()) == before
    assert portal.target.closed_on is None  # nothing was opened, nothing to close


def test_call_after_close_raises_and_leaves_no_unawaited_coroutine(
    portal: Portal[FakeClient],
) -> None:
    portal.run(portal.target.echo(None))
    portal.close()
    # Warnings are errors here: an unawaited coroutine would fail the test.
    with pytest.raises(ClientClosedError):
        portal.run(portal.target.echo(None))
    gc.collect()


def test_close_ends_calls_in_flight_with_a_clear_error(portal: Portal[FakeClient]) -> None:
    errors: list[BaseException] = []

    def call() -> None:
        try:
            portal.run(portal.target.forever())
        except BaseException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert portal.target.started.wait(DEADLINE)
    portal.close()
    caller.join(DEADLINE)
    assert not caller.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ClientClosedError)


def test_configuration_errors_surface_at_construction() -> None:
    def broken() -> FakeClient:
        raise ValueError("bad setting")

    with pytest.raises(ValueError, match="bad setting"):
        Portal(broken, name="Fake")


def test_an_unclosed_portal_warns_when_collected_and_stops_its_thread() -> None:
    portal: Portal[FakeClient] = Portal(FakeClient, name="Fake")
    portal.run(portal.target.echo(None))
    thread = portal.thread
    assert thread is not None
    with pytest.warns(ResourceWarning, match="unclosed Fake"):
        del portal  # the last reference: the finalizer runs here
    thread.join(DEADLINE)
    assert not thread.is_alive()


def test_the_atexit_hook_closes_what_is_still_open() -> None:
    code = textwrap.dedent(
        """
        import threading
        from descope_keys._portal import Portal

        class Client:
            async def ping(self):
                return threading.get_ident()
            async def aclose(self):
                print("closed on loop thread:", threading.get_ident() == LOOP, flush=True)

        portal = Portal(Client, name="Fake")
        LOOP = portal.run(portal.target.ping())
        print("exiting without close", flush=True)
        """
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["exiting without close", "closed on loop thread: True"]
    assert done.stderr == ""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_cancels_the_inner_task_and_raises_keyboard_interrupt() -> None:
    # A real DescopeKeys call against a server that accepts and never
    # answers; the test interrupts it once the request has arrived.
    code = textwrap.dedent(
        """
        import asyncio, socket, sys, threading
        from descope_keys._sync import DescopeKeys
        from descope_keys._retry import RetryPolicy

        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(30)

        def serve():
            conn, _ = server.accept()
            with conn:
                conn.settimeout(30)
                conn.recv(65536)
                print("IN_FLIGHT", flush=True)
                # recv() returns b"" once the client closes the connection:
                # that happens only if the request task was cancelled.
                while conn.recv(65536):
                    pass
                client_closed.set()

        client_closed = threading.Event()
        threading.Thread(target=serve, daemon=True).start()
        url = "http://127.0.0.1:%d" % server.getsockname()[1]
        client = DescopeKeys("P2ctrlc", "K", base_url=url, timeout=60, retry=RetryPolicy.disabled())
        try:
            client.access_keys.load("K1")
        except KeyboardInterrupt:
            loop = client._portal.loop

            async def pending():
                # The caller waits a grace period for the cancelled task to
                # unwind; on a loaded machine that may not be enough, so this
                # gives it a bounded while longer, and names what is left.
                me = asyncio.current_task()
                for _ in range(100):
                    left = [t for t in asyncio.all_tasks() if t is not me]
                    if not left:
                        break
                    await asyncio.sleep(0.05)
                # What a task still waits on says why it did not unwind.
                stacks = []
                for task in left:
                    step = task.get_coro()
                    while step is not None:
                        frame = getattr(step, "cr_frame", None) or getattr(step, "gi_frame", None)
                        if frame is None:
                            stacks.append(repr(step))
                        else:
                            stacks.append("%s:%d" % (frame.f_code.co_filename, frame.f_lineno))
                        step = getattr(step, "cr_await", None) or getattr(
                            step, "gi_yieldfrom", None
                        )
                return " ".join([str(len(left))] + stacks)

            print("PENDING_TASKS", asyncio.run_coroutine_threadsafe(pending(), loop).result(10))
            if client_closed.wait(10):
                print("CLIENT_CLOSED_CONNECTION", flush=True)
            client.close()
            server.close()
            raise
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the request arrived (server timeout 30 s)
        assert line.strip() == "IN_FLIGHT"
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE)
        elapsed = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGINT
    assert "KeyboardInterrupt" in err
    assert "PENDING_TASKS 0\n" in out, out
    assert "CLIENT_CLOSED_CONNECTION" in out
    assert elapsed < 5.0
    assert "Unclosed" not in err
    assert "Warning" not in err


def test_closing_during_an_ambiguous_create_reports_it_as_ambiguous() -> None:
    # The server swallows the request and never answers: the create's outcome
    # is unknown when close() cuts it short, and the caller must hear exactly
    # that (AmbiguousResultError), not a bare RuntimeError from the reconcile.
    from descope_keys import AmbiguousResultError, DescopeKeys, RetryPolicy

    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(8)
    sink.settimeout(0.05)  # close() does not wake a blocked accept(): poll instead
    held: list[socket.socket] = []
    stop = threading.Event()

    def swallow() -> None:
        while not stop.is_set():
            try:
                held.append(sink.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    acceptor = threading.Thread(target=swallow, daemon=True)
    acceptor.start()
    client = DescopeKeys(
        "P2portaltest000000000000000",
        "mgmt-key-portal-test",
        base_url=f"http://127.0.0.1:{sink.getsockname()[1]}",
        timeout=5,
        retry=RetryPolicy.disabled(),
    )
    outcome: list[BaseException] = []

    def create() -> None:
        try:
            client.access_keys.create("ci-bot")
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=create)
    caller.start()
    deadline = time.monotonic() + DEADLINE
    while not held and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        client.close()
        caller.join(DEADLINE)
    finally:
        stop.set()
        acceptor.join(DEADLINE)
        sink.close()
        for conn in held:
            conn.close()
    assert not caller.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], (AmbiguousResultError, ClientClosedError)), repr(outcome[0])


def test_a_loop_thread_runs_calls_there_and_is_restartable() -> None:
    runner = LoopThread("runner-test")
    assert runner.call(threading.get_ident) == threading.get_ident()  # stopped: here
    with pytest.raises(LoopStoppedError):
        runner.run(asyncio.sleep(0))
    for _ in range(2):  # started, stopped, started again
        runner.start()
        try:
            thread = runner.thread
            assert thread is not None
            assert runner.call(threading.get_ident) == thread.ident
            assert runner.run(asyncio.sleep(0, "done")) == "done"
            with pytest.raises(RuntimeError, match="already running"):
                runner.start()
        finally:
            runner.stop()
        assert not thread.is_alive()


def test_a_loop_thread_call_past_its_timeout_is_cancelled() -> None:
    runner = LoopThread("runner-test")
    runner.start()
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(DEADLINE)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    try:
        with pytest.raises(TimeoutError):
            runner.run(slow(), timeout=0.05)
        assert cancelled.wait(DEADLINE)
    finally:
        runner.stop()


@pytest.mark.parametrize("queued", [True, False], ids=["after-queueing", "before-queueing"])
def test_ctrl_c_while_submitting_cancels_the_call(
    monkeypatch: pytest.MonkeyPatch, queued: bool
) -> None:
    # Seen on a loaded machine: SIGINT lands inside call_soon_threadsafe,
    # after the loop thread already started the call. It must be cancelled,
    # not left running with nobody waiting for it.
    runner = LoopThread("runner-test")
    loop = runner.start()
    started, cancelled = threading.Event(), threading.Event()

    async def request() -> None:
        started.set()
        try:
            await asyncio.sleep(DEADLINE)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    submit = loop.call_soon_threadsafe
    interrupts = [KeyboardInterrupt()]  # once: the cancel that follows goes through

    def interrupted(callback: Any, *args: Any) -> Any:
        if not interrupts:
            return submit(callback, *args)
        if queued:
            submit(callback, *args)
            assert started.wait(DEADLINE)
        raise interrupts.pop()

    monkeypatch.setattr(loop, "call_soon_threadsafe", interrupted)
    coro = request()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(coro)
        if queued:
            assert cancelled.wait(DEADLINE)
        else:
            assert not started.is_set()
            assert coro.cr_frame is None  # closed, never to be awaited
    finally:
        monkeypatch.undo()
        runner.stop()


def test_a_failed_setup_stops_the_loop_thread_again() -> None:
    runner = LoopThread("runner-test")

    async def broken() -> None:
        raise Boom("setup failed")

    with pytest.raises(Boom):
        runner.start(broken)
    assert runner.loop is None
    assert not any(t.name == "runner-test" for t in threading.enumerate())
