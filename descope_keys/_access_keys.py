"""AsyncAccessKeys: the access-key management operations (docs/wire.md §3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import cattrs

from . import _retry
from ._arguments import (
    check_claims,
    check_expire_time,
    check_id,
    check_ids,
    check_ips,
    check_json_object,
    check_optional_str,
    check_role_names,
    check_str,
    check_strings,
    check_tenants,
)
from ._converter import converter
from ._models import AccessKey, CreatedAccessKey, KeyTenant
from ._reconcile import CreateReconciler
from ._retry import Safety
from .errors import ConfigurationError, InvalidArgumentError, TransportError

if TYPE_CHECKING:
    from ._client import AsyncDescopeKeys

__all__ = ["AsyncAccessKeys"]

_BASE = "/v1/mgmt/accesskey"


def _parse_key(value: Any, operation: str) -> AccessKey:
    try:
        return converter.structure(value, AccessKey)
    except (TypeError, ValueError, cattrs.BaseValidationError) as exc:
        raise TransportError(
            "the response carries a malformed access key", operation=operation
        ) from exc


def _key_from(body: Any, operation: str) -> AccessKey:
    key = body.get("key") if isinstance(body, Mapping) else None
    if not isinstance(key, Mapping):
        raise TransportError("the response carries no access key", operation=operation)
    return _parse_key(key, operation)


def _created_from(body: Any, operation: str) -> CreatedAccessKey:
    key = _key_from(body, operation)
    cleartext = body.get("cleartext")
    if not isinstance(cleartext, str) or not cleartext:
        raise TransportError("the response carries no cleartext secret", operation=operation)
    return CreatedAccessKey(key, cleartext)


def _with_secret(result: CreatedAccessKey | AccessKey, operation: str) -> CreatedAccessKey:
    if isinstance(result, AccessKey):
        raise TransportError("the response carries no cleartext secret", operation=operation)
    return result


class AsyncAccessKeys:
    """Access-key management: ``client.access_keys``.

    Every call needs the client's management key and raises
    :class:`~descope_keys.InvalidArgumentError` for bad input before any I/O.
    """

    def __init__(self, client: AsyncDescopeKeys) -> None:
        self._client = client

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        safety: Safety,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        authorization = self._authorization()
        transport = self._client._transport

        async def attempt() -> Any:
            response = await transport.send(
                operation, method, path, authorization=authorization, body=body, params=params
            )
            # Parsed inside the attempt: an unusable 2xx body is then a failed
            # attempt, retried where the operation allows it.
            return response.body if parse is None else parse(response.body)

        client = self._client
        return await _retry.run(
            client._retry_policy, operation, safety, attempt, budget=client._retry_budget
        )

    def _authorization(self) -> str:
        key = self._client._settings.management_key
        if key is None:
            raise ConfigurationError(
                "management calls need a management key: pass management_key= "
                "or set DESCOPE_MANAGEMENT_KEY"
            )
        return self._client._transport.bearer(key)

    async def create(
        self,
        name: str,
        *,
        expire_time: datetime | timedelta | None = None,
        role_names: Sequence[str] = (),
        key_tenants: Sequence[KeyTenant] = (),
        user_id: str | None = None,
        custom_claims: Mapping[str, Any] | None = None,
        description: str | None = None,
        permitted_ips: Sequence[str] | None = None,
        custom_attributes: Mapping[str, Any] | None = None,
    ) -> CreatedAccessKey:
        """Create an access key and return it with its one-time cleartext secret.

        Args:
            name: Human name of the key.
            expire_time: An aware ``datetime``, a ``timedelta`` from now, or
                ``None`` for a key that never expires.
            role_names: Project-level roles. Not together with ``key_tenants``.
            key_tenants: Tenants with per-tenant roles (``KeyTenant`` values).
            user_id: Bind the key to this user (it then acts with their roles).
            custom_claims: Claims added to every JWT of this key.
            description: Free text.
            permitted_ips: IP addresses or CIDR ranges allowed to exchange the key.
            custom_attributes: Attributes to search by.

        Returns:
            The key and its cleartext. The cleartext is shown only now: store it.

        Raises:
            InvalidArgumentError: bad input (before any I/O).
            AmbiguousResultError: the outcome could not be established safely.
            ApiError: the API refused the call.
        """
        body = {
            "name": check_str("name", name),
            "expireTime": check_expire_time("expire_time", expire_time),
            "roleNames": check_role_names("role_names", role_names),
            "keyTenants": check_tenants("key_tenants", key_tenants),
            "userId": None if user_id is None else check_str("user_id", user_id),
            "customClaims": None
            if custom_claims is None
            else check_claims("custom_claims", custom_claims),
            "description": check_optional_str("description", description),
            "permittedIps": None
            if permitted_ips is None
            else check_ips("permitted_ips", permitted_ips),
            "customAttributes": None
            if custom_attributes is None
            else check_json_object("custom_attributes", custom_attributes),
        }
        if body["roleNames"] and body["keyTenants"]:
            raise InvalidArgumentError(
                "role_names", "cannot be combined with key_tenants: give roles per tenant"
            )
        return await self._create(body)

    async def _create(self, body: Mapping[str, Any]) -> CreatedAccessKey:
        operation = "access_keys.create"
        authorization = self._authorization()
        client = self._client
        transport, ledger, name = client._transport, client._creates, str(body["name"])

        async def attempt() -> CreatedAccessKey | AccessKey:
            # Counted as in flight until its key id is on record, so that a
            # sibling's reconcile never mistakes this call's new key for an orphan.
            with ledger.in_flight(name):
                response = await transport.send(
                    operation, "POST", f"{_BASE}/create", authorization=authorization, body=body
                )
                # Parsed inside the attempt: a 2xx body without a key is an
                # ambiguous failure, reconciled and retried like a lost answer.
                key = _key_from(response.body, operation)
                cleartext = response.body.get("cleartext")
                if not isinstance(cleartext, str) or not cleartext:
                    return key  # made, but its secret is lost: see below
                ledger.returned(key.id)
            return CreatedAccessKey(key, cleartext)

        policy, budget = client._retry_policy, client._retry_budget
        if not ledger.reconcile:
            # Test-only negative control: retry blindly, as the official SDKs do.
            result = await _retry.run(policy, operation, Safety.IDEMPOTENT, attempt, budget=budget)
            return _with_secret(result, operation)
        reconciler = CreateReconciler(
            operation=operation,
            body=body,
            transport=transport,
            authorization=authorization,
            policy=policy,
            budget=budget,
            ledger=ledger,
        )
        result = await _retry.run(
            policy, operation, Safety.UNSAFE, attempt, budget=budget, reconcile=reconciler
        )
        if isinstance(result, AccessKey):
            # A server that answers without the secret is broken, not flaky:
            # delete the unusable key and report, rather than retry.
            await reconciler.discard(result.id, "the response carries no cleartext secret")
        return _with_secret(result, operation)

    async def load(self, key_id: str) -> AccessKey:
        """Load one access key by id.

        Raises:
            NotFoundError: no key has that id.
        """
        params = {"id": check_id("key_id", key_id)}
        operation = "access_keys.load"
        result = await self._call(operation, "GET", _BASE, Safety.IDEMPOTENT, params=params)
        return _key_from(result, operation)

    async def search(
        self,
        *,
        tenant_ids: Sequence[str] | None = None,
        bound_user_id: str | None = None,
        creating_user: str | None = None,
        custom_attributes: Mapping[str, Any] | None = None,
    ) -> list[AccessKey]:
        """Find access keys; every given filter must match (all keys when none given).

        Args:
            tenant_ids: Keys in any of these tenants.
            bound_user_id: Keys bound to this user.
            creating_user: Keys created by this user.
            custom_attributes: Keys whose custom attributes have these values.
        """
        body = {
            "tenantIds": []
            if tenant_ids is None
            else check_strings("tenant_ids", tenant_ids, what="tenant ids"),
            "boundUserId": None
            if bound_user_id is None
            else check_str("bound_user_id", bound_user_id),
            "creatingUser": None
            if creating_user is None
            else check_str("creating_user", creating_user),
            "customAttributes": None
            if custom_attributes is None
            else check_json_object("custom_attributes", custom_attributes),
        }
        operation = "access_keys.search"
        result = await self._call(
            operation, "POST", f"{_BASE}/search", Safety.IDEMPOTENT, body=body
        )
        keys = result.get("keys") if isinstance(result, Mapping) else None
        if keys is None:
            return []
        if not isinstance(keys, list):
            raise TransportError("the response's keys are not a list", operation=operation)
        return [_parse_key(k, operation) for k in keys]

    async def update(
        self,
        key_id: str,
        *,
        name: str,
        description: str | None = None,
        custom_claims: Mapping[str, Any] | None = None,
        permitted_ips: Sequence[str] | None = None,
        custom_attributes: Mapping[str, Any] | None = None,
        role_names: Sequence[str] | None = None,
        key_tenants: Sequence[KeyTenant] | None = None,
    ) -> AccessKey | None:
        """Update a key. ``name`` is always set; other fields only when given.

        ``None`` keeps a field as it is; an empty list clears ``permitted_ips``,
        ``role_names`` or ``key_tenants``.

        Returns:
            The updated key when the server returns it, else ``None``.
        """
        body: dict[str, Any] = {"id": check_id("key_id", key_id), "name": check_str("name", name)}
        if description is not None:
            body["description"] = check_optional_str("description", description)
        if custom_claims is not None:
            body["customClaims"] = check_claims("custom_claims", custom_claims)
        if permitted_ips is not None:
            body["permittedIps"] = check_ips("permitted_ips", permitted_ips)
        if custom_attributes is not None:
            body["customAttributes"] = check_json_object("custom_attributes", custom_attributes)
        if role_names is not None:
            body["roleNames"] = check_role_names("role_names", role_names)
        if key_tenants is not None:
            body["keyTenants"] = check_tenants("key_tenants", key_tenants)
        if body.get("roleNames") and body.get("keyTenants"):
            raise InvalidArgumentError(
                "role_names", "cannot be combined with key_tenants: give roles per tenant"
            )
        operation = "access_keys.update"
        result = await self._call(
            operation, "POST", f"{_BASE}/update", Safety.IDEMPOTENT, body=body
        )
        if isinstance(result, Mapping) and isinstance(result.get("key"), Mapping):
            return _key_from(result, operation)
        return None

    async def _by_id(self, operation: str, path: str, key_id: str, safety: Safety) -> None:
        body = {"id": check_id("key_id", key_id)}
        await self._call(f"access_keys.{operation}", "POST", path, safety, body=body)

    async def activate(self, key_id: str) -> None:
        """Activate a key so it can be exchanged again."""
        await self._by_id("activate", f"{_BASE}/activate", key_id, Safety.IDEMPOTENT)

    async def deactivate(self, key_id: str) -> None:
        """Deactivate a key: exchanges fail until it is activated (issued JWTs stay valid)."""
        await self._by_id("deactivate", f"{_BASE}/deactivate", key_id, Safety.IDEMPOTENT)

    async def delete(self, key_id: str) -> None:
        """Delete a key for good (issued JWTs stay valid until they expire)."""
        await self._by_id("delete", f"{_BASE}/delete", key_id, Safety.DELETE)

    async def rotate(self, key_id: str) -> CreatedAccessKey:
        """Replace a key's secret; the old secret stops working at once.

        Returns:
            The key and its new cleartext, shown only now: store it.
        """
        operation = "access_keys.rotate"
        body = {"id": check_id("key_id", key_id)}
        # A 2xx without the new secret must be retried: the old secret is
        # already dead, and a repeat returns a newer one that works.
        created: CreatedAccessKey = await self._call(
            operation,
            "POST",
            f"{_BASE}/rotate",
            Safety.IDEMPOTENT,
            body=body,
            parse=lambda result: _created_from(result, operation),
        )
        return created

    async def _batch(self, operation: str, key_ids: Iterable[str]) -> None:
        body = {"ids": check_ids("key_ids", key_ids)}
        await self._call(
            f"access_keys.{operation}_many",
            "POST",
            f"{_BASE}/{operation}/batch",
            Safety.DELETE_MANY if operation == "delete" else Safety.IDEMPOTENT,
            body=body,
        )

    async def activate_many(self, key_ids: Iterable[str]) -> None:
        """Activate several keys in one request."""
        await self._batch("activate", key_ids)

    async def deactivate_many(self, key_ids: Iterable[str]) -> None:
        """Deactivate several keys in one request."""
        await self._batch("deactivate", key_ids)

    async def delete_many(self, key_ids: Iterable[str]) -> None:
        """Delete several keys in one request."""
        await self._batch("delete", key_ids)
