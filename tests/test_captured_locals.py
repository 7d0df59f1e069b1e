"""No secret in captured locals: every failure path, formatted as an error reporter would.

Error reporters record the ``repr`` of every local of every frame of a
traceback, chained exceptions included (Sentry's ``include_local_variables``
is on by default). Each public operation is driven into its failure paths
(transport errors, HTTP errors, timeouts, validation failures, ambiguous
creates, bad input) against the emulator on 127.0.0.1, and the traceback,
formatted with ``capture_locals=True``, is searched for each secret and for
distinctive pieces of it.
"""

from __future__ import annotations

import functools
import json
import os
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from descope_keys import (
    AsyncDescopeKeys,
    DescopeError,
    DescopeKeys,
    RetryPolicy,
    Secret,
)
from descope_keys.emulator import Emulator
from descope_keys.emulator._signing import generate_rsa_key
from tests._servers import closed_port
from tests.emulator.conftest import MANAGEMENT_KEY, PROJECT_ID, emulator_kwargs

# A short deadline keeps the retried paths fast; two attempts still run.
FAST = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02, deadline=3.0)
CREATE = "/v1/mgmt/accesskey/create"
EXCHANGE = "/v1/auth/accesskey/exchange"
SEARCH = "/v1/mgmt/accesskey/search"


TESTS = os.path.dirname(os.path.abspath(__file__))


def pieces(secret: str) -> list[str]:
    """The secret and distinctive parts of it: a reporter may cut or split a value."""
    found = [secret]
    found += [part for part in secret.split(".") if len(part) >= 12]
    if len(secret) >= 24:
        middle = len(secret) // 2
        found += [secret[:12], secret[-12:], secret[middle - 6 : middle + 6]]
    return found


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # as reporters do: a broken repr must not stop the report
        return f"<repr failed: {type(exc).__name__}>"


def rendered(error: BaseException) -> str:
    """What a reporter records: the messages and every local of every frame, chains included.

    ``TracebackException(capture_locals=True)`` gives the text, and a walk of
    the same chain records each local with a repr that cannot fail (as
    Sentry's does), so that a half-built object does not end the report. The
    test's own frames are left out: they hold what the test passes, as any
    caller's frame does.
    """
    parts = ["".join(traceback.TracebackException.from_exception(error).format())]
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        parts += [repr(exc), str(exc)]
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            if frame.f_code.co_filename.startswith(TESTS):
                continue  # the test's own frames hold what it passes, as a caller's do
            where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}"
            parts += [f"{where} {k}={_safe_repr(v)}" for k, v in frame.f_locals.items()]
        pending += [e for e in (exc.__cause__, exc.__context__) if e is not None]
    return "\n".join(parts)


class Secrets:
    """The secrets one test created; ``leaks`` names those found in a text."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {"management key": MANAGEMENT_KEY}

    def add(self, name: str, value: str) -> None:
        self.values[name] = value

    def leaks(self, text: str) -> list[str]:
        """Where each secret shows: the frame and local of each line that holds a piece of it."""
        return sorted(
            {
                f"{name} in {line.split('=', 1)[0][:80]}"
                for line in text.splitlines()
                for name, value in self.values.items()
                if any(piece in line for piece in pieces(value))
            }
        )


@pytest.fixture(scope="module")
def signing_pem() -> str:
    return generate_rsa_key().as_pem(private=True).decode("ascii")


@pytest.fixture
async def emu(signing_pem: str) -> AsyncIterator[Emulator]:
    async with Emulator(**emulator_kwargs(signing_pem, test_hooks=True)) as emulator:
        yield emulator


@pytest.fixture
async def world(emu: Emulator) -> AsyncIterator[tuple[AsyncDescopeKeys, Secrets, str, str]]:
    """A client, the secrets, a live key's cleartext and a JWT it was exchanged for."""
    secrets = Secrets()
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=emu.base_url, retry=FAST, timeout=0.4
    ) as client:
        created = await client.access_keys.create("captured-locals")
        secrets.add("cleartext", created.cleartext)
        token = await client.exchange_access_key(created.cleartext)
        secrets.add("jwt", token.jwt)
        yield client, secrets, created.cleartext, token.jwt


async def failure(call: Callable[[], Awaitable[Any]]) -> DescopeError:
    with pytest.raises(DescopeError) as info:
        await call()
    return info.value


Case = Callable[[AsyncDescopeKeys, str, str], Awaitable[Any]]

