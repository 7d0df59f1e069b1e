"""Starting and stopping: free ports, the thread-backed variant, arguments, concurrency."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from descope_keys.emulator import Clock, Emulator, ThreadedEmulator
from tests.emulator.conftest import Api, emulator_kwargs


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _refuses_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def test_defaults_give_random_ids_and_a_free_local_port() -> None:
    async with Emulator() as first, Emulator() as second:
        assert first.base_url.startswith("http://127.0.0.1:")
        assert first.port != second.port
        assert first.project_id != second.project_id
        assert first.management_key != second.management_key
        assert first.project_id.startswith("P")
        assert len(first.project_id) == 28  # < 32: clients keep the base URL they are given
        assert first.management_key not in repr(first)
    assert _refuses_connections(first.port)


async def test_start_stop_and_restart_by_hand(signing_pem: str) -> None:
    emu = Emulator(signing_key=signing_pem)
    assert not emu.running
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    await emu.start()
    with pytest.raises(RuntimeError):
        await emu.start()
    port = emu.port
    await emu.stop()
    await emu.stop()  # idempotent
    assert _refuses_connections(port)
    await emu.start()  # the same object can serve again
    assert emu.running
    await emu.stop()


async def test_a_busy_port_fails_to_start_cleanly(signing_pem: str) -> None:
    async with Emulator(signing_key=signing_pem) as emu:
        clash = Emulator(signing_key=signing_pem, port=emu.port)
        with pytest.raises(OSError, match="address already in use"):
            await clash.start()
        assert not clash.running


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project_id": "bad:id"},
        {"project_id": "bad/id"},
        {"project_id": ""},
        {"management_key": " padded "},
        {"session_ttl": 0},
        {"port": 70000},
        {"role_permissions": {"admin": [1]}},
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by argument
        Emulator(**kwargs)


def test_threaded_emulator_serves_blocking_clients(threaded: ThreadedEmulator) -> None:
    auth = {"Authorization": f"Bearer {threaded.project_id}:{threaded.management_key}"}
    status, body = _get(threaded.base_url + "/v1/mgmt/license", auth)
    assert (status, body) == (200, {"rateLimitTier": "emulator"})
    status, body = _get(threaded.base_url + "/v1/mgmt/accesskey?id=Knope", auth)
    assert status == 404
    assert threaded.request_counts["/v1/mgmt/accesskey"] == 1


def test_threaded_emulator_stops_its_thread(signing_pem: str) -> None:
    emu = ThreadedEmulator(signing_key=signing_pem).start()
    port = emu.port
    assert any(t.name == "descope-keys-emulator" for t in threading.enumerate())
    emu.stop()
    emu.stop()
    assert _refuses_connections(port)
    assert not any(t.name == "descope-keys-emulator" for t in threading.enumerate())


def test_threaded_start_failure_is_raised_and_cleaned_up(signing_pem: str) -> None:
    emu = ThreadedEmulator(signing_key=b"not a key")
    with pytest.raises(ValueError, match="signing key"):
        emu.start()
    assert not emu.running
    assert not any(t.name == "descope-keys-emulator" for t in threading.enumerate())


def test_threaded_hooks_work_from_many_threads(threaded: ThreadedEmulator) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(3):
                threaded.rotate_signing_key()
                threaded.inject_fault("/nowhere", status=503)
                threaded.clock.advance(1)
                threaded.stored_keys()
                threaded.request_counts  # noqa: B018 - a snapshot read
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert errors == []
    assert len(threaded.jwks()["keys"]) == 3
    threaded.clear_faults()


def test_threaded_created_by_hook(threaded: ThreadedEmulator) -> None:
    threaded.created_by = "ops@example.com"
    assert threaded.created_by == "ops@example.com"


async def test_a_shared_clock_drives_several_emulators(signing_pem: str) -> None:
    clock = Clock(start=1_900_000_000)
    async with Emulator(signing_key=signing_pem, clock=clock) as emu:
        assert emu.clock is clock
        assert abs(emu.clock.now() - 1_900_000_000) < 5
        clock.advance(100)
        assert abs(emu.clock.now() - 1_900_000_100) < 5


async def test_concurrent_requests_never_corrupt_state(
    http: aiohttp.ClientSession, signing_pem: str, tmp_path: Any
) -> None:
    db = tmp_path / "emulator.db"
    async with Emulator(**emulator_kwargs(signing_pem, db=db)) as emu:
        api = Api(http, emu)
        created = await asyncio.gather(*(api.create(f"k{i}") for i in range(40)))
        ids = [c["key"]["id"] for c in created]

        async def churn(key_id: str, n: int) -> str:
            # Interleave updates, status flips and rotations on every key.
            await api.ok("POST", "/v1/mgmt/accesskey/update", {"id": key_id, "name": f"n{n}"})
            await api.ok("POST", "/v1/mgmt/accesskey/deactivate", {"id": key_id})
            await api.ok("POST", "/v1/mgmt/accesskey/activate", {"id": key_id})
            rotated = await api.ok("POST", "/v1/mgmt/accesskey/rotate", {"id": key_id})
            return str(rotated["cleartext"])

        secrets = await asyncio.gather(*(churn(k, n) for n, k in enumerate(ids)))
        deleted = ids[::2]
        await asyncio.gather(
            *(api.ok("POST", "/v1/mgmt/accesskey/delete", {"id": k}) for k in deleted)
        )
        stored = {k["id"]: k for k in emu.stored_keys()}
        assert set(stored) == set(ids) - set(deleted)
        assert all(k["status"] == "active" for k in stored.values())
        assert {k["name"] for k in stored.values()} == {f"n{i}" for i in range(1, 40, 2)}
        results = await asyncio.gather(*(api.exchange(s) for s in secrets))
        assert [r[0] for r in results] == [401 if i % 2 == 0 else 200 for i in range(40)]
        before = emu.stored_keys()
    async with Emulator(**emulator_kwargs(signing_pem, db=db)) as emu:
        assert emu.stored_keys() == before
