"""The API's paths and the one request body two callers build (WIRE.md §2-§4).

Written once, so that the access-key operations, the exchange, the JWKS fetch
and the create reconciler cannot drift apart on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ACCESS_KEY",
    "CREATE",
    "DELETE",
    "EXCHANGE",
    "ROTATE",
    "SEARCH",
    "UPDATE",
    "batch",
    "by_id",
    "jwks",
    "search_body",
]

ACCESS_KEY = "/v1/mgmt/accesskey"
CREATE = f"{ACCESS_KEY}/create"
SEARCH = f"{ACCESS_KEY}/search"
UPDATE = f"{ACCESS_KEY}/update"
DELETE = f"{ACCESS_KEY}/delete"
ROTATE = f"{ACCESS_KEY}/rotate"
EXCHANGE = "/v1/auth/accesskey/exchange"


def by_id(action: str) -> str:
    """The path of a single-key action: ``activate``, ``deactivate``, ``delete``."""
    return f"{ACCESS_KEY}/{action}"


def batch(action: str) -> str:
    """The path of a batch action: ``activate``, ``deactivate``, ``delete``."""
    return f"{ACCESS_KEY}/{action}/batch"


def jwks(project_id: str) -> str:
    """The project's public key set."""
    return f"/v2/keys/{project_id}"


def search_body(
    *,
    tenant_ids: Sequence[str] = (),
    bound_user_id: str | None = None,
    creating_user: str | None = None,
    custom_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A search request: every filter present, as the official SDK sends it."""
    return {
        "tenantIds": list(tenant_ids),
        "boundUserId": bound_user_id,
        "creatingUser": creating_user,
        "customAttributes": custom_attributes,
    }
