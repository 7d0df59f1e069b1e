"""Locally minted access-key tokens and pinned-key validators for the integration tests."""

from __future__ import annotations

from typing import Any

from descope_keys._tokens import AccessKeyToken, TokenValidator
from tests._jwt_factory import PROJECT_ID, claims, mint, private_key, public_jwk

KID = "k1"


def pinned_jwks() -> dict[str, Any]:
    return {"keys": [public_jwk(private_key(), KID)]}


def jwt(**overrides: Any) -> str:
    """A token signed by the pinned key; ``None`` overrides remove a claim."""
    return mint(private_key(), claims(PROJECT_ID, **overrides), kid=KID)


def forged_jwt(**overrides: Any) -> str:
    """Same kid, signed by a key nobody published."""
    return mint(private_key(1), claims(PROJECT_ID, **overrides), kid=KID)


class PinnedSyncValidator:
    """A synchronous validator over pinned keys: the shape the WSGI adapter needs."""

    def __init__(self) -> None:
        self._validator = TokenValidator(PROJECT_ID, fetch=None, public_key=pinned_jwks())

    def validate_token(self, jwt: str, *, audience: str | None = None) -> AccessKeyToken:
        token = self._validator.validate_local(jwt, audience=audience)
        assert token is not None  # pinned keys never need a fetch
        return token


def token(**overrides: Any) -> AccessKeyToken:
    return PinnedSyncValidator().validate_token(jwt(**overrides))