# Each public operation, by what it needs: (name, call).
OPERATIONS: list[tuple[str, Case]] = [
    ("create", lambda c, key, jwt: c.access_keys.create("again")),
    ("load", lambda c, key, jwt: c.access_keys.load("K1")),
    ("search", lambda c, key, jwt: c.access_keys.search()),
    ("update", lambda c, key, jwt: c.access_keys.update("K1", name="n")),
    ("activate", lambda c, key, jwt: c.access_keys.activate("K1")),
    ("deactivate", lambda c, key, jwt: c.access_keys.deactivate("K1")),
    ("delete", lambda c, key, jwt: c.access_keys.delete("K1")),
    ("rotate", lambda c, key, jwt: c.access_keys.rotate("K1")),
    ("activate_many", lambda c, key, jwt: c.access_keys.activate_many(["K1"])),
    ("deactivate_many", lambda c, key, jwt: c.access_keys.deactivate_many(["K1"])),
    ("delete_many", lambda c, key, jwt: c.access_keys.delete_many(["K1"])),
    ("exchange", lambda c, key, jwt: c.exchange_access_key(key)),
    ("exchange_secret", lambda c, key, jwt: c.exchange_access_key(Secret(key))),
    ("credentials", lambda c, key, jwt: c.credentials(key).token()),
    ("authorization", lambda c, key, jwt: c.credentials(key).authorization()),
]

FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("http-401", {"status": 401, "times": None}),
    ("http-503", {"status": 503, "times": None}),
    ("dropped", {"drop_connection": True, "times": None}),
    ("dropped-after-handler", {"drop_connection": True, "after_handler": True, "times": None}),
    ("slow", {"status": None, "delay": 0.8, "times": None}),
    ("html", {"status": 502, "body": "<html>proxy</html>", "times": None}),
]


@pytest.mark.slow
async def test_every_operation_under_every_fault_keeps_its_secrets(
    emu: Emulator, world: tuple[AsyncDescopeKeys, Secrets, str, str]
) -> None:
    client, secrets, key, jwt = world
    leaks: dict[str, list[str]] = {}
    for fault, options in FAULTS:
        emu.clear_faults()
        emu.inject_fault("/v1/", **options)
        for name, call in OPERATIONS:
            if fault == "slow" and name not in ("load", "exchange", "create"):
                continue  # one timeout per kind of call keeps this test short
            error = await failure(functools.partial(call, client, key, jwt))
            if found := secrets.leaks(rendered(error)):
                leaks[f"{name} / {fault}: {type(error).__name__}"] = found
    emu.clear_faults()
    assert leaks == {}


async def test_connection_refused_keeps_its_secrets(
    world: tuple[AsyncDescopeKeys, Secrets, str, str],
) -> None:
    _, secrets, key, jwt = world
    async with AsyncDescopeKeys(
        PROJECT_ID, MANAGEMENT_KEY, base_url=f"http://127.0.0.1:{closed_port()}", retry=FAST
    ) as client:
        for name, call in OPERATIONS:
            error = await failure(functools.partial(call, client, key, jwt))
            assert secrets.leaks(rendered(error)) == [], name


async def test_ambiguous_create_keeps_its_secrets(
    emu: Emulator, world: tuple[AsyncDescopeKeys, Secrets, str, str]
) -> None:
    client, secrets, _, _ = world
    # The key is made, the answer lost, and the reconcile cannot search.
    emu.inject_fault(CREATE, drop_connection=True, after_handler=True, times=None)
    emu.inject_fault(SEARCH, status=503, times=None)
    error = await failure(lambda: client.access_keys.create("lost"))
    assert type(error).__name__ == "AmbiguousResultError"
    assert secrets.leaks(rendered(error)) == []


async def test_create_without_cleartext_keeps_its_secrets(
    emu: Emulator, world: tuple[AsyncDescopeKeys, Secrets, str, str]
) -> None:
    client, secrets, _, _ = world
    emu.inject_fault(CREATE, status=200, body={"key": {"id": "K9"}}, times=None)
    error = await failure(lambda: client.access_keys.create("broken"))
    assert secrets.leaks(rendered(error)) == []


