"""Flask integration: the WSGI middleware and a per-view ``require`` decorator.

::

    from flask import Flask
    from descope_keys import DescopeKeys
    from descope_keys.integrations.flask import DescopeMiddleware, require

    client = DescopeKeys(project_id)
    app = Flask(__name__)
    app.wsgi_app = DescopeMiddleware(app.wsgi_app, client, exclude=["/health"])

    @app.get("/admin")
    @require(roles=["admin"])
    def admin(): ...

``DescopeMiddleware``, ``get_token`` and ``TOKEN_KEY`` are those of
:mod:`descope_keys.integrations.wsgi` (the same objects), so that a Flask app
needs one import. This module imports Flask; the ``wsgi`` module never does,
which is what Django and other plain WSGI apps should import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import request

from ._core import Requirement
from .wsgi import TOKEN_KEY, DescopeMiddleware, get_token

__all__ = ["TOKEN_KEY", "DescopeMiddleware", "get_token", "require"]

_F = TypeVar("_F", bound=Callable[..., Any])


def require(
    *,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenant: str | None = None,
) -> Callable[[_F], _F]:
    """Decorate one Flask view with requirements on top of the middleware's.

    A request without a validated token (an excluded path, or no middleware)
    is answered 401; a token lacking what is required, 403; both with the
    middleware's JSON body and headers.

    Raises:
        InvalidArgumentError: an unusable argument (when the decorator is built).
    """
    requirement = Requirement(roles, permissions, tenant)

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            denial = requirement.judge(get_token(request.environ))
            if denial is not None:
                return denial.body, denial.status, list(denial.headers)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
