"""The shared core: bearer parsing, the authorization decision, exclusions, answers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import pytest

from descope_keys import AsyncDescopeKeys, JwksPolicy, RetryPolicy
from descope_keys.errors import InvalidArgumentError
from descope_keys.integrations._core import (
    MAX_AUTHORIZATION_CHARS,
    Denial,
    Guard,
    Requirement,
    bearer_token,
    check_client,
)
from tests._jwt_factory import PROJECT_ID
from tests._servers import closed_port
from tests.integrations._tokens import PinnedSyncValidator, forged_jwt, jwt, pinned_jwks, token


@pytest.fixture
async def pinned_client() -> AsyncIterator[AsyncDescopeKeys]:
    async with AsyncDescopeKeys(PROJECT_ID, public_key=pinned_jwks()) as client:
        yield client


def reason_of(result: object) -> str:
    assert isinstance(result, Denial), result
    return result.reason


# -- bearer parsing -----------------------------------------------------------


def test_bearer_token_is_read_from_one_header() -> None:
    assert bearer_token(["Bearer abc.def.ghi"]) == "abc.def.ghi"


@pytest.mark.parametrize("value", ["bearer t", "BEARER t", "BeArEr t", "  Bearer \t t  "])
def test_bearer_scheme_is_case_insensitive_and_whitespace_tolerant(value: str) -> None:
    assert bearer_token([value]) == "t"


@pytest.mark.parametrize("values", [[], [""], ["   "]])
def test_absent_or_empty_authorization_is_missing_token(values: list[str]) -> None:
    assert reason_of(bearer_token(values)) == "missing_token"


@pytest.mark.parametrize(
    "values",
    [
        ["Bearer"],
        ["Basic dXNlcjpwYXNz"],
        ["Bearer a b"],
        ["Bearer a, Bearer b"],
        ["Token abc"],
        ["Bearer a", "Bearer a"],
    ],
)
def test_anything_but_exactly_one_bearer_token_is_malformed(values: list[str]) -> None:
    assert reason_of(bearer_token(values)) == "malformed_authorization"


def test_oversized_authorization_is_refused_before_splitting() -> None:
    assert reason_of(bearer_token(["Bearer " + "a" * MAX_AUTHORIZATION_CHARS])) == "oversized"


# -- answers ------------------------------------------------------------------


def test_invalid_token_answer_is_rfc6750_401_with_json() -> None:
    denial = bearer_token([])
    assert isinstance(denial, Denial)
    assert denial.status == 401
    assert denial.status_line == "401 Unauthorized"
    headers = dict(denial.headers)
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(denial.body))
    assert json.loads(denial.body) == {"error": "invalid_token", "reason": "missing_token"}


def test_insufficient_scope_answer_is_403_with_json() -> None:
    denial = Requirement(roles=["admin"]).judge(token(roles=[]))
    assert denial is not None
    assert denial.status_line == "403 Forbidden"
    assert dict(denial.headers)["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert json.loads(denial.body) == {"error": "insufficient_scope", "reason": "missing_role"}


# -- the authorization decision ----------------------------------------------


def test_no_requirement_accepts_any_valid_token() -> None:
    assert Requirement().judge(token(roles=None, permissions=None, tenants=None)) is None


def test_no_token_never_meets_a_requirement_even_an_empty_one() -> None:
    assert reason_of(Requirement().judge(None)) == "missing_token"
    assert reason_of(Requirement(roles=["a"], tenant="T1").judge(None)) == "missing_token"


def test_project_roles_and_permissions_must_all_be_granted() -> None:
    t = token(roles=["a", "b"], permissions=["p", "q"])
    assert Requirement(roles=["a", "b"], permissions=["p", "q"]).judge(t) is None
    assert reason_of(Requirement(roles=["a", "c"]).judge(t)) == "missing_role"
    assert reason_of(Requirement(permissions=["p", "x"]).judge(t)) == "missing_permission"


def test_project_level_check_ignores_tenant_grants() -> None:
    t = token(roles=[], tenants={"T1": {"roles": ["admin"], "permissions": []}})
    assert reason_of(Requirement(roles=["admin"]).judge(t)) == "missing_role"


def test_tenant_requirement_checks_roles_within_that_tenant() -> None:
    t = token(
        roles=["admin"],
        permissions=["deploy"],
        tenants={"T1": {"roles": ["viewer"], "permissions": ["read"]}},
    )
    assert Requirement(roles=["viewer"], permissions=["read"], tenant="T1").judge(t) is None
    # Project-level grants do not count inside a tenant.
    assert reason_of(Requirement(roles=["admin"], tenant="T1").judge(t)) == "missing_role"
    assert reason_of(Requirement(permissions=["deploy"], tenant="T1").judge(t)) == (
        "missing_permission"
    )


def test_tenant_requirement_refuses_a_token_of_another_tenant() -> None:
    t = token(tenants={"T2": {"roles": ["admin"], "permissions": []}})
    assert reason_of(Requirement(tenant="T1").judge(t)) == "tenant_not_allowed"
    assert reason_of(Requirement(roles=["admin"], tenant="T1").judge(t)) == "tenant_not_allowed"


def test_tenant_requirement_uses_the_dct_fallback_when_tenants_is_absent() -> None:
    t = token(tenants=None, dct="T1", roles=["admin"], permissions=["write"])
    assert Requirement(roles=["admin"], permissions=["write"], tenant="T1").judge(t) is None
    assert reason_of(Requirement(tenant="T2").judge(t)) == "tenant_not_allowed"


def test_dct_fallback_roles_grant_nothing_at_project_level() -> None:
    t = token(tenants=None, dct="T1", roles=["admin"], permissions=["write"])
    assert reason_of(Requirement(roles=["admin"]).judge(t)) == "missing_role"
    assert reason_of(Requirement(permissions=["write"]).judge(t)) == "missing_permission"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"roles": "admin"}, "roles"),
        ({"permissions": "read"}, "permissions"),
        ({"roles": [""]}, "roles"),
        ({"roles": [1]}, "roles"),
        ({"roles": 3}, "roles"),
        ({"tenant": ""}, "tenant"),
        ({"tenant": 5}, "tenant"),
    ],
)
def test_unusable_requirements_are_refused_at_construction(
    kwargs: dict[str, object], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Requirement(**kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


# -- exclusions -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/health/", "/health/live", "/metrics/x/y"])
def test_excluded_prefix_opens_its_path_and_below(path: str) -> None:
    assert Guard(exclude=["/health", "/metrics/"]).is_excluded(path)


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/healthz-admin",
        "/Health",
        "/api/health",
        "/",
        "",
        "//health",
        "/health//x",
        "/health/../admin",
        "/health/./x",
        "/health/..",
    ],
)
def test_exclusion_is_segment_aware_case_sensitive_and_fails_closed(path: str) -> None:
    assert not Guard(exclude=["/health"]).is_excluded(path)


def test_no_exclusions_excludes_nothing() -> None:
    assert not Guard().is_excluded("/health")


@pytest.mark.parametrize("exclude", [["/"], ["health"], ["/a/../b"], ["/a//b"], "/health", [""]])
def test_unusable_exclusions_are_refused(exclude: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Guard(exclude=exclude)  # type: ignore[arg-type]
    assert info.value.argument == "exclude"


def test_wsgi_exclusions_match_pep3333_latin1_paths() -> None:
    guard = Guard(exclude=["/café"], latin1_paths=True)
    assert guard.is_excluded("/café/menu".encode().decode("latin-1"))
    assert not guard.is_excluded("/café/menu")


# -- validation through a client ---------------------------------------------


async def test_valid_token_passes_and_is_returned(
    pinned_client: AsyncDescopeKeys,
) -> None:
    result = await Guard(roles=["deployer"]).authenticate(
        pinned_client, [f"Bearer {jwt(roles=['deployer'])}"]
    )
    assert not isinstance(result, Denial)
    assert result.key_id == "K2AccessKey0001"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: jwt(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), "expired"),
        (lambda: forged_jwt(), "bad_signature"),
        (lambda: "not-a-jwt", "malformed"),
        (lambda: jwt(iss="Psomeoneelse"), "bad_issuer"),
    ],
)
async def test_rejected_tokens_get_401_with_the_validator_reason(
    pinned_client: AsyncDescopeKeys, make: object, reason: str
) -> None:
    result = await Guard().authenticate(pinned_client, [f"Bearer {make()}"])  # type: ignore[operator]
    assert isinstance(result, Denial)
    assert (result.status, result.error, result.reason) == (401, "invalid_token", reason)


async def test_audience_is_enforced(pinned_client: AsyncDescopeKeys) -> None:
    guard = Guard(audience="api://orders")
    ok = await guard.authenticate(pinned_client, [f"Bearer {jwt(aud='api://orders')}"])
    assert not isinstance(ok, Denial)
    other = await guard.authenticate(pinned_client, [f"Bearer {jwt(aud='api://billing')}"])
    assert reason_of(other) == "bad_audience"


async def test_valid_token_lacking_a_role_gets_403(
    pinned_client: AsyncDescopeKeys,
) -> None:
    result = await Guard(roles=["admin"]).authenticate(pinned_client, [f"Bearer {jwt()}"])
    assert isinstance(result, Denial)
    assert (result.status, result.reason) == (403, "missing_role")


async def test_unreachable_key_set_answers_503_without_a_challenge() -> None:
    async with AsyncDescopeKeys(
        PROJECT_ID,
        base_url=f"http://127.0.0.1:{closed_port()}",
        retry=RetryPolicy.disabled(),
        jwks=JwksPolicy(timeout=2.0),
    ) as client:
        result = await Guard().authenticate(client, [f"Bearer {jwt()}"])
    assert isinstance(result, Denial)
    assert (result.status, result.error) == (503, "jwks_unavailable")
    assert result.status_line == "503 Service Unavailable"
    assert "WWW-Authenticate" not in dict(result.headers)


def test_sync_flow_matches_the_async_one() -> None:
    client = PinnedSyncValidator()
    guard = Guard(roles=["deployer"])
    ok = guard.authenticate_sync(client, (f"Bearer {jwt()}",))
    assert not isinstance(ok, Denial)
    assert ok.roles == ("deployer",)
    assert reason_of(guard.authenticate_sync(client, ())) == "missing_token"
    assert reason_of(guard.authenticate_sync(client, (f"Bearer {forged_jwt()}",))) == (
        "bad_signature"
    )
    assert reason_of(Guard(roles=["x"]).authenticate_sync(client, (f"Bearer {jwt()}",))) == (
        "missing_role"
    )


async def test_client_flavour_is_checked_at_construction(
    pinned_client: AsyncDescopeKeys,
) -> None:
    check_client(pinned_client, asynchronous=True)
    check_client(PinnedSyncValidator(), asynchronous=False)
    with pytest.raises(InvalidArgumentError, match="DescopeKeys"):
        check_client(pinned_client, asynchronous=False)
    with pytest.raises(InvalidArgumentError, match="AsyncDescopeKeys"):
        check_client(PinnedSyncValidator(), asynchronous=True)
    with pytest.raises(InvalidArgumentError):
        check_client(object(), asynchronous=True)


async def test_tokens_never_reach_logs_or_answers(
    pinned_client: AsyncDescopeKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="descope_keys")
    secrets = [jwt(), forged_jwt(), jwt(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)]
    answers = []
    for secret in secrets:
        for guard in (Guard(), Guard(roles=["nope"]), Guard(tenant="T9")):
            answers.append(await guard.authenticate(pinned_client, [f"Bearer {secret}"]))
    denials = [a for a in answers if isinstance(a, Denial)]
    assert len(denials) == 8  # the valid token passes the empty guard only
    text = caplog.text + "".join(repr(d) + d.body.decode() + repr(d.headers) for d in denials)
    for secret in secrets:
        for part in secret.split("."):
            assert part not in text
