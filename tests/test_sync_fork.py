"""DescopeKeys across os.fork(): a fresh loop in the child, the parent untouched."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import textwrap
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from descope_keys._portal import LoopThread, _TrackingSelector, make_inert
from descope_keys._retry import RetryPolicy
from descope_keys._sync import DescopeKeys
from descope_keys.emulator import ThreadedEmulator
from descope_keys.emulator._signing import generate_rsa_key
from tests._sync_support import DEADLINE, python

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns about fork() in a process with threads; forking a
    # threaded process is exactly what this file tests.
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning"),
]

_FORK_WARNING_FILTER = (
    "import warnings; warnings.filterwarnings("
    "'ignore', '.*multi-threaded.*fork', DeprecationWarning)\n"
)


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    pem = generate_rsa_key().as_pem(private=True).decode("ascii")
    with ThreadedEmulator(signing_key=pem) as emulator:
        yield emulator


@pytest.fixture
def client(emu: ThreadedEmulator) -> Iterator[DescopeKeys]:
    with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url, timeout=5) as c:
        yield c


def run_in_child(body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Fork, run ``body`` in the child, and return what it reported (bounded in time)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            os.write(write_fd, json.dumps(body()).encode())
            code = 0
        except BaseException as exc:
            os.write(write_fd, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + DEADLINE
    with os.fdopen(read_fd, "rb") as pipe:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child did not finish in time")
            time.sleep(0.01)
        report: dict[str, Any] = json.loads(pipe.read() or b"{}")
    assert os.waitstatus_to_exitcode(status) == 0, report
    return report


def test_the_child_gets_a_fresh_loop_and_the_parent_keeps_working(
    client: DescopeKeys,
) -> None:
    created = client.access_keys.create("fork-parent")
    portal = client._portal
    parent_loop, parent_target, parent_thread = portal.loop, portal.target, portal.thread
    parent_session = parent_target._transport._session
    assert parent_session is not None

    def child() -> dict[str, Any]:
        name = client.access_keys.load(created.key.id).name
        token = client.exchange_access_key(created.cleartext)
        valid = client.validate_token(token.jwt).key_id == created.key.id
        target = client._portal.target
        thread = client._portal.thread
        report = {
            "name": name,
            "valid": valid,
            "fresh_loop": client._portal.loop is not parent_loop,
            "fresh_client": target is not parent_target,
            "fresh_session": target._transport._session is not parent_session,
            "fresh_thread": thread is not None and thread is not parent_thread,
        }
        client.close()
        report["thread_stopped"] = thread is not None and not thread.is_alive()
        return report

    assert run_in_child(child) == {
        "name": "fork-parent",
        "valid": True,
        "fresh_loop": True,
        "fresh_client": True,
        "fresh_session": True,
        "fresh_thread": True,
        "thread_stopped": True,
    }
    # The parent's loop, client and session are the ones it had.
    assert client.access_keys.load(created.key.id).name == "fork-parent"
    assert portal.loop is parent_loop
    assert portal.target is parent_target
    assert parent_target._transport._session is parent_session
    assert not parent_session.closed


def test_a_client_first_used_after_fork_works_in_both_processes(emu: ThreadedEmulator) -> None:
    with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as c:

        def child() -> dict[str, Any]:
            return {"keys": isinstance(c.access_keys.search(), list)}

        assert run_in_child(child) == {"keys": True}
        assert c._portal.thread is None  # the child's use started nothing here
        assert isinstance(c.access_keys.search(), list)


def test_the_childs_finalizers_never_touch_the_parents_connections(
    emu: ThreadedEmulator,
) -> None:
    # The child drops every reference to the parent's loop and client and
    # collects them, as interpreter exit may. The parent's pooled connection
    # shares its socket and epoll registration with the child: if a child
    # finalizer unregistered it, the parent's next request would time out.
    code = _FORK_WARNING_FILTER + textwrap.dedent(
        """
        import gc, os, sys, time
        from descope_keys import _portal
        from descope_keys._retry import RetryPolicy
        from descope_keys._sync import DescopeKeys

        base_url, project_id, management_key = sys.argv[1:4]
        client = DescopeKeys(project_id, management_key, base_url=base_url,
                             timeout=3, retry=RetryPolicy.disabled())
        key = client.access_keys.create("pooled")  # leaves a keep-alive connection
        pid = os.fork()
        if pid == 0:
            client.access_keys.load(key.key.id)
            client.close()
            _portal._orphans.clear()
            gc.collect()
            os._exit(0)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        started = time.monotonic()
        client.access_keys.load(key.key.id)
        print("PARENT_OK %.3f" % (time.monotonic() - started))
        client.close()
        """
    )
    done = python(code, emu.base_url, emu.project_id, emu.management_key)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("PARENT_OK")
    assert float(done.stdout.split()[1]) < 1.0


def test_retry_policy_survives_the_rebuild_in_the_child(emu: ThreadedEmulator) -> None:
    with DescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=RetryPolicy.disabled()
    ) as c:
        c.access_keys.search()

        def child() -> dict[str, Any]:
            target = c._portal.target
            return {
                "retry": target._api.policy == RetryPolicy.disabled(),
                "base_url": target.base_url == emu.base_url,
            }

        assert run_in_child(child) == {"retry": True, "base_url": True}


def test_a_fork_the_hook_missed_is_caught_by_the_pid_check(
    client: DescopeKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from descope_keys import _portal

    created = client.access_keys.create("hookless")
    parent_target = client._portal.target
    # Hide the client from the at-fork hook: the child then looks like one
    # forked by C code that skips Python's at-fork handlers.
    monkeypatch.setattr(_portal, "_live", weakref.WeakSet())

    def child() -> dict[str, Any]:
        try:
            client.access_keys.load(created.key.id)
            first = "no error"
        except RuntimeError as exc:
            first = "forked" if "forked" in str(exc) else repr(exc)
        second = client.access_keys.load(created.key.id).name
        return {
            "first": first,
            "second": second,
            "fresh_client": client._portal.target is not parent_target,
        }

    assert run_in_child(child) == {"first": "forked", "second": "hookless", "fresh_client": True}
    assert client.access_keys.load(created.key.id).name == "hookless"
    assert client._portal.target is parent_target


def _watched_socket(runner: LoopThread) -> tuple[socket.socket, socket.socket, threading.Event]:
    """A socket pair whose first end the runner's loop watches; the event fires on data."""
    watched, peer = socket.socketpair()
    readable = threading.Event()

    def on_readable() -> None:
        watched.recv(1)
        readable.set()

    assert runner.loop is not None
    runner.call(runner.loop.add_reader, watched.fileno(), on_readable)
    return watched, peer, readable


