"""AccessKeyCredentials (the sync twin): threads, warm calls without the loop, forks."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from descope_keys import AccessKeyCredentials, AuthenticationError, DescopeKeys
from descope_keys.emulator import ThreadedEmulator
from tests.credentials.conftest import TTL, exchanges
from tests.test_sync_fork import run_in_child

THREADS = 16


def test_sixteen_cold_threads_make_exactly_one_exchange(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    assert isinstance(creds, AccessKeyCredentials)
    barrier = threading.Barrier(THREADS)
    headers: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(5)
            headers.append(creds.authorization())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert len(headers) == THREADS
    assert len(set(headers)) == 1
    assert exchanges(threaded) == 1


def test_warm_calls_run_in_the_callers_thread_without_the_loop(
    threaded: ThreadedEmulator,
    sync_client: DescopeKeys,
    sync_secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    creds = sync_client.credentials(sync_secret)
    header = creds.authorization()
    token = creds.token()

    def no_hop(coro: Any) -> Any:
        coro.close()
        raise AssertionError("a warm call hopped to the loop thread")

    monkeypatch.setattr(sync_client._portal, "run", no_hop)
    for _ in range(1000):
        assert creds.authorization() == header
        assert creds.token() is token
    assert exchanges(threaded) == 1


def test_threads_across_refreshes_always_get_a_token_with_time_left(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    stop = time.monotonic() + TTL * 1.5
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while time.monotonic() < stop:
                token = creds.token()
                assert token.expires_at.timestamp() > time.time()
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors
    assert 2 <= exchanges(threaded) <= 4


def test_invalidate_from_a_thread_makes_the_next_call_exchange(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    header = creds.authorization()
    creds.invalidate(header)
    creds.authorization()
    assert exchanges(threaded) == 2


def test_a_deactivated_key_raises_authentication_error(
    threaded: ThreadedEmulator, sync_client: DescopeKeys
) -> None:
    created = sync_client.access_keys.create("doomed")
    sync_client.access_keys.deactivate(created.key.id)
    creds = sync_client.credentials(created.cleartext)
    with pytest.raises(AuthenticationError):
        creds.token()
    with pytest.raises(AuthenticationError):
        creds.authorization()
    assert exchanges(threaded) == 1


def test_closing_the_client_ends_the_credentials(
    threaded: ThreadedEmulator, sync_secret: str
) -> None:
    client = DescopeKeys(threaded.project_id, base_url=threaded.base_url, timeout=5)
    creds = client.credentials(sync_secret)
    creds.authorization()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        creds.authorization()


def test_the_repr_names_the_sync_class_and_hides_the_secret(
    sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    jwt = creds.token().jwt
    text = repr(creds)
    assert text.startswith("AccessKeyCredentials(")
    assert sync_secret not in text
    assert jwt not in text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_a_forked_child_exchanges_for_itself_and_the_parent_keeps_its_token(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    parent_header = creds.authorization()
    time.sleep(1.05)  # whole-second iat: the child's token differs from ours

    def child() -> dict[str, Any]:
        header = creds.authorization()
        return {"fresh": header != parent_header, "again": creds.authorization() == header}

    assert run_in_child(child) == {"fresh": True, "again": True}
    assert exchanges(threaded) == 2
    assert creds.authorization() == parent_header
    assert exchanges(threaded) == 2
