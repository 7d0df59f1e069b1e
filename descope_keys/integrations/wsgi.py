"""WSGI integration (Flask, Django, any WSGI server), validating in the request's thread.

::

    from flask import Flask
    from descope_keys import DescopeKeys
    from descope_keys.integrations.wsgi import DescopeMiddleware, require

    client = DescopeKeys(project_id)
    app = Flask(__name__)
    app.wsgi_app = DescopeMiddleware(app.wsgi_app, client, exclude=["/health"])

    @app.get("/admin")
    @require(roles=["admin"])
    def admin(): ...

The sync client validates in the calling thread once its keys are warm, so a
request costs no hop to another thread; only a key-set fetch waits on the
client's event-loop thread. Django: wrap ``get_wsgi_application()`` the same
way and read ``request.META["descope_keys.token"]``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Protocol, TypeVar

from .._tokens import AccessKeyToken
from ._core import Denial, Guard, Requirement, SyncTokenValidating, check_client

__all__ = ["TOKEN_KEY", "DescopeMiddleware", "get_token", "require"]

#: Where the token goes: ``environ["descope_keys.token"]``.
TOKEN_KEY: Final = "descope_keys.token"

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
_F = TypeVar("_F", bound=Callable[..., Any])


class StartResponse(Protocol):
    """The PEP 3333 ``start_response`` callable."""

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: _ExcInfo | None = ...,
        /,
    ) -> Callable[[bytes], object]: ...  # pragma: no cover - protocol


WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class DescopeMiddleware:
    """WSGI middleware that lets through only requests with a valid access-key token.

    Args:
        app: The WSGI app to protect (for Flask: ``app.wsgi_app``).
        client: The ``DescopeKeys`` (sync) client that validates tokens.
        roles: Roles the token must all grant.
        permissions: Permissions the token must all grant.
        tenant: Check ``roles``/``permissions`` within this tenant; the token
            must belong to it.
        exclude: Path prefixes (matched against ``PATH_INFO``, below the
            app's mount point) served without a token, by whole segments:
            ``"/health"`` opens ``/health/live``, not ``/healthz``.
        audience: When given, tokens must carry it in ``aud``.

    Raises:
        InvalidArgumentError: an unusable argument (an async client included).
    """

    def __init__(
        self,
        app: WSGIApp,
        client: SyncTokenValidating,
        *,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        tenant: str | None = None,
        exclude: Iterable[str] = (),
        audience: str | None = None,
    ) -> None:
        check_client(client, asynchronous=False)
        self.app = app
        self._client = client
        self._guard = Guard(
            roles=roles,
            permissions=permissions,
            tenant=tenant,
            exclude=exclude,
            audience=audience,
            latin1_paths=True,
        )

    def __repr__(self) -> str:
        return f"DescopeMiddleware({self.app!r}, {self._guard.requirement!r})"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self._guard.is_excluded(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        header = environ.get("HTTP_AUTHORIZATION")
        result = self._guard.authenticate_sync(self._client, () if header is None else (header,))
        if isinstance(result, Denial):
            start_response(result.status_line, list(result.headers))
            return [result.body]
        environ[TOKEN_KEY] = result
        return self.app(environ, start_response)


def get_token(environ: Mapping[str, Any]) -> AccessKeyToken | None:
    """The validated token of a request (its WSGI environ); None on an excluded path."""
    token = environ.get(TOKEN_KEY)
    return token if isinstance(token, AccessKeyToken) else None


def require(
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenant: str | None = None,
) -> Callable[[_F], _F]:
    """Decorate one Flask view with requirements on top of the middleware's.

    A request without a validated token (an excluded path, or no middleware)
    is answered 401; a token lacking what is required, 403; both with the
    middleware's JSON body and headers. Flask is imported here, when the
    decorator is built, never by the middleware.
    """
    requirement = Requirement(roles, permissions, tenant)
    # Lazy on purpose: only Flask apps call this.
    from flask import request

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            denial = requirement.judge(get_token(request.environ))
            if denial is not None:
                return denial.body, denial.status, list(denial.headers)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
