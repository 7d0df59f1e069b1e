"""The Flask module: its view decorator, driven through Flask's test client (no socket)."""

from __future__ import annotations

from flask import Flask, request

from descope_keys.integrations import flask as dk_flask
from descope_keys.integrations import wsgi
from tests.integrations._tokens import PinnedSyncValidator, jwt


def test_flask_require_without_a_validated_token_is_401() -> None:
    app = Flask(__name__)

    @app.get("/admin")
    @dk_flask.require(roles=["admin"])
    def admin() -> str:
        return "never"

    response = app.test_client().get("/admin", headers={"Authorization": f"Bearer {jwt()}"})
    # No middleware ran, so nothing validated the header: the decorator never trusts it.
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.get_json() == {"error": "invalid_token", "reason": "missing_token"}


def flask_app() -> Flask:
    app = Flask(__name__)
    app.wsgi_app = dk_flask.DescopeMiddleware(app.wsgi_app, PinnedSyncValidator())  # type: ignore[method-assign]

    @app.get("/t1/admin")
    @dk_flask.require(roles=["admin"], tenant="T1")
    def t1_admin() -> dict[str, str]:
        token = dk_flask.get_token(request.environ)
        assert token is not None
        return {"key_id": token.key_id}

    return app


def test_flask_require_behind_the_middleware_serves_403_or_the_view() -> None:
    client = flask_app().test_client()
    served = client.get("/t1/admin", headers={"Authorization": f"Bearer {jwt()}"})
    assert served.status_code == 200
    assert served.get_json() == {"key_id": "K2AccessKey0001"}
    refused = client.get("/t1/admin", headers={"Authorization": f"Bearer {jwt(tenants={})}"})
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert refused.get_json() == {"error": "insufficient_scope", "reason": "tenant_not_allowed"}


def test_flask_require_keeps_the_view_name_flask_routes_by() -> None:
    def reports() -> str:
        return "ok"

    assert dk_flask.require()(reports).__name__ == "reports"


def test_the_middleware_and_token_helpers_are_the_wsgi_ones() -> None:
    assert dk_flask.DescopeMiddleware is wsgi.DescopeMiddleware
    assert dk_flask.get_token is wsgi.get_token
    assert dk_flask.TOKEN_KEY == wsgi.TOKEN_KEY
