"""WSGI integration (Flask, Django, any WSGI server), validating in the request's thread.

::

    # Django, in wsgi.py
    from django.core.wsgi import get_wsgi_application
    from descope_keys import DescopeKeys
    from descope_keys.integrations.wsgi import DescopeMiddleware

    client = DescopeKeys(project_id)
    application = DescopeMiddleware(get_wsgi_application(), client, exclude=["/health"])

Views read the token at ``request.META["descope_keys.token"]``. Flask apps
import :mod:`descope_keys.integrations.flask` instead: the same middleware,
plus the per-view decorator ``require``.

The sync client validates in the calling thread once its keys are warm, so a
request costs no hop to another thread; only a key-set fetch waits on the
client's event-loop thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._tokens import AccessKeyToken
from ._core import Denial, Guard, SyncTokenValidating, check_client, moved_require

__all__ = ["TOKEN_KEY", "DescopeMiddleware", "get_token"]

#: Where the token goes: ``environ["descope_keys.token"]``.
TOKEN_KEY: Final = "descope_keys.token"

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


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
            app's mount point: ``SCRIPT_NAME`` never counts) served without a
            token, by whole segments: ``"/health"`` opens ``/health/live``,
            not ``/healthz``.
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
        # Not a local of a frame the app's errors pass through: reporters record them.
        del header
        if isinstance(result, Denial):
            start_response(result.status_line, list(result.headers))
            return [result.body]
        environ[TOKEN_KEY] = result
        return self.app(environ, start_response)


def get_token(environ: Mapping[str, Any]) -> AccessKeyToken | None:
    """The validated token of a request (its WSGI environ); None on an excluded path."""
    token = environ.get(TOKEN_KEY)
    return token if isinstance(token, AccessKeyToken) else None


if TYPE_CHECKING:
    # What type checkers see of the moved name; at run time __getattr__ below
    # resolves it, so that importing this module never imports Flask.
    from .flask import require as require
else:
    # Hidden from type checkers: a typed module __getattr__ would make every
    # misspelt attribute of this module pass as valid.
    __getattr__ = moved_require(__name__, "descope_keys.integrations.flask")
