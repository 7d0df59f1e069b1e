"""The emulator hooks the testing toolkit stands on: reset(), the role map, session lifetimes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from descope_keys import (
    AuthenticationError,
    DescopeKeys,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from descope_keys.emulator import ThreadedEmulator
from descope_keys.emulator._signing import generate_rsa_key

ROLES = {"admin": ["orders:write"]}


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    pem = generate_rsa_key().as_pem(private=True).decode("ascii")
    with ThreadedEmulator(signing_key=pem, role_permissions=ROLES, session_ttl=300) as emu:
        yield emu


@pytest.fixture
def client(emu: ThreadedEmulator) -> Iterator[DescopeKeys]:
    emu.reset()
    with DescopeKeys(
        emu.project_id, emu.management_key, base_url=emu.base_url, retry=RetryPolicy.disabled()
    ) as client:
        yield client


def test_reset_deletes_every_key(emu: ThreadedEmulator, client: DescopeKeys) -> None:
    created = client.access_keys.create("bot")
    client.access_keys.create("other")
    emu.reset()
    assert emu.stored_keys() == []
    with pytest.raises(AuthenticationError):
        client.exchange_access_key(created.cleartext)


def test_reset_clears_faults_rate_limit_and_request_counts(
    emu: ThreadedEmulator, client: DescopeKeys
) -> None:
    emu.inject_fault("/v1/mgmt/accesskey/search", status=500, times=None)
    with pytest.raises(ServerError):
        client.access_keys.search()
    emu.reset()
    assert emu.request_counts == {}
    assert client.access_keys.search() == []
    emu.rate_limit(0, path_prefix="/v1/mgmt/")
    with pytest.raises(RateLimitError):
        client.access_keys.search()
    emu.reset()
    assert client.access_keys.search() == []


def test_reset_puts_the_clock_back_to_real_time(emu: ThreadedEmulator) -> None:
    emu.clock.advance(3600)
    emu.reset()
    assert abs(emu.clock.now() - time.time()) < 5


def test_reset_restores_the_constructed_role_map_session_ttl_and_created_by(
    emu: ThreadedEmulator, client: DescopeKeys
) -> None:
    emu.role_permissions = {"viewer": ["orders:read"]}
    emu.session_ttl = 60
    emu.created_by = "alice"
    assert emu.role_permissions == {"viewer": ["orders:read"]}
    emu.reset()
    assert (emu.role_permissions, emu.session_ttl, emu.created_by) == (
        ROLES,
        300,
        "management-key",
    )
    created = client.access_keys.create("bot", role_names=["admin"])
    assert created.key.created_by == "management-key"
    token = client.exchange_access_key(created.cleartext)
    assert token.permissions == ("orders:write",)
    assert (token.expires_at - token.issued_at).total_seconds() == 300


def test_reset_signs_with_the_first_key_again_alone_in_the_jwks(emu: ThreadedEmulator) -> None:
    first = emu.signing_kid
    emu.rotate_signing_key()
    emu.publish_next_signing_key()
    assert len(emu.jwks()["keys"]) == 3
    emu.reset()
    assert emu.signing_kid == first
    assert [key["kid"] for key in emu.jwks()["keys"]] == [first]


def test_a_changed_role_map_and_session_ttl_apply_to_the_next_tokens(
    emu: ThreadedEmulator, client: DescopeKeys
) -> None:
    created = client.access_keys.create("bot", role_names=["viewer"])
    assert client.exchange_access_key(created.cleartext).permissions == ()
    emu.role_permissions = {"viewer": ["orders:read", "orders:list"]}
    emu.session_ttl = 45
    token = client.exchange_access_key(created.cleartext)
    assert token.permissions == ("orders:read", "orders:list")
    assert (token.expires_at - token.issued_at).total_seconds() == 45


def test_one_key_can_have_its_own_session_lifetime(
    emu: ThreadedEmulator, client: DescopeKeys
) -> None:
    short = client.access_keys.create("short")
    other = client.access_keys.create("other")
    emu.set_key_session_ttl(short.key.id, 20)
    for created, ttl in ((short, 20), (other, 300)):
        token = client.exchange_access_key(created.cleartext)
        assert (token.expires_at - token.issued_at).total_seconds() == ttl
    emu.set_key_session_ttl(short.key.id, None)
    token = client.exchange_access_key(short.cleartext)
    assert (token.expires_at - token.issued_at).total_seconds() == 300
    emu.set_key_session_ttl(short.key.id, 20)
    emu.reset()
    assert emu.stored_keys() == []


@pytest.mark.parametrize("bad", [0, -5])
def test_session_lifetimes_must_be_positive(emu: ThreadedEmulator, bad: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        emu.session_ttl = bad
    with pytest.raises(ValueError, match="positive"):
        emu.set_key_session_ttl("K1", bad)


def test_the_role_map_is_checked_like_the_constructor_argument(emu: ThreadedEmulator) -> None:
    with pytest.raises(ValueError, match="role_permissions"):
        emu.role_permissions = {"admin": [5]}  # type: ignore[list-item]
    emu.role_permissions = {"admin": "orders:write"}  # one permission as a string
    assert emu.role_permissions == {"admin": ["orders:write"]}
    emu.reset()


def test_reset_of_a_stopped_emulator_resets_its_hooks() -> None:
    emu = ThreadedEmulator(session_ttl=100)
    emu.session_ttl = 50
    emu.clock.advance(60)
    emu.reset()
    assert emu.session_ttl == 100
    assert abs(emu.clock.now() - time.time()) < 5


def test_a_reset_with_a_database_persists_the_first_signing_key(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    with ThreadedEmulator(db=db) as emu:
        first = emu.signing_kid
        emu.rotate_signing_key()
        emu.reset()
    with ThreadedEmulator(db=db) as emu:
        assert emu.signing_kid == first
