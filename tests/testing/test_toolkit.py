"""descope_keys.testing without pytest: emulated_descope(), emulator_environment(), TokenFactory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from descope_keys import AsyncDescopeKeys, DescopeKeys, InvalidArgumentError
from descope_keys.emulator import ThreadedEmulator
from descope_keys.testing import ENV_CLEARED, TokenFactory, emulated_descope, emulator_environment
from descope_keys.testing._factory import permissions_role

NAMES = ("DESCOPE_PROJECT_ID", "DESCOPE_MANAGEMENT_KEY", "DESCOPE_BASE_URI")


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(role_permissions={"editor": ["docs:write"]}) as emu:
        yield emu


@pytest.fixture
def tokens(emu: ThreadedEmulator) -> Iterator[TokenFactory]:
    emu.reset()
    with TokenFactory(emu) as factory:
        yield factory


def test_emulated_descope_sets_the_environment_and_restores_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "P2before")
    monkeypatch.setenv("DESCOPE_PUBLIC_KEY", '{"keys": []}')
    monkeypatch.setenv("DESCOPE_ACCESS_KEY", "a-real-key")
    with emulated_descope(role_permissions={"admin": ["x"]}, session_ttl=120) as emu:
        assert emu.running
        assert [os.environ[name] for name in NAMES] == [
            emu.project_id,
            emu.management_key,
            emu.base_url,
        ]
        assert not any(name in os.environ for name in ENV_CLEARED)
        with DescopeKeys() as client:  # found through the environment alone
            created = client.access_keys.create("bot", role_names=["admin"])
            token = client.exchange_access_key(created.cleartext)
        assert token.permissions == ("x",)
        assert (token.expires_at - token.issued_at).total_seconds() == 120
    assert not emu.running
    assert os.environ["DESCOPE_PROJECT_ID"] == "P2before"
    assert os.environ["DESCOPE_PUBLIC_KEY"] == '{"keys": []}'
    assert os.environ["DESCOPE_ACCESS_KEY"] == "a-real-key"
    assert "DESCOPE_BASE_URI" not in os.environ


def test_the_environment_is_restored_when_the_block_fails(emu: ThreadedEmulator) -> None:
    seen: list[str] = []

    def failing_block() -> None:
        with emulator_environment(emu):
            seen.append(os.environ["DESCOPE_BASE_URI"])
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError):
        failing_block()
    assert seen == [emu.base_url]
    assert "DESCOPE_BASE_URI" not in os.environ


def test_a_token_with_roles_is_what_the_emulator_issues(
    emu: ThreadedEmulator, tokens: TokenFactory
) -> None:
    token = tokens(roles=["editor", "viewer"], custom_claims={"team": "blue"})
    assert token.roles == ("editor", "viewer")
    assert token.permissions == ("docs:write",)
    assert token.claims["team"] == "blue"
    assert token.project_id == emu.project_id
    (stored,) = emu.stored_keys()
    assert stored["id"] == token.key_id
    assert stored["name"] == "descope-token-factory"


def test_permissions_come_through_a_role_in_the_role_map(
    emu: ThreadedEmulator, tokens: TokenFactory
) -> None:
    token = tokens(roles=["viewer"], permissions=["orders:read", "orders:list"])
    role = permissions_role(["orders:list", "orders:read"])
    assert token.roles == ("viewer", role)
    assert token.has_permission("orders:read")
    assert token.has_permission("orders:list")
    assert emu.role_permissions[role] == ["orders:list", "orders:read"]
    assert tokens(permissions=["orders:read"]).permissions == ("orders:read",)


def test_tenant_roles_and_the_selected_tenant(tokens: TokenFactory) -> None:
    token = tokens(
        tenants={"T1": ["editor"], "T2": ["viewer"]}, selected_tenant="T2", name="tenant-bot"
    )
    assert token.roles == ()
    assert token.has_role("editor", tenant="T1")
    assert not token.has_role("editor", tenant="T2")
    assert token.has_permission("docs:write", tenant="T1")
    assert token.claims["dct"] == "T2"


def test_a_shorter_session_lifetime(tokens: TokenFactory) -> None:
    token = tokens(roles=["viewer"], session_ttl=30)
    assert (token.expires_at - token.issued_at).total_seconds() == 30
    normal = tokens(roles=["viewer"])
    assert (normal.expires_at - normal.issued_at).total_seconds() == 600


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"roles": "admin"}, "roles"),
        ({"permissions": "read"}, "permissions"),
        ({"tenants": {"T1": "admin"}}, "tenants['T1']"),
        ({"permissions": ["read"], "tenants": {"T1": ["admin"]}}, "permissions"),
        ({"session_ttl": 0}, "session_ttl"),
        ({"session_ttl": True}, "session_ttl"),
    ],
)
def test_unusable_arguments_are_refused_before_any_key_is_made(
    emu: ThreadedEmulator, tokens: TokenFactory, kwargs: dict[str, object], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        tokens(**kwargs)  # type: ignore[arg-type]
    assert caught.value.argument == argument
    assert emu.stored_keys() == []


def test_roles_and_tenants_together_are_refused_as_descope_does(tokens: TokenFactory) -> None:
    with pytest.raises(InvalidArgumentError):
        tokens(roles=["admin"], tenants={"T1": ["admin"]})


async def test_the_factory_works_inside_a_coroutine_without_blocking_warnings(
    emu: ThreadedEmulator, tokens: TokenFactory
) -> None:
    token = tokens(roles=["editor"])  # warnings are errors: the sync client never sees this loop
    async with AsyncDescopeKeys(emu.project_id, base_url=emu.base_url) as client:
        assert (await client.validate_token(token.jwt)).key_id == token.key_id


def test_a_factory_closes_only_the_client_it_made(emu: ThreadedEmulator) -> None:
    with DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url) as client:
        factory = TokenFactory(emu, client)
        factory.close()
        assert factory(roles=["a"]).roles == ("a",)  # the given client still works
    assert "TokenFactory(ThreadedEmulator(" in repr(factory)
    assert emu.management_key not in repr(factory)


@pytest.mark.slow
def test_the_toolkit_imports_neither_pytest_nor_the_emulator_until_used() -> None:
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None\n"  # as if pytest were not installed
        "import descope_keys.testing as t\n"
        "assert 'descope_keys.emulator' not in sys.modules, 'emulator imported early'\n"
        "with t.emulated_descope() as emu:\n"
        "    assert emu.running\n"
        "assert set(t.__all__) <= set(dir(t)), dir(t)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_loading_the_pytest_plugin_imports_neither_the_emulator_nor_the_factory() -> None:
    code = (
        "import sys\n"
        "import descope_keys.testing.plugin\n"
        "early = {'descope_keys.emulator', 'descope_keys.testing._factory'} & set(sys.modules)\n"
        "assert not early, early\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    import descope_keys.testing as toolkit

    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = toolkit.no_such_thing
