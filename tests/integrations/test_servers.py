"""The three middlewares on real servers, with tokens from real exchanges on the emulator.

Every test runs against aiohttp.web, FastAPI under uvicorn, and Flask under
waitress, serving the same routes (see ``_apps``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from descope_keys import DescopeKeys
from descope_keys.emulator import Emulator
from tests._servers import serve as serve_aiohttp
from tests.integrations import _apps
from tests.integrations.conftest import Tokens, jwks_fetches, new_client

FRAMEWORKS = ("aiohttp", "fastapi", "flask")
CHALLENGE = 'Bearer error="invalid_token"'


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


class Site:
    """Serves the test app of one framework, with middleware options chosen per test."""

    def __init__(self, framework: str, emulator: Emulator) -> None:
        self.framework = framework
        self.emulator = emulator
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "only while serving"
        return self._session

    @contextlib.asynccontextmanager
    async def serve(self, **options: Any) -> AsyncIterator[str]:
        """Serve the app; the HTTP client session lives inside, so it closes first."""
        options.setdefault("exclude", _apps.EXCLUDE)
        async with self._server(options) as url:
            timeout = aiohttp.ClientTimeout(total=15)
            async with aiohttp.ClientSession(timeout=timeout) as self._session:
                yield url
            self._session = None

    @contextlib.asynccontextmanager
    async def _server(self, options: dict[str, Any]) -> AsyncIterator[str]:
        if self.framework == "flask":
            emu = self.emulator
            client = DescopeKeys(emu.project_id, emu.management_key, base_url=emu.base_url)
            try:
                async with _apps.serve_wsgi(_apps.flask_app(client, **options)) as url:
                    yield url
            finally:
                # Off the loop: the sync client would block (and warn about) this thread.
                await asyncio.to_thread(client.close)
            return
        async with new_client(self.emulator) as client:
            if self.framework == "aiohttp":
                async with serve_aiohttp(_apps.aiohttp_app(client, **options)) as url:
                    yield url
            else:
                async with _apps.serve_asgi(_apps.fastapi_app(client, **options)) as url:
                    yield url

    async def get(self, url: str, jwt: str | None = None, **headers: str) -> Answer:
        if jwt is not None:
            headers["Authorization"] = f"Bearer {jwt}"
        async with self.session.get(url, headers=headers) as response:
            return Answer(response.status, response.headers, await response.text())

    def error(self, answer: Answer) -> dict[str, str]:
        """The error object of a refusal (FastAPI dependencies nest it under "detail")."""
        body: dict[str, Any] = answer.json
        return body.get("detail", body)


@pytest.fixture(params=FRAMEWORKS)
def site(request: pytest.FixtureRequest, emulator: Emulator) -> Site:
    return Site(request.param, emulator)


def assert_invalid_token(answer: Answer, reason: str) -> None:
    assert answer.status == 401, answer.text
    assert answer.headers["WWW-Authenticate"] == CHALLENGE
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json == {"error": "invalid_token", "reason": reason}


# -- 200 / 401 ------------------------------------------------------------------


async def test_valid_token_is_served_and_attached(site: Site, tokens: Tokens) -> None:
    async with site.serve() as url:
        answer = await site.get(f"{url}/whoami", tokens.viewer)
    assert answer.status == 200, answer.text
    assert answer.json["key_id"].startswith("K")


async def test_missing_token_is_401_invalid_token(site: Site, tokens: Tokens) -> None:
    async with site.serve() as url:
        assert_invalid_token(await site.get(f"{url}/whoami"), "missing_token")


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])
async def test_malformed_authorization_is_401(site: Site, tokens: Tokens, value: str) -> None:
    async with site.serve() as url:
        answer = await site.get(f"{url}/whoami", Authorization=value)
    assert_invalid_token(answer, "malformed_authorization")


async def test_two_authorization_headers_are_401(site: Site, tokens: Tokens) -> None:
    headers = CIMultiDict([("Authorization", f"Bearer {tokens.viewer}")] * 2)
    async with site.serve() as url, site.session.get(f"{url}/whoami", headers=headers) as r:
        answer = Answer(r.status, r.headers, await r.text())
    assert_invalid_token(answer, "malformed_authorization")


@pytest.mark.parametrize(
    ("which", "reason"),
    [("expired", "expired"), ("forged", "bad_signature"), ("garbage", "malformed")],
)
async def test_rejected_token_is_401_with_its_reason(
    site: Site, tokens: Tokens, which: str, reason: str
) -> None:
    jwt = "garbage" if which == "garbage" else getattr(tokens, which)
    async with site.serve() as url:
        assert_invalid_token(await site.get(f"{url}/whoami", jwt), reason)


# -- 403 ------------------------------------------------------------------------


async def test_middleware_roles_are_all_required(site: Site, tokens: Tokens) -> None:
    async with site.serve(roles=["admin"]) as url:
        ok = await site.get(f"{url}/whoami", tokens.admin)
        refused = await site.get(f"{url}/whoami", tokens.viewer)
    assert ok.status == 200, ok.text
    assert refused.status == 403
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert refused.json == {"error": "insufficient_scope", "reason": "missing_role"}


async def test_middleware_permissions_are_all_required(site: Site, tokens: Tokens) -> None:
    async with site.serve(permissions=["read", "write"]) as url:
        ok = await site.get(f"{url}/whoami", tokens.admin)
        refused = await site.get(f"{url}/whoami", tokens.viewer)
    assert ok.status == 200, ok.text
    assert refused.status == 403
    assert refused.json == {"error": "insufficient_scope", "reason": "missing_permission"}


async def test_per_route_role_requirement(site: Site, tokens: Tokens) -> None:
    async with site.serve() as url:
        ok = await site.get(f"{url}/admin", tokens.admin)
        refused = await site.get(f"{url}/admin", tokens.viewer)
        plain = await site.get(f"{url}/whoami", tokens.viewer)
    assert ok.status == 200, ok.text
    assert plain.status == 200
    assert refused.status == 403
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert site.error(refused) == {"error": "insufficient_scope", "reason": "missing_role"}


# -- tenants --------------------------------------------------------------------


async def test_tenant_scoped_roles(site: Site, tokens: Tokens) -> None:
    async with site.serve(roles=["admin"], tenant="T1") as url:
        member = await site.get(f"{url}/whoami", tokens.tenant)
        dct_only = await site.get(f"{url}/whoami", tokens.dct_only)
        project_admin = await site.get(f"{url}/whoami", tokens.admin)
    assert member.status == 200, member.text
    assert dct_only.status == 200, dct_only.text
    # A project-level admin is not an admin of T1: it does not belong to T1.
    assert project_admin.status == 403
    assert project_admin.json["reason"] == "tenant_not_allowed"


async def test_roles_are_checked_within_the_required_tenant(site: Site, tokens: Tokens) -> None:
    async with site.serve(roles=["admin"], tenant="T2") as url:
        admin_elsewhere = await site.get(f"{url}/whoami", tokens.tenant)
    async with site.serve(permissions=["read"], tenant="T2") as url:
        reader = await site.get(f"{url}/whoami", tokens.tenant)
    assert admin_elsewhere.status == 403
    assert admin_elsewhere.json["reason"] == "missing_role"
    assert reader.status == 200, reader.text


async def test_per_route_tenant_requirement(site: Site, tokens: Tokens) -> None:
    async with site.serve() as url:
        member = await site.get(f"{url}/t1/admin", tokens.tenant)
        dct_only = await site.get(f"{url}/t1/admin", tokens.dct_only)
        outsider = await site.get(f"{url}/t1/admin", tokens.admin)
    assert member.status == 200, member.text
    assert dct_only.status == 200, dct_only.text
    assert outsider.status == 403
    assert site.error(outsider)["reason"] == "tenant_not_allowed"


# -- exclusions -------------------------------------------------------------------


async def test_excluded_prefixes_pass_without_a_token(site: Site, tokens: Tokens) -> None:
    async with site.serve() as url:
        health = await site.get(f"{url}/health")
        below = await site.get(f"{url}/health/live")
        lookalike = await site.get(f"{url}/healthz")
        lookalike_with_token = await site.get(f"{url}/healthz", tokens.viewer)
    assert health.status == 200, health.text
    assert below.status == 200, below.text
    assert_invalid_token(lookalike, "missing_token")
    assert lookalike_with_token.status == 200


async def test_an_encoded_slash_does_not_stretch_an_exclusion(site: Site, tokens: Tokens) -> None:
    # "/health%2Fx/profile" must not pass as "/health/..." while the router
    # matches the protected "/{user}/profile" with user="health/x".
    async with site.serve() as url:
        sneaky = await site.get(f"{url}/health%2Fx/profile")
        with_token = await site.get(f"{url}/alice/profile", tokens.viewer)
    assert sneaky.status != 200, sneaky.text
    if sneaky.status != 404:  # a router that does not match it at all is fine too
        assert_invalid_token(sneaky, "missing_token")
    assert with_token.status == 200, with_token.text


async def test_per_route_requirement_on_an_excluded_path_is_401(site: Site, tokens: Tokens) -> None:
    async with site.serve(exclude=["/admin"]) as url:
        answer = await site.get(f"{url}/admin", tokens.admin)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == CHALLENGE
    assert site.error(answer) == {"error": "invalid_token", "reason": "missing_token"}


# -- concurrency, key-set failures, secrecy ------------------------------------------


async def test_parallel_requests_on_a_cold_client_fetch_the_jwks_once(
    site: Site, tokens: Tokens, emulator: Emulator
) -> None:
    before = jwks_fetches(emulator)
    jwts = [tokens.viewer, tokens.admin, tokens.tenant, tokens.dct_only] * 16
    async with site.serve() as url:
        answers = await asyncio.gather(*(site.get(f"{url}/whoami", jwt) for jwt in jwts))
    assert [a.status for a in answers] == [200] * len(jwts)
    assert jwks_fetches(emulator) - before == 1


async def test_unavailable_key_set_is_503_not_invalid_token(
    site: Site, tokens: Tokens, emulator: Emulator
) -> None:
    emulator.inject_fault("/v2/keys", status=503, times=None)
    async with site.serve() as url:
        answer = await site.get(f"{url}/whoami", tokens.viewer)
    emulator.clear_faults()
    assert answer.status == 503, answer.text
    assert "WWW-Authenticate" not in answer.headers
    assert answer.json == {"error": "jwks_unavailable", "reason": "jwks_unavailable"}


async def test_tokens_are_never_echoed(site: Site, tokens: Tokens) -> None:
    jwts = [tokens.viewer, tokens.expired, tokens.forged, tokens.tenant]
    async with site.serve(roles=["admin"], tenant="T1") as url:
        answers = [await site.get(f"{url}/whoami", jwt) for jwt in jwts]
        answers.append(await site.get(f"{url}/whoami", Authorization=f"Basic {tokens.admin}"))
    assert [a.status for a in answers] == [403, 401, 401, 200, 401]
    seen = "".join(a.text + repr(dict(a.headers)) for a in answers)
    for jwt in [*jwts, tokens.admin]:
        assert jwt.split(".")[1] not in seen
        assert jwt.split(".")[2] not in seen


async def test_asgi_lifespan_state_passes_through(emulator: Emulator, tokens: Tokens) -> None:
    async with new_client(emulator) as client:
        app = _apps.fastapi_app(client, exclude=["/health"])
        async with _apps.serve_asgi(app) as url, aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {tokens.viewer}"}
            async with session.get(f"{url}/whoami", headers=headers) as response:
                body = await response.json()
            async with session.get(f"{url}/health") as response:
                open_body = await response.json()
    assert app.state.started == [True]
    # The lifespan state reached the request, next to the token, in the same dict.
    assert body["lifespan"] == "ran"
    assert body["same"] is True
    assert open_body == {"key_id": None, "lifespan": "ran", "same": True}
