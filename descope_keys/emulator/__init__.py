"""An embedded, Descope-compatible access-key server for demos, tests and benchmarks.

It speaks the access-key parts of the Descope API (management, exchange,
JWKS) over real HTTP on a local port, so that code using this SDK, or the
official ``descope`` SDK, can be tested offline::

    async with Emulator() as emu:
        client = AsyncDescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url)

:class:`ThreadedEmulator` runs the same server in a background thread for
synchronous code. ``python -m descope_keys.emulator`` runs it from a shell.
Test hooks (a controllable :class:`Clock`, signing-key rotation, rate limits,
fault injection with :class:`Fault` values) live on these objects and, when enabled, under
``/emulator/…``; they are not part of the Descope API.
"""

from __future__ import annotations

from descope_keys.emulator._hooks import Clock, Fault
from descope_keys.emulator._server import Emulator
from descope_keys.emulator._store import StoreError
from descope_keys.emulator._threaded import ThreadedEmulator

__all__ = ["Clock", "Emulator", "Fault", "StoreError", "ThreadedEmulator"]

# pydoc and the API reference show descope_keys.emulator.Emulator, not the
# private module it is defined in (as the package does for its own names).
for _public in (Clock, Emulator, Fault, StoreError, ThreadedEmulator):
    _public.__module__ = __name__
del _public
