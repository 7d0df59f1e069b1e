"""The pytest plugin: Descope fixtures for testing your own app, with no conftest.

Registered under the ``pytest11`` entry point (as ``descope_keys``), so
installing the package is enough; ``-p no:descope_keys`` turns it off.

- ``descope_emulator``: one running :class:`~descope_keys.emulator.ThreadedEmulator`
  per test session (per xdist worker), reset before each test.
- ``descope_env``: the ``DESCOPE_*`` variables point at it during the test.
- ``descope_client`` / ``async_descope_client``: management clients on it.
- ``descope_token_factory``: real tokens with chosen roles, tenants, claims.
- ``@pytest.mark.descope(role_permissions=..., session_ttl=...)``: the emulator's
  settings for the marked tests (or module, with ``pytestmark``).
- ``--descope-emulator-db PATH``: keep the emulator's state in a SQLite file.

Nothing starts until a test asks for one of these fixtures, and nothing of
the SDK beyond this module is imported until then.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from descope_keys import AsyncDescopeKeys, DescopeKeys
    from descope_keys.emulator import ThreadedEmulator
    from descope_keys.testing._factory import TokenFactory

__all__ = [
    "async_descope_client",
    "descope_client",
    "descope_emulator",
    "descope_env",
    "descope_token_factory",
]

MARKER = "descope"
_MARKER_HELP = (
    "descope(role_permissions=None, session_ttl=None): the emulator's role map and "
    "session lifetime for these tests (descope_keys.testing)"
)
# What the marker may set: the emulator's settings that tests may change.
_MARKER_SETTINGS = ("role_permissions", "session_ttl")
_LOOP_SCOPES = ("function", "class", "module", "package", "session")


class _SessionEmulator:
    """The one emulator of a test session: started on first request, reset before each test."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self.emulator: ThreadedEmulator | None = None
        self._settings: dict[str, Any] = {}

    def db_path(self) -> Path | None:
        given = self._config.getoption("descope_emulator_db")
        if not given:
            return None
        path = Path(given)
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        # Each worker has its own emulator, and a database file serves one.
        return path.with_name(f"{path.stem}-{worker}{path.suffix}") if worker else path

    def start(self) -> ThreadedEmulator:
        from descope_keys.emulator import ThreadedEmulator

        emulator = ThreadedEmulator(db=self.db_path())
        emulator.start()
        self.emulator = emulator
        emulator.reset()  # a kept database starts each session empty too
        self._apply(emulator)
        return emulator

    def stop(self) -> None:
        emulator, self.emulator = self.emulator, None
        if emulator is not None:
            emulator.stop()

    def before_test(self, item: pytest.Item) -> None:
        self._settings = _marker_settings(item)
        if self.emulator is not None:
            self.emulator.reset()
            self._apply(self.emulator)

    def _apply(self, emulator: ThreadedEmulator) -> None:
        for name, value in self._settings.items():
            setattr(emulator, name, value)


_SESSION = pytest.StashKey[_SessionEmulator]()


