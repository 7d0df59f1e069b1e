"""aiohttp integration: a server middleware, a ``require`` decorator, and a client middleware.

::

    from aiohttp import web
    from descope_keys import AsyncDescopeKeys
    from descope_keys.integrations.aiohttp import descope_middleware, require

    client = AsyncDescopeKeys(project_id)
    app = web.Application(middlewares=[descope_middleware(client, exclude=["/health"])])

    @require(roles=["admin"])
    async def admin(request: web.Request) -> web.Response:
        token = request["descope_token"]  # the validated AccessKeyToken
        ...

Responses and error codes are described in :mod:`descope_keys.integrations`.

On the calling side, :func:`access_key_auth` sends an access key's session
token on every request of a client session::

    creds = client.credentials()  # access key from DESCOPE_ACCESS_KEY
    async with aiohttp.ClientSession(middlewares=[access_key_auth(creds)]) as session:
        async with session.get(f"{api}/reports") as response:
            ...
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Final

from aiohttp import (
    ClientHandlerType,
    ClientMiddlewareType,
    ClientRequest,
    ClientResponse,
    hdrs,
    web,
)
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError
from aiohttp.typedefs import Middleware

from .._credentials import AsyncAccessKeyCredentials
from .._secret import Secret
from .._tokens import AccessKeyToken
from ..errors import InvalidArgumentError
from ._core import AsyncTokenValidating, Denial, Guard, Requirement, check_client

__all__ = [
    "TOKEN_KEY",
    "SafeAppRunner",
    "access_key_auth",
    "descope_middleware",
    "get_token",
    "require",
]

_NAME: Final = "descope_token"


class _TokenKey(web.RequestKey[AccessKeyToken]):
    """A typed request key that the plain name ``"descope_token"`` also finds.

    aiohttp warns once per process when a plain string key is set on a
    request, yet ``request["descope_token"]`` is the documented way to read
    the token: this key hashes and compares like that string, so setting it
    warns nothing and both lookups reach the same entry.
    """

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(_NAME)

    def __eq__(self, other: object) -> bool:
        return other == _NAME if isinstance(other, str) else other is self


#: Where the middleware puts the validated token: ``request[TOKEN_KEY]`` (typed)
#: or, the same entry, ``request["descope_token"]``.
TOKEN_KEY: Final = _TokenKey(_NAME, AccessKeyToken)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _response(denial: Denial) -> web.Response:
    return web.Response(status=denial.status, body=denial.body, headers=denial.headers)


def descope_middleware(
    client: AsyncTokenValidating,
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenant: str | None = None,
    exclude: Iterable[str] = (),
    audience: str | None = None,
) -> Middleware:
    """An aiohttp middleware that lets through only requests with a valid access-key token.

    The validated :class:`~descope_keys.AccessKeyToken` is stored at
    ``request["descope_token"]`` (see :func:`get_token`).

    Args:
        client: The ``AsyncDescopeKeys`` that validates tokens (on the app's loop).
        roles: Roles the token must all grant.
        permissions: Permissions the token must all grant.
        tenant: Check ``roles``/``permissions`` within this tenant; the token
            must belong to it.
        exclude: Path prefixes served without a token, matched by whole
            segments (``"/health"`` opens ``/health/live``, not ``/healthz``)
            against the full request path, still percent-encoded where the
            router keeps it so (``%2F``): on a sub-app added with
            ``add_subapp("/api", ...)``, write ``"/api/health"``.
        audience: When given, tokens must carry it in ``aud``.

    Returns:
        The middleware, for ``web.Application(middlewares=[...])``.

    Raises:
        InvalidArgumentError: an unusable argument.
    """
    check_client(client, asynchronous=True)
    guard = Guard(
        roles=roles, permissions=permissions, tenant=tenant, exclude=exclude, audience=audience
    )

    @web.middleware
    async def descope_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        # path_safe keeps %2F encoded, as the router matches it: the decoded
        # request.path would let "/public%2Fx/profile" pass as "/public/...".
        if guard.is_excluded(request.rel_url.path_safe):
            return await handler(request)
        result = await guard.authenticate(client, request.headers.getall(hdrs.AUTHORIZATION, ()))
        if isinstance(result, Denial):
            return _response(result)
        request[TOKEN_KEY] = result
        return await handler(request)

    return descope_middleware


def get_token(request: web.Request) -> AccessKeyToken | None:
    """The token the middleware validated for ``request``; None on an excluded path."""
    token = request.get(TOKEN_KEY)
    return token if isinstance(token, AccessKeyToken) else None


def require(
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenant: str | None = None,
) -> Callable[[_Handler], _Handler]:
    """Decorate one handler with requirements on top of the middleware's.

    The middleware must have run on the route (a request without a validated
    token, e.g. on an excluded path, is answered 401). A token lacking the
    roles or permissions, or the tenant, is answered 403.
    """
    requirement = Requirement(roles, permissions, tenant)

    def decorate(handler: _Handler) -> _Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            denial = requirement.judge(get_token(request))
            if denial is not None:
                return _response(denial)
            return await handler(request)

        return guarded

    return decorate


def access_key_auth(credentials: AsyncAccessKeyCredentials) -> ClientMiddlewareType:
    """An aiohttp client middleware that sends ``Authorization: Bearer <jwt>`` on every request.

    For ``aiohttp.ClientSession(middlewares=[access_key_auth(creds)])`` (or
    one request's ``middlewares=``). When the application answers 401, the
    token is dropped, exchanged again and the request resent once; a second
    401 is returned as it is. A request whose body cannot be replayed (an
    async generator, a non-seekable stream) is not resent.

    Args:
        credentials: From ``AsyncDescopeKeys.credentials()``, on the same loop.

    Raises:
        InvalidArgumentError: ``credentials`` is not an ``AsyncAccessKeyCredentials``.
    """
    if not isinstance(credentials, AsyncAccessKeyCredentials):
        raise InvalidArgumentError(
            "credentials", "must be an AsyncAccessKeyCredentials (AsyncDescopeKeys.credentials())"
        )

    async def access_key_auth(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        # The exchange runs on the credentials' own client session, outside
        # this chain: no recursion through this middleware.
        # Wrapped: this frame is in the traceback of every failed request.
        sent = Secret(await credentials.authorization())
        request.headers[hdrs.AUTHORIZATION] = sent.reveal()
        response = await handler(request)
        if response.status != 401 or getattr(request.body, "consumed", False):
            return response
        # Only if ``sent`` is still current: many requests refused with the
        # same old token cost one exchange, not one each.
        credentials.invalidate(sent.reveal())
        fresh = Secret(await credentials.authorization())
        response.release()
        request.headers[hdrs.AUTHORIZATION] = fresh.reveal()
        return await handler(request)

    return access_key_auth


class _SafeRequestHandler(web.RequestHandler):
    """Answers a request the HTTP parser refused with a fixed body, and logs no header value."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # aiohttp's own answer and log quote the raw line the parser refused:
        # an Authorization header with a control character in it, secret and all.
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
        self.logger.log(
            level,
            "refused an unparsable request from %s: %s (HTTP %d)",
            request.remote,
            type(exc).__name__,
            status,
        )
        if request.writer.output_size > 0:
            raise ConnectionError("a response is already under way: cannot answer the parse error")
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Bad Request"
        response = web.Response(status=status, text=f"{status} {phrase}\n")
        response.force_close()
        return response


class _SafeServer(web.Server):
    """A ``web.Server`` whose connections use :class:`_SafeRequestHandler`."""

    def __call__(self) -> web.RequestHandler:
        handler = super().__call__()
        handler.__class__ = _SafeRequestHandler  # same layout: it adds no slot
        return handler


class SafeAppRunner(web.AppRunner):
    """A ``web.AppRunner`` whose server never echoes or logs a request it cannot parse.

    aiohttp's HTTP parser refuses a request line or header it cannot parse
    (an ``Authorization`` value with a control character, say) before any
    middleware runs, and by default answers 400 with the refused line quoted
    in the body, and logs it with a traceback: the bearer token or key in it
    reaches the logs. With this runner, such a request gets a fixed
    ``400 Bad Request`` body, and one log line (logger ``aiohttp.server``)
    that names the error class and the client address only. Everything else
    is ``web.AppRunner``'s::

        runner = SafeAppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", 8080).start()
    """

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The Application builds its own Server; only the handler factory differs.
        server.__class__ = _SafeServer
        return server
