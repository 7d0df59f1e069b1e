"""DescopeKeys, the generated sync facade, against the emulator: surface, threads, loops."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from descope_keys._client import AsyncDescopeKeys
from descope_keys._models import AccessKeyStatus
from descope_keys._retry import RetryPolicy
from descope_keys._sync import AccessKeys, DescopeKeys
from descope_keys.emulator import ThreadedEmulator
from descope_keys.emulator._signing import generate_rsa_key
from descope_keys.errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    InvalidArgumentError,
    NotFoundError,
    TokenValidationError,
)
from tests._sync_support import DEADLINE, loop_threads

ROLES = {"deployer": ["deploy"], "viewer": ["read"]}


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    pem = generate_rsa_key().as_pem(private=True).decode("ascii")
    with ThreadedEmulator(signing_key=pem, role_permissions=ROLES) as emulator:
        yield emulator


@pytest.fixture
def client(emu: ThreadedEmulator) -> Iterator[DescopeKeys]:
    with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as c:
        yield c


def test_the_whole_lifecycle_works_synchronously(client: DescopeKeys) -> None:
    keys = client.access_keys
    assert isinstance(keys, AccessKeys)
    created = keys.create("ci-bot", role_names=["deployer"], expire_time=timedelta(hours=1))
    key_id = created.key.id
    assert keys.load(key_id).name == "ci-bot"
    assert key_id in [k.id for k in keys.search()]
    updated = keys.update(key_id, name="ci-bot-2", description="renamed")
    assert updated is None or updated.name == "ci-bot-2"
    assert keys.load(key_id).name == "ci-bot-2"

    token = client.exchange_access_key(created.cleartext)
    assert token.key_id == key_id
    assert token.has_role("deployer")
    assert client.validate_token(token.jwt).key_id == key_id

    keys.deactivate(key_id)
    assert keys.load(key_id).status is AccessKeyStatus.INACTIVE
    with pytest.raises(AuthenticationError):
        client.exchange_access_key(created.cleartext)
    keys.activate(key_id)
    rotated = keys.rotate(key_id)
    assert rotated.cleartext != created.cleartext
    assert client.exchange_access_key(rotated.cleartext).key_id == key_id

    others = [keys.create(f"batch-{i}").key.id for i in range(3)]
    keys.deactivate_many(others)
    keys.activate_many(others)
    keys.delete_many(others)
    keys.delete(key_id)
    with pytest.raises(NotFoundError):
        keys.load(key_id)


def test_properties_and_repr_are_forwarded_without_secrets(
    client: DescopeKeys, emu: ThreadedEmulator
) -> None:
    assert client.project_id == emu.project_id
    assert client.base_url == emu.base_url
    text = repr(client)
    assert text.startswith("DescopeKeys(")
    assert emu.project_id in text
    assert emu.management_key not in text
    # Not even the state kept to rebuild the client after a fork shows it.
    assert emu.management_key not in repr(vars(client._portal))


def test_errors_are_the_same_classes_as_the_async_client(client: DescopeKeys) -> None:
    with pytest.raises(NotFoundError) as info:
        client.access_keys.load("K-missing")
    assert info.value.status == 404
    with pytest.raises(InvalidArgumentError):
        client.access_keys.create("")
    with pytest.raises(TokenValidationError):
        client.validate_token("not-a-jwt")


def test_configuration_errors_raise_at_construction_like_async() -> None:
    with pytest.raises(ConfigurationError):
        AsyncDescopeKeys()
    before = set(loop_threads())
    with pytest.raises(ConfigurationError):
        DescopeKeys()
    assert set(loop_threads()) == before


def test_bad_input_never_reaches_the_server(emu: ThreadedEmulator) -> None:
    with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as c:
        count = sum(emu.request_counts.values())
        with pytest.raises(InvalidArgumentError):
            c.access_keys.load("")
        assert sum(emu.request_counts.values()) == count


def test_missing_management_key_is_a_configuration_error(emu: ThreadedEmulator) -> None:
    with (
        DescopeKeys(emu.project_id, base_url=emu.base_url) as c,
        pytest.raises(ConfigurationError),
    ):
        c.access_keys.search()


def test_32_threads_share_one_client(client: DescopeKeys) -> None:
    threads_before = set(loop_threads())
    workers = 32
    rounds = 3
    barrier = threading.Barrier(workers, timeout=DEADLINE)
    failures: list[BaseException] = []
    done: list[int] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for r in range(rounds):
                created = client.access_keys.create(f"t{n}-{r}", role_names=["viewer"])
                token = client.exchange_access_key(created.cleartext)
                for _ in range(5):
                    assert client.validate_token(token.jwt).key_id == created.key.id
                assert client.access_keys.load(created.key.id).name == f"t{n}-{r}"
                client.access_keys.delete(created.key.id)
            done.append(n)
        except BaseException as exc:
            failures.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in pool:
        t.start()
    deadline = time.monotonic() + DEADLINE * 2
    for t in pool:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not [t for t in pool if t.is_alive()], "workers did not finish in time"
    assert failures == []
    assert sorted(done) == list(range(workers))
    # All of it went through one loop thread (this client's).
    assert len(set(loop_threads()) - threads_before) == 1


def test_warm_validation_runs_in_the_calling_thread(client: DescopeKeys) -> None:
    created = client.access_keys.create("warm")
    jwt = client.exchange_access_key(created.cleartext).jwt  # warms the JWKS cache
    portal = client._portal
    hops: list[object] = []
    original = portal.run

    def counting_run(coro: object) -> object:
        hops.append(coro)
        return original(coro)  # type: ignore[arg-type]

    portal.run = counting_run  # type: ignore[method-assign]
    try:
        for _ in range(10):
            assert client.validate_token(jwt).key_id == created.key.id
    finally:
        del portal.run
    assert hops == []


def test_cold_validation_fetches_the_keys_through_the_loop(
    client: DescopeKeys, emu: ThreadedEmulator
) -> None:
    created = client.access_keys.create("cold")
    jwt = client.exchange_access_key(created.cleartext).jwt
    with DescopeKeys(emu.project_id, base_url=emu.base_url) as fresh:
        assert fresh._portal.thread is None
        assert fresh.validate_token(jwt).key_id == created.key.id
        assert fresh._portal.thread is not None  # the JWKS fetch needed the loop


def test_pinned_keys_validate_without_ever_starting_a_thread(
    client: DescopeKeys, emu: ThreadedEmulator
) -> None:
    created = client.access_keys.create("pinned")
    jwt = client.exchange_access_key(created.cleartext).jwt
    with DescopeKeys(emu.project_id, base_url=emu.base_url, public_key=emu.jwks()) as pinned:
        assert pinned.validate_token(jwt).key_id == created.key.id
        assert pinned._portal.thread is None


async def test_use_from_a_running_event_loop_works_and_warns_once(
    emu: ThreadedEmulator,
) -> None:
    with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as c:
        with pytest.warns(RuntimeWarning, match="AsyncDescopeKeys") as record:
            created = c.access_keys.create("from-a-loop")
        assert len(record) == 1
        assert record[0].filename == __file__
        # Once per client: further calls are silent.
        assert c.access_keys.load(created.key.id).id == created.key.id
        c.access_keys.delete(created.key.id)


def test_close_twice_leaves_no_thread_behind(emu: ThreadedEmulator) -> None:
    before = set(loop_threads())
    c = DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url)
    c.access_keys.search()
    thread = c._portal.thread
    assert thread is not None
    assert thread in loop_threads()
    c.close()
    c.close()
    assert not thread.is_alive()
    assert set(loop_threads()) == before
    with pytest.raises(ClientClosedError):
        c.access_keys.search()


def test_with_block_closes_the_session_without_resource_warnings(emu: ThreadedEmulator) -> None:
    # Warnings are errors in this suite; collect explicitly so an unclosed
    # aiohttp session or socket would fail right here.
    with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as c:
        c.access_keys.search()
        session = c._portal.target._transport._session
        assert session is not None
    assert session.closed
    del c, session
    gc.collect()


def test_calls_after_close_raise_a_runtime_error(emu: ThreadedEmulator) -> None:
    c = DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url)
    c.close()
    with pytest.raises(RuntimeError, match="closed"):
        c.access_keys.search()


def test_retry_policy_and_timeouts_are_passed_through(emu: ThreadedEmulator) -> None:
    with DescopeKeys(
        emu.project_id,
        emu.management_key,
        base_url=emu.base_url,
        timeout=7.5,
        retry=RetryPolicy.disabled(),
    ) as c:
        target = c._portal.target
        assert target._api.policy == RetryPolicy.disabled()
        assert target._settings.timeout == 7.5