def _marker_settings(item: pytest.Item) -> dict[str, Any]:
    """The settings of the ``descope`` markers on ``item``, the closest one winning each."""
    settings: dict[str, Any] = {}
    for marker in item.iter_markers(MARKER):  # closest first
        unknown = sorted(set(marker.kwargs) - set(_MARKER_SETTINGS))
        if marker.args or unknown:
            pytest.fail(
                f"{item.nodeid}: mark.descope takes only the keyword arguments "
                f"{', '.join(_MARKER_SETTINGS)} (got {', '.join(unknown) or 'positional ones'})",
                pytrace=False,
            )
        for name, value in marker.kwargs.items():
            if value is not None:  # None: not set here (a farther marker or the default)
                settings.setdefault(name, value)
    # Checked here, so that a bad value fails its own test and never the
    # session fixture (whose error every later test would share).
    role_permissions = settings.get("role_permissions")
    if role_permissions is not None:
        from descope_keys.emulator._server import _role_map

        try:
            if not isinstance(role_permissions, Mapping):
                raise ValueError("role_permissions must be a dict")
            _role_map(role_permissions)
        except ValueError as exc:
            pytest.fail(f"{item.nodeid}: mark.descope {exc}", pytrace=False)
    ttl = settings.get("session_ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        pytest.fail(
            f"{item.nodeid}: mark.descope session_ttl must be a positive number of seconds",
            pytrace=False,
        )
    return settings


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("descope", "Descope emulator (descope_keys.testing)")
    group.addoption(
        "--descope-emulator-db",
        metavar="PATH",
        default=None,
        help="keep the Descope emulator's keys and signing key in this SQLite file "
        "(one per xdist worker: PATH-gw0...), to inspect what the last test left",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    config.stash[_SESSION] = _SessionEmulator(config)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: a test's own fixtures see the emulator already reset.
    item.config.stash[_SESSION].before_test(item)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.stop()


@pytest.fixture(scope="session")
def descope_emulator(pytestconfig: pytest.Config) -> Iterator[ThreadedEmulator]:
    """A running Descope emulator on 127.0.0.1, one per session; reset before each test.

    Keys, faults, rate limits, request counts, the clock and signing keys
    start fresh in every test; ``@pytest.mark.descope(...)`` settings apply.
    """
    session = pytestconfig.stash[_SESSION]
    yield session.start()
    session.stop()


@pytest.fixture
def descope_env(descope_emulator: ThreadedEmulator) -> Iterator[ThreadedEmulator]:
    """Point ``DESCOPE_PROJECT_ID``, ``DESCOPE_MANAGEMENT_KEY`` and ``DESCOPE_BASE_URI`` at it.

    ``DESCOPE_PUBLIC_KEY`` and ``DESCOPE_ACCESS_KEY`` are removed; all are
    restored after the test. Returns the emulator.
    """
    from descope_keys.testing._env import emulator_environment

    with emulator_environment(descope_emulator):
        yield descope_emulator


@pytest.fixture
def descope_client(descope_emulator: ThreadedEmulator) -> Iterator[DescopeKeys]:
    """A :class:`~descope_keys.DescopeKeys` on the emulator, with its management key."""
    from descope_keys.testing._factory import client_of

    with client_of(descope_emulator) as client:
        yield client


@pytest.fixture
def descope_token_factory(
    descope_emulator: ThreadedEmulator, descope_client: DescopeKeys
) -> TokenFactory:
    """``descope_token_factory(roles=..., tenants=..., ...)`` → a real, validated AccessKeyToken."""
    from descope_keys.testing._factory import TokenFactory

    return TokenFactory(descope_emulator, descope_client)


@pytest.fixture
def async_descope_client(request: pytest.FixtureRequest) -> AsyncDescopeKeys:
    """An :class:`~descope_keys.AsyncDescopeKeys` on the emulator, closed after the test.

    For async tests run by pytest-asyncio (strict or auto mode, any loop
    scope) or by anyio (its asyncio backend): the client is opened and closed
    on the test's own event loop.
    """
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend_name")
        if backend != "asyncio":
            pytest.skip(f"async_descope_client runs on asyncio (aiohttp), not {backend}")
        client: AsyncDescopeKeys = request.getfixturevalue("_descope_async_client_anyio")
        return client
    scope = _asyncio_loop_scope(request)
    if scope is None:
        pytest.fail(
            "async_descope_client is for async tests run by pytest-asyncio or anyio "
            "(a sync test can use descope_client)",
            pytrace=False,
        )
    found: AsyncDescopeKeys = request.getfixturevalue(f"_descope_async_client_asyncio_{scope}")
    return found


async def _async_client(emulator: ThreadedEmulator) -> AsyncIterator[AsyncDescopeKeys]:
    from descope_keys.testing._factory import async_client_of

    async with async_client_of(emulator) as client:
        yield client


@pytest.fixture
async def _descope_async_client_anyio(
    descope_emulator: ThreadedEmulator,
) -> AsyncIterator[AsyncDescopeKeys]:
    # Requested only in anyio tests: anyio runs it on the test's loop.
    async for client in _async_client(descope_emulator):
        yield client


def _asyncio_loop_scope(request: pytest.FixtureRequest) -> str | None:
    """The loop scope pytest-asyncio runs this test in, or ``None`` when it does not run it."""
    if not request.config.pluginmanager.has_plugin("asyncio"):
        return None
    import pytest_asyncio

    item = request.node
    if not isinstance(item, pytest.Function) or not pytest_asyncio.is_async_test(item):
        return None
    marker = item.get_closest_marker("asyncio")
    kwargs = {} if marker is None else marker.kwargs
    scope = kwargs.get("loop_scope") or kwargs.get("scope")
    default = request.config.getini("asyncio_default_test_loop_scope") or "function"
    return str(scope or default)


def _asyncio_client_fixture(loop_scope: str) -> Callable[..., Any]:
    import pytest_asyncio

    async def client(descope_emulator: ThreadedEmulator) -> AsyncIterator[AsyncDescopeKeys]:
        async for value in _async_client(descope_emulator):
            yield value

    # One fixture per loop scope: the client must live on the loop its test runs on.
    return pytest_asyncio.fixture(  # type: ignore[no-any-return,call-overload]
        client, loop_scope=loop_scope, name=f"_descope_async_client_asyncio_{loop_scope}"
    )


try:
    import pytest_asyncio as _pytest_asyncio  # noqa: F401  (only whether it is installed)
except ImportError:  # pragma: no cover - pytest-asyncio is a test dependency here
    pass
else:
    for _scope in _LOOP_SCOPES:
        globals()[f"_descope_async_client_asyncio_{_scope}"] = _asyncio_client_fixture(_scope)
