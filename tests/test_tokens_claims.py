"""AccessKeyToken: what a validated token exposes, and that none of it can be changed."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest

from descope_keys._tokens import AccessKeyToken, TenantClaims, TokenValidator
from tests._jwt_factory import PROJECT_ID, claims, mint, private_key, public_jwk


@pytest.fixture
def validator() -> TokenValidator:
    return TokenValidator(PROJECT_ID, fetch=None, public_key=public_jwk(private_key(0), "k1"))


def validate(validator: TokenValidator, payload: dict[str, Any]) -> AccessKeyToken:
    token = validator.validate_local(mint(private_key(0), payload))
    assert token is not None
    return token


def test_fields_of_a_typical_token(validator: TokenValidator) -> None:
    now = int(time.time())
    payload = claims(
        iat=now,
        exp=now + 600,
        roles=["deployer"],
        permissions=["deploy"],
        tenants={"T1": {"roles": ["admin"], "permissions": ["read", "write"]}},
        team="platform",
    )
    jwt = mint(private_key(0), payload)
    token = validator.validate_local(jwt)
    assert token is not None
    assert token.jwt == jwt
    assert token.key_id == "K2AccessKey0001"
    assert token.project_id == PROJECT_ID
    assert token.issued_at == datetime.fromtimestamp(now, timezone.utc)
    assert token.expires_at == datetime.fromtimestamp(now + 600, timezone.utc)
    assert token.issued_at.tzinfo is timezone.utc
    assert token.roles == ("deployer",)
    assert token.permissions == ("deploy",)
    assert token.tenants == {"T1": TenantClaims(("admin",), ("read", "write"))}
    assert token.nsec == {}
    assert token.current_tenant is None
    assert token.claims["team"] == "platform"
    assert set(token.claims) == set(payload)
    assert token.claims["exp"] == now + 600
    assert token.claims["tenants"] == {
        "T1": {"roles": ("admin",), "permissions": ("read", "write")}
    }


def test_field_order_is_pinned() -> None:
    # The validator builds tokens positionally on its hot path.
    assert [f.name for f in attrs.fields(AccessKeyToken)] == [
        "jwt",
        "key_id",
        "project_id",
        "issued_at",
        "expires_at",
        "roles",
        "permissions",
        "tenants",
        "nsec",
        "claims",
        "current_tenant",
    ]


def test_dsub_overrides_sub(validator: TokenValidator) -> None:
    token = validate(validator, claims(sub="U2User", dsub="K2Key"))
    assert token.key_id == "K2Key"


def test_missing_iat_gives_no_issued_at(validator: TokenValidator) -> None:
    assert validate(validator, claims(iat=None)).issued_at is None


def test_fractional_times_are_kept(validator: TokenValidator) -> None:
    exp = time.time() + 300.5
    token = validate(validator, claims(exp=exp))
    assert token.expires_at == datetime.fromtimestamp(exp, timezone.utc)


def test_current_tenant_fallback_when_tenants_is_absent(validator: TokenValidator) -> None:
    token = validate(
        validator, claims(tenants=None, dct="T7", roles=["editor"], permissions=["edit"])
    )
    assert token.current_tenant == "T7"
    assert token.tenants == {"T7": TenantClaims(("editor",), ("edit",))}
    assert token.has_role("editor", tenant="T7")
    assert token.has_permission("edit", tenant="T7")
    # Those roles are the tenant's: they grant nothing at project level.
    assert token.roles == ()
    assert token.permissions == ()
    assert not token.has_role("editor")
    assert not token.has_permission("edit")


def test_tenants_claim_wins_over_the_fallback(validator: TokenValidator) -> None:
    token = validate(validator, claims(dct="T1", tenants={"T1": {"roles": ["viewer"]}}))
    assert token.current_tenant == "T1"
    assert token.tenants == {"T1": TenantClaims(("viewer",), ())}


def test_roles_and_permissions_by_tenant(validator: TokenValidator) -> None:
    token = validate(
        validator,
        claims(
            roles=["deployer"],
            permissions=["deploy"],
            tenants={"T1": {"roles": ["admin"], "permissions": ["read"]}, "T2": {}},
        ),
    )
    assert token.has_role("deployer")
    assert not token.has_role("admin")
    assert token.has_role("admin", tenant="T1")
    assert not token.has_role("deployer", tenant="T1")
    assert not token.has_role("admin", tenant="T2")
    assert not token.has_role("admin", tenant="T3")
    assert token.has_permission("deploy")
    assert token.has_permission("read", tenant="T1")
    assert not token.has_permission("read")
    assert not token.has_permission("read", tenant="T2")


def test_role_checks_are_exact_not_substring(validator: TokenValidator) -> None:
    token = validate(validator, claims(roles=["administrator"]))
    assert not token.has_role("admin")


def test_nsec_is_kept_apart_from_trusted_claims(validator: TokenValidator) -> None:
    token = validate(validator, claims(nsec={"roles": ["admin"], "env": "prod"}, team="ops"))
    assert token.nsec == {"roles": ("admin",), "env": "prod"}
    # Caller-supplied claims never become roles.
    assert not token.has_role("admin")
    assert token.claims["team"] == "ops"
    assert token.claims["nsec"] == token.nsec


def test_claims_are_deeply_read_only(validator: TokenValidator) -> None:
    token = validate(
        validator, claims(nsec={"deep": {"list": [1, {"x": [2]}]}}, extra={"a": [1, 2]})
    )
    with pytest.raises(TypeError):
        token.claims["roles"] = ["admin"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        token.claims["roles"].append("admin")
    assert isinstance(token.claims["extra"]["a"], tuple)
    with pytest.raises(TypeError):
        token.claims["extra"]["a"] = []
    nested = token.nsec["deep"]["list"]
    assert nested[0] == 1
    with pytest.raises(TypeError):
        nested[1]["x"] = []
    assert nested[1]["x"] == (2,)
    with pytest.raises(TypeError):
        token.tenants["T9"] = TenantClaims()  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        token.roles = ("admin",)  # type: ignore[misc]


def test_a_cached_token_is_shared_unchanged(validator: TokenValidator) -> None:
    jwt = mint(private_key(0), claims(extra={"a": [1]}))
    first = validator.validate_local(jwt)
    second = validator.validate_local(jwt)
    assert first is second
    assert first is not None
    assert first.claims["extra"] == {"a": (1,)}


def test_repr_hides_the_jwt(validator: TokenValidator) -> None:
    jwt = mint(private_key(0))
    token = validator.validate_local(jwt)
    assert token is not None
    for text in (repr(token), str(token)):
        assert "K2AccessKey0001" in text
        for part in jwt.split("."):
            assert part not in text


def test_tokens_hash_by_their_jwt(validator: TokenValidator) -> None:
    jwt = mint(private_key(0))
    token = validator.validate_local(jwt)
    assert token is not None
    assert hash(token) == hash(attrs.evolve(token))
    assert {token: 1}[token] == 1


def test_claims_view_behaves_like_a_mapping(validator: TokenValidator) -> None:
    token = validate(validator, claims(team="ops"))
    assert "team" in token.claims
    assert "nope" not in token.claims
    assert token.claims.get("nope") is None
    assert len(token.claims) == len(list(token.claims))
    assert "team" in repr(token.claims)
    with pytest.raises(KeyError):
        token.claims["nope"]


def test_a_str_subclass_is_validated_as_plain_text(validator: TokenValidator) -> None:
    class Sneaky(str):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return 1

    good = mint(private_key(0))
    assert validator.validate_local(good) is not None
    token = validator.validate_local(Sneaky(mint(private_key(0), claims(sub="K-other"))))
    assert token is not None
    assert token.key_id == "K-other"
    assert type(token.jwt) is str
