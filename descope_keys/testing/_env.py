"""The environment that points code under test at an emulator, and the one-line context manager."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping

from descope_keys._config import ENV_BASE_URI, ENV_MANAGEMENT_KEY, ENV_PROJECT_ID, ENV_PUBLIC_KEY
from descope_keys._credentials import ENV_ACCESS_KEY
from descope_keys.emulator import ThreadedEmulator

__all__ = ["ENV_CLEARED", "emulated_descope", "emulator_environment", "patched_environ"]

#: Removed while the emulator's environment is set: a pinned public key would
#: refuse every token the emulator signs, and a developer's real access key
#: would be sent to the emulator by ``client.credentials()``.
ENV_CLEARED = (ENV_PUBLIC_KEY, ENV_ACCESS_KEY)


def emulator_variables(emulator: ThreadedEmulator) -> dict[str, str]:
    """The ``DESCOPE_PROJECT_ID``, ``DESCOPE_MANAGEMENT_KEY`` and ``DESCOPE_BASE_URI`` to set."""
    return {
        ENV_PROJECT_ID: emulator.project_id,
        ENV_MANAGEMENT_KEY: emulator.management_key,
        ENV_BASE_URI: emulator.base_url,
    }


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str], removed: Iterable[str] = ()) -> Iterator[None]:
    """Set ``values`` and remove ``removed`` in ``os.environ``; put every one back afterwards."""
    names = [*values, *removed]
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in removed:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def emulator_environment(emulator: ThreadedEmulator) -> Iterator[ThreadedEmulator]:
    """Point ``DescopeKeys()``/``AsyncDescopeKeys()`` built without arguments at ``emulator``.

    Sets ``DESCOPE_PROJECT_ID``, ``DESCOPE_MANAGEMENT_KEY`` and
    ``DESCOPE_BASE_URI``, removes :data:`ENV_CLEARED`, and restores all of
    them on exit. The emulator must be running.
    """
    with patched_environ(emulator_variables(emulator), ENV_CLEARED):
        yield emulator


@contextlib.contextmanager
def emulated_descope(
    *,
    role_permissions: Mapping[str, Iterable[str]] | None = None,
    session_ttl: int = 600,
    db: str | os.PathLike[str] | None = None,
    project_id: str | None = None,
    signing_key: str | bytes | os.PathLike[str] | None = None,
) -> Iterator[ThreadedEmulator]:
    """A running emulator on 127.0.0.1, the environment pointing at it: for unittest, scripts.

    ``with emulated_descope() as emu:`` starts a :class:`ThreadedEmulator`,
    sets the environment as :func:`emulator_environment` does, yields the
    emulator, then restores the environment and stops it.

    Args:
        role_permissions: Role name → permission names, for the tokens' ``permissions``.
        session_ttl: Lifetime of issued session tokens, in seconds.
        db: A SQLite file to keep keys in (for debugging); in memory when ``None``.
        project_id: The project id; random when omitted.
        signing_key: An RSA private key (PEM text or bytes, or a path) to sign with.
    """
    emulator = ThreadedEmulator(
        project_id,
        db=db,
        signing_key=signing_key,
        role_permissions=role_permissions,
        session_ttl=session_ttl,
    )
    with emulator, emulator_environment(emulator):
        yield emulator
