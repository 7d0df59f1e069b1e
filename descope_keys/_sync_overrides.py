"""Hand-written bodies for sync facade methods that must not simply hop to the loop.

``tools/gen_sync.py`` gives every generated method the default body (run the
async method on the portal's loop thread). A function here marked
``@sync_override("AsyncClass.method")`` replaces that body: the generated
method keeps the async method's signature and docstring and delegates to the
function. The generator checks that the function's signature is exactly the
async method's (with ``self`` typed as the sync class), and fails if a marker
names a method that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._sync import AccessKeyCredentials, DescopeKeys
    from ._tokens import AccessKeyToken

__all__ = ["credentials_authorization", "credentials_token", "sync_override", "validate_token"]

_F = TypeVar("_F", bound=Callable[..., Any])


def sync_override(target: str) -> Callable[[_F], _F]:
    """Mark a function as the sync body of ``target`` (``"AsyncClass.method"``).

    A no-op at runtime: the generator finds the marker in the source.
    """

    def mark(func: _F) -> _F:
        return func

    return mark


@sync_override("AsyncDescopeKeys.validate_token")
def validate_token(self: DescopeKeys, jwt: str, *, audience: str | None = None) -> AccessKeyToken:
    # Warm keys: validate in the caller's thread. Hopping to the loop thread
    # would cost two thread switches for CPU work that needs no I/O.
    client = self._portal.target
    token = client._validator.validate_local(jwt, audience=audience)
    if token is not None:
        return token
    # Cold or expired key set, or an unknown kid: the fetch needs the loop.
    return self._portal.run(client.validate_token(jwt, audience=audience))


# Warm credentials answer in the caller's thread. The async credentials keep
# their token and its schedule in one object that the loop thread replaces
# whole, so one attribute read sees a consistent state without a lock. The
# owner check is the fork guard: in a child the portal holds a new client,
# and the parent's token must not be reused there.


@sync_override("AsyncAccessKeyCredentials.token")
def credentials_token(self: AccessKeyCredentials) -> AccessKeyToken:
    if self._owner is self._portal.target:
        state = self._target._state
        if state is not None and time.monotonic() < state.refresh_at:
            return state.token
    # Cold, near expiry, or forked: the exchange (or the wait for it) needs the loop.
    return self._portal.run(self._live.token())


@sync_override("AsyncAccessKeyCredentials.authorization")
def credentials_authorization(self: AccessKeyCredentials) -> str:
    if self._owner is self._portal.target:
        state = self._target._state
        if state is not None and time.monotonic() < state.refresh_at:
            return state.header
    return self._portal.run(self._live.authorization())