async def test_validation_failures_keep_the_token(
    emu: Emulator, world: tuple[AsyncDescopeKeys, Secrets, str, str]
) -> None:
    client, secrets, key, jwt = world
    jwk = generate_rsa_key().as_dict(private=False)
    stranger = json.dumps({**jwk, "kid": "stranger", "alg": "RS256", "use": "sig"})
    async with AsyncDescopeKeys(PROJECT_ID, base_url=emu.base_url, public_key=stranger) as pinned:
        # The exchange succeeds; the JWT it returns fails local validation.
        for error in [
            await failure(lambda: pinned.exchange_access_key(key)),
            await failure(lambda: pinned.validate_token(jwt)),
            await failure(lambda: pinned.validate_token(jwt, audience="elsewhere")),
            await failure(lambda: client.validate_token(jwt, audience="elsewhere")),
            await failure(lambda: client.validate_token(jwt[:-3] + "AAA")),
            await failure(lambda: client.exchange_access_key(key, audience="elsewhere")),
        ]:
            assert type(error).__name__.endswith(("ValidationError", "KeyError")), error
            assert secrets.leaks(rendered(error)) == [], repr(error)


async def test_bad_input_keeps_its_secrets(
    emu: Emulator, world: tuple[AsyncDescopeKeys, Secrets, str, str]
) -> None:
    client, secrets, key, _ = world
    for error in [
        await failure(lambda: client.exchange_access_key(key + "\n")),
        await failure(lambda: client.exchange_access_key(key, custom_claims=[])),  # type: ignore[arg-type]
        await failure(lambda: client.exchange_access_key(key, selected_tenant="")),
        await failure(lambda: client.exchange_access_key(key, audience=3)),  # type: ignore[arg-type]
        await failure(lambda: _async(lambda: client.credentials(key, custom_claims=[]))),  # type: ignore[arg-type]
        await failure(lambda: _async(lambda: client.credentials(key + " "))),
    ]:
        assert secrets.leaks(rendered(error)) == [], repr(error)


async def test_constructor_failures_keep_the_management_key() -> None:
    secrets = Secrets()
    for build in [
        lambda: AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY, base_url="ftp://x"),
        lambda: AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY, timeout=-1),
        lambda: AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY + "\n"),
        lambda: AsyncDescopeKeys("bad id", MANAGEMENT_KEY),
        lambda: DescopeKeys(PROJECT_ID, MANAGEMENT_KEY, timeout=-1),
        lambda: DescopeKeys(PROJECT_ID, MANAGEMENT_KEY + "\n"),
    ]:
        with pytest.raises(DescopeError) as info:
            build()
        assert secrets.leaks(rendered(info.value)) == [], repr(info.value)


async def _async(build: Callable[[], Any]) -> Any:
    return build()


@pytest.fixture
def sync_world(signing_pem: str) -> Iterator[tuple[DescopeKeys, Secrets, Any, str, str]]:
    from descope_keys.emulator import ThreadedEmulator

    secrets = Secrets()
    with (
        ThreadedEmulator(**emulator_kwargs(signing_pem, test_hooks=True)) as emu,
        DescopeKeys(
            PROJECT_ID, MANAGEMENT_KEY, base_url=emu.base_url, retry=FAST, timeout=2.0
        ) as client,
    ):
        created = client.access_keys.create("captured-locals-sync")
        secrets.add("cleartext", created.cleartext)
        token = client.exchange_access_key(created.cleartext)
        secrets.add("jwt", token.jwt)
        yield client, secrets, emu, created.cleartext, token.jwt


def test_the_sync_facade_keeps_its_secrets(
    sync_world: tuple[DescopeKeys, Secrets, Any, str, str],
) -> None:
    client, secrets, emu, key, jwt = sync_world
    calls: list[Callable[[], Any]] = [
        lambda: client.access_keys.create("again"),
        lambda: client.access_keys.load("K1"),
        lambda: client.access_keys.rotate("K1"),
        lambda: client.exchange_access_key(key),
        lambda: client.credentials(key).authorization(),
    ]
    for options in ({"status": 503, "times": None}, {"drop_connection": True, "times": None}):
        emu.clear_faults()
        emu.inject_fault("/v1/", **options)
        for call in calls:
            with pytest.raises(DescopeError) as info:
                call()
            assert secrets.leaks(rendered(info.value)) == [], repr(info.value)
    emu.clear_faults()
    for call in [
        lambda: client.validate_token(jwt, audience="elsewhere"),
        lambda: client.validate_token(jwt[:-3] + "AAA"),
        lambda: client.exchange_access_key(key, audience="elsewhere"),
        lambda: client.exchange_access_key(key + "\n"),
    ]:
        with pytest.raises(DescopeError) as info:
            call()
        assert secrets.leaks(rendered(info.value)) == [], repr(info.value)