def _unregister_in_child(runner: LoopThread, selector: selectors.BaseSelector) -> dict[str, Any]:
    # What a finalizer in the child may do to the parent's loop: unregister
    # everything and close it.
    for key in list(selector.get_map().values()):
        selector.unregister(key.fd)
    selector.close()
    return {"forgotten": runner.loop is None}


@pytest.mark.parametrize("inert", [True, False], ids=["inert", "negative-control"])
def test_a_fork_child_cannot_unregister_what_the_parents_loop_watches(inert: bool) -> None:
    from descope_keys import _portal

    runner = LoopThread("inert-test")
    runner.start()
    selector = runner._selector
    assert selector is not None
    if not inert:
        _portal._runners.discard(runner)  # the control: the fork hook leaves it as it is
    watched, peer = None, None
    try:
        watched, peer, readable = _watched_socket(runner)
        assert run_in_child(lambda: _unregister_in_child(runner, selector)) == {"forgotten": inert}
        peer.send(b"x")
        # The parent's registration is intact only if the child was silenced.
        assert readable.wait(DEADLINE if inert else 0.5) is inert
    finally:
        runner.stop()
        for sock in (watched, peer):
            if sock is not None:
                sock.close()


def test_make_inert_silences_what_the_selector_watches_and_nothing_else(tmp_path: Any) -> None:
    selector = _TrackingSelector()
    watched, peer = socket.socketpair()
    gone, gone_peer = socket.socketpair()
    unrelated = os.open(tmp_path / "unrelated", os.O_RDWR | os.O_CREAT)
    try:
        selector.register(watched, selectors.EVENT_READ)
        selector.register(gone, selectors.EVENT_READ)
        selector.unregister(gone)
        # The number of a socket the loop watched, closed and reused for
        # another file: that file must be left alone.
        reused = gone.detach()
        os.dup2(unrelated, reused)
        own = os.fstat(unrelated)
        make_inert(selector)
        devnull = os.stat(os.devnull)
        assert os.fstat(watched.fileno()).st_rdev == devnull.st_rdev  # now /dev/null
        assert os.path.samestat(os.fstat(reused), own)  # untouched
        with pytest.raises(OSError, match=r"not a socket|Socket operation"):
            watched.recv(1)  # no longer the socket (ENOTSOCK)
    finally:
        selector.close()
        for sock in (watched, peer, gone_peer):
            sock.close()
        os.close(reused)
        os.close(unrelated)
