"""Pure ASGI integration (Starlette, FastAPI, any ASGI server); no framework import.

::

    from starlette.applications import Starlette
    from descope_keys import AsyncDescopeKeys
    from descope_keys.integrations.asgi import DescopeMiddleware, get_token

    client = AsyncDescopeKeys(project_id)
    app = DescopeMiddleware(Starlette(routes=...), client, exclude=["/health"])

FastAPI apps import :mod:`descope_keys.integrations.fastapi` instead: the
same middleware, plus the per-route dependency ``require``.

Scopes:

* ``http``: checked; a refused request gets the JSON answer of
  :mod:`descope_keys.integrations`, and the app is not called.
* ``websocket``: the handshake's ``Authorization`` header is checked the same
  way (browsers cannot set it; machine clients can). A refused handshake is
  answered with the same HTTP status, headers and JSON when the server
  supports the ``websocket.http.response`` extension, otherwise by closing
  before accepting with code 1008, which servers turn into HTTP 403.
* ``lifespan`` and anything else: passed to the app untouched.

The validated token is put in a per-request copy of ``scope["state"]`` under
``"descope_token"`` (Starlette: ``request.state.descope_token``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from .._tokens import AccessKeyToken
from ._core import AsyncTokenValidating, Denial, Guard, check_client, moved_require

__all__ = ["TOKEN_KEY", "DescopeMiddleware", "get_token"]

#: Where the token goes: ``scope["state"]["descope_token"]``.
TOKEN_KEY: Final = "descope_token"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_AUTHORIZATION: Final = b"authorization"
_WS_HTTP_RESPONSE: Final = "websocket.http.response"
_WS_POLICY_VIOLATION: Final = 1008


def _raw_headers(denial: Denial) -> list[tuple[bytes, bytes]]:
    # A fresh list each time: outer middleware may append to it in place.
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in denial.headers]


class DescopeMiddleware:
    """ASGI middleware that lets through only requests with a valid access-key token.

    Args:
        app: The ASGI app to protect.
        client: The ``AsyncDescopeKeys`` that validates tokens (on the server's loop).
        roles: Roles the token must all grant.
        permissions: Permissions the token must all grant.
        tenant: Check ``roles``/``permissions`` within this tenant; the token
            must belong to it.
        exclude: Path prefixes served without a token, by whole segments:
            ``"/health"`` opens ``/health/live``, not ``/healthz``. They are
            matched on the app-relative path, as Starlette routes are:
            ``scope["path"]`` minus a leading ``scope["root_path"]`` (so under
            ``uvicorn --root-path /api``, ``"/public"`` opens ``/api/public``).
            A path that does not start with the root path is matched whole.
        audience: When given, tokens must carry it in ``aud``.

    Raises:
        InvalidArgumentError: an unusable argument.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: AsyncTokenValidating,
        *,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        tenant: str | None = None,
        exclude: Iterable[str] = (),
        audience: str | None = None,
    ) -> None:
        check_client(client, asynchronous=True)
        self.app = app
        self._client = client
        self._guard = Guard(
            roles=roles, permissions=permissions, tenant=tenant, exclude=exclude, audience=audience
        )

    def __repr__(self) -> str:
        return f"DescopeMiddleware({self.app!r}, {self._guard.requirement!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if (kind != "http" and kind != "websocket") or self._guard.is_excluded(_route_path(scope)):
            await self.app(scope, receive, send)
            return
        authorization = [
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name == _AUTHORIZATION or name.lower() == _AUTHORIZATION
        ]
        result = await self._guard.authenticate(self._client, authorization)
        # Not a local of a frame the app's errors pass through: reporters record them.
        del authorization
        if isinstance(result, Denial):
            if kind == "http":
                await _send_http(send, result)
            else:
                await _refuse_websocket(scope, receive, send, result)
            return
        # Copies: servers may hand the same lifespan state to every request.
        state = scope.get("state")
        state = dict(state) if state else {}
        state[TOKEN_KEY] = result
        await self.app({**scope, "state": state}, receive, send)


def _route_path(scope: Scope) -> str:
    """The path below the mount point, as Starlette's ``get_route_path`` computes it.

    ASGI servers put the mount point in both ``root_path`` and ``path``;
    ``exclude`` names paths of the app, so the mount point must not count.
    """
    path: str = scope["path"]
    root_path: str = scope.get("root_path") or ""
    if not root_path or not path.startswith(root_path):
        return path
    if len(path) == len(root_path):
        return ""  # the mount point itself: no prefix of the form "/x" matches it
    # "/api" must not strip "/apiary": only a whole leading segment is the mount point.
    return path[len(root_path) :] if path[len(root_path)] == "/" else path


async def _send_http(send: Send, denial: Denial) -> None:
    await send(
        {"type": "http.response.start", "status": denial.status, "headers": _raw_headers(denial)}
    )
    await send({"type": "http.response.body", "body": denial.body})


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, denial: Denial) -> None:
    if (await receive())["type"] != "websocket.connect":
        return  # the client went away before the handshake completed
    if _WS_HTTP_RESPONSE in (scope.get("extensions") or {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": denial.status,
                "headers": _raw_headers(denial),
            }
        )
        await send({"type": "websocket.http.response.body", "body": denial.body})
    else:
        await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION})


def get_token(connection: Mapping[str, Any] | Any) -> AccessKeyToken | None:
    """The validated token of a request: pass the ASGI scope or a Starlette request.

    Returns None on an excluded path or when the middleware did not run.
    """
    scope = connection if isinstance(connection, Mapping) else connection.scope
    token = (scope.get("state") or {}).get(TOKEN_KEY)
    return token if isinstance(token, AccessKeyToken) else None


if TYPE_CHECKING:
    # What type checkers see of the moved name; at run time __getattr__ below
    # resolves it, so that importing this module never imports FastAPI.
    from .fastapi import require as require
else:
    # Hidden from type checkers: a typed module __getattr__ would make every
    # misspelt attribute of this module pass as valid.
    __getattr__ = moved_require(__name__, "descope_keys.integrations.fastapi")
