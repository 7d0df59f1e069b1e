"""Test your own app against a local Descope: the emulator, its environment, real tokens.

With pytest nothing is needed: the package registers :mod:`descope_keys.testing.plugin`
under the ``pytest11`` entry point, which brings the ``descope_emulator``,
``descope_env``, ``descope_client``, ``async_descope_client`` and
``descope_token_factory`` fixtures. For unittest and scripts, the same pieces
are plain Python here::

    with emulated_descope(role_permissions={"admin": ["orders:write"]}) as emu:
        with TokenFactory(emu) as tokens:
            token = tokens(roles=["admin"])   # a real key, a real exchange

Nothing here imports pytest, and the emulator is only imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from descope_keys.testing._env import ENV_CLEARED, emulated_descope, emulator_environment
    from descope_keys.testing._factory import TokenFactory

__all__ = ["ENV_CLEARED", "TokenFactory", "emulated_descope", "emulator_environment"]

# Served on first use, so that loading the pytest plugin (which imports this
# package) costs a suite that never asks for a fixture nothing.
_HOMES = {
    "ENV_CLEARED": "descope_keys.testing._env",
    "TokenFactory": "descope_keys.testing._factory",
    "emulated_descope": "descope_keys.testing._env",
    "emulator_environment": "descope_keys.testing._env",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    if isinstance(value, type) or callable(value):
        # Documented as descope_keys.testing.X, not under its private module.
        value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
