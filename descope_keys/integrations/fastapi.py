"""FastAPI integration: the pure ASGI middleware and a per-route ``require`` dependency.

::

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from descope_keys import AccessKeyToken, AsyncDescopeKeys
    from descope_keys.integrations.fastapi import DescopeMiddleware, require

    client = AsyncDescopeKeys(project_id)
    app = FastAPI()
    app.add_middleware(DescopeMiddleware, client=client, exclude=["/health"])

    @app.get("/admin")
    async def admin(token: Annotated[AccessKeyToken, Depends(require(roles=["admin"]))]): ...

``DescopeMiddleware``, ``get_token`` and ``TOKEN_KEY`` are those of
:mod:`descope_keys.integrations.asgi` (the same objects), so that a FastAPI
app needs one import. This module imports FastAPI; the ``asgi`` module never
does, which is what Starlette and other plain ASGI apps should import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import HTTPException
from fastapi.requests import HTTPConnection

from .._tokens import AccessKeyToken
from ._core import Denial, Requirement
from .asgi import TOKEN_KEY, DescopeMiddleware, get_token

__all__ = ["TOKEN_KEY", "DescopeMiddleware", "get_token", "require"]

# The framework renders the body and sets the content headers itself.
_PASSED_HEADERS = frozenset({"WWW-Authenticate", "Cache-Control"})


def _refusal(denial: Denial) -> HTTPException:
    headers = {k: v for k, v in denial.headers if k in _PASSED_HEADERS}
    return HTTPException(denial.status, detail=denial.payload, headers=headers)


def require(
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenant: str | None = None,
) -> Callable[[HTTPConnection], AccessKeyToken]:
    """A FastAPI dependency that returns the token and enforces requirements on one route.

    ``Depends(require(roles=["admin"]))`` answers 403 (401 without a token,
    e.g. on an excluded path) through FastAPI's ``HTTPException``, so the
    body is FastAPI's ``{"detail": {"error": …, "reason": …}}`` with the same
    status and ``WWW-Authenticate`` header as the middleware's answers.

    Raises:
        InvalidArgumentError: an unusable argument (when the dependency is built).
    """
    requirement = Requirement(roles, permissions, tenant)

    # FastAPI injects the connection by its annotation, which it resolves in
    # this module's globals: HTTPConnection must be imported at module level.
    def descope_token(connection: HTTPConnection) -> AccessKeyToken:
        token = get_token(connection)
        denial = requirement.judge(token)
        if denial is not None:
            raise _refusal(denial)
        assert token is not None  # judge() refuses a missing token
        return token

    return descope_token
