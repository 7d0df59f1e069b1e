"""AsyncAccessKeys: the access-key management operations (docs/wire.md §3)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import _endpoints
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
from ._call import Caller
from ._models import AccessKey, CreatedAccessKey, KeyTenant
from ._reconcile import CreateReconciler
from ._retry import Safety
from .errors import AmbiguousResultError, ConfigurationError, InvalidArgumentError, TransportError

if TYPE_CHECKING:
    import cattrs

    from ._transport import Response

__all__ = ["AsyncAccessKeys", "NewReconciler"]

#: Makes the reconcile step of one create call: ``(caller, operation, body)``.
NewReconciler = Callable[[Caller, str, Mapping[str, Any]], CreateReconciler]

_NO_MANAGEMENT_KEY = (
    "management calls need a management key: pass management_key= or set DESCOPE_MANAGEMENT_KEY"
)


@functools.cache
def _converter() -> tuple[cattrs.Converter, tuple[type[Exception], ...]]:
    """The converter and what its failures raise, imported with the first key to parse.

    cattrs costs more at import than the models it fills; a process that
    never reads a key from the API (a validating service, ``--help``) skips it.
    """
    import cattrs

    from ._converter import converter

    return converter, (TypeError, ValueError, cattrs.BaseValidationError)


def _parse_key(value: Any, operation: str) -> AccessKey:
    converter, failures = _converter()
    try:
        return converter.structure(value, AccessKey)
    except failures as exc:
        raise TransportError(
            "the response carries a malformed access key", operation=operation
        ) from exc


def _key_from(body: Any, operation: str) -> AccessKey:
    key = body.get("key") if isinstance(body, Mapping) else None
    if not isinstance(key, Mapping):
        raise TransportError("the response carries no access key", operation=operation)
    return _parse_key(key, operation)


def _cleartext(body: Mapping[str, Any]) -> str | None:
    cleartext = body.get("cleartext")
    return cleartext if isinstance(cleartext, str) and cleartext else None


def _restated(exc: AmbiguousResultError, what: str, key_ids: Sequence[str]) -> AmbiguousResultError:
    """The retry layer's ambiguity, told in the terms of the operation: what may have
    happened to which keys, and what the caller must do.

    Raise it ``from exc.__cause__``: the last attempt's error stays the cause,
    as the retry layer chained it."""
    return AmbiguousResultError(
        f"{what} (the last attempt failed with {_last_reason(exc)})",
        operation=exc.operation,
        attempts=exc.attempts,
        candidate_ids=exc.candidate_ids,
        key_ids=key_ids,
        last_error=exc.last_error,
    )


def _last_reason(exc: AmbiguousResultError) -> str:
    last = exc.last_error
    if last is None:
        return "an undecidable outcome"
    status = getattr(last, "status", None)
    return type(last).__name__ if status is None else f"{type(last).__name__} HTTP {status}"


def _created_from(body: Any, operation: str) -> CreatedAccessKey:
    key = _key_from(body, operation)
    cleartext = _cleartext(body)
    if cleartext is None:
        raise TransportError("the response carries no cleartext secret", operation=operation)
    return CreatedAccessKey(key, cleartext)


class AsyncAccessKeys:
    """Access-key management: ``client.access_keys``.

    Every call needs the client's management key and raises
    :class:`~descope_keys.InvalidArgumentError` for bad input before any I/O.
    """

    def __init__(self, caller: Caller | None, new_reconciler: NewReconciler) -> None:
        # None: the client has no management key, which each call reports
        # before any I/O.
        self._caller = caller
        self._new_reconciler = new_reconciler

    def _management(self) -> Caller:
        if self._caller is None:
            raise ConfigurationError(_NO_MANAGEMENT_KEY)
        return self._caller

    async def _call(
        self,
        operation: str,
        path: str,
        safety: Safety,
        *,
        method: str = "POST",
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        return await self._management().call(
            operation, method, path, safety=safety, body=body, params=params
        )

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
            ConfigurationError: the client has no management key.
            AmbiguousResultError: the outcome could not be established safely
                (a ``TransportError``).
            ApiError: the API refused the call.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
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
        caller = self._management()
        reconciler = self._new_reconciler(caller, operation, body)

        def parse(response: Response) -> CreatedAccessKey | AccessKey:
            # Parsed inside the attempt: a 2xx body without a key is an
            # ambiguous failure, reconciled and retried like a lost answer.
            key = _key_from(response.body, operation)
            cleartext = _cleartext(response.body)
            if cleartext is None:
                return key  # made, but its secret is lost: see below
            reconciler.returned(key.id)
            return CreatedAccessKey(key, cleartext)

        result = await caller.call(
            operation,
            "POST",
            _endpoints.CREATE,
            safety=Safety.UNSAFE,
            body=body,
            parse=parse,
            reconcile=reconciler,
        )
        if isinstance(result, AccessKey):
            # A server that answers without the secret is broken, not flaky:
            # delete the unusable key and report, rather than retry.
            why = "the response carries no cleartext secret"
            await reconciler.discard(result.id, why)
            raise TransportError(why, operation=operation)
        return result

    async def load(self, key_id: str) -> AccessKey:
        """Load one access key by id.

        Raises:
            NotFoundError: no key has that id.
            ApiError: the API refused the call otherwise.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        params = {"id": check_id("key_id", key_id)}
        operation = "access_keys.load"
        result = await self._call(
            operation, _endpoints.ACCESS_KEY, Safety.IDEMPOTENT, method="GET", params=params
        )
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

        Raises:
            ApiError: the API refused the call.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        body = _endpoints.search_body(
            tenant_ids=()
            if tenant_ids is None
            else check_strings("tenant_ids", tenant_ids, what="tenant ids"),
            bound_user_id=None
            if bound_user_id is None
            else check_str("bound_user_id", bound_user_id),
            creating_user=None
            if creating_user is None
            else check_str("creating_user", creating_user),
            custom_attributes=None
            if custom_attributes is None
            else check_json_object("custom_attributes", custom_attributes),
        )
        operation = "access_keys.search"
        result = await self._call(operation, _endpoints.SEARCH, Safety.IDEMPOTENT, body=body)
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

        Raises:
            NotFoundError: no key has that id.
            ApiError: the API refused the call otherwise.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
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
        result = await self._call(operation, _endpoints.UPDATE, Safety.IDEMPOTENT, body=body)
        if isinstance(result, Mapping) and isinstance(result.get("key"), Mapping):
            return _key_from(result, operation)
        return None

    async def _by_id(self, action: str, key_id: str, safety: Safety) -> None:
        body = {"id": check_id("key_id", key_id)}
        await self._call(f"access_keys.{action}", _endpoints.by_id(action), safety, body=body)

    async def activate(self, key_id: str) -> None:
        """Activate a key so it can be exchanged again.

        Raises:
            NotFoundError: no key has that id.
            ApiError: the API refused the call otherwise.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        await self._by_id("activate", key_id, Safety.IDEMPOTENT)

    async def deactivate(self, key_id: str) -> None:
        """Deactivate a key: exchanges fail until it is activated (issued JWTs stay valid).

        Raises:
            NotFoundError: no key has that id.
            ApiError: the API refused the call otherwise.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        await self._by_id("deactivate", key_id, Safety.IDEMPOTENT)

    async def delete(self, key_id: str) -> None:
        """Delete a key for good (issued JWTs stay valid until they expire).

        Raises:
            AmbiguousResultError: an attempt may have deleted the key before
                the call failed; ``load`` it to find out.
            NotFoundError: no key has that id.
            ApiError: the API refused the call otherwise.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        try:
            await self._by_id("delete", key_id, Safety.DELETE)
        except AmbiguousResultError as exc:
            raise _restated(
                exc,
                f"key {key_id} may have been deleted by an attempt whose answer was lost: "
                "load it to find out (NotFoundError means it is gone), or delete it again",
                [key_id],
            ) from exc.__cause__

    async def rotate(self, key_id: str) -> CreatedAccessKey:
        """Replace a key's secret; the old secret stops working at once.

        Returns:
            The key and its new cleartext, shown only now: store it.

        Raises:
            AmbiguousResultError: an attempt may have rotated the key before
                the call failed, so the old secret may be revoked: rotate
                again to get a working one. Any other error means the old
                secret still works.
            NotFoundError: no key has that id.
            ApiError: the API refused the call otherwise.
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        operation = "access_keys.rotate"
        body = {"id": check_id("key_id", key_id)}
        # A 2xx without the new secret must be retried: the old secret is
        # already dead, and a repeat returns a newer one that works.
        try:
            return await self._management().call(
                operation,
                "POST",
                _endpoints.ROTATE,
                safety=Safety.REPLACE,
                body=body,
                parse=lambda response: _created_from(response.body, operation),
            )
        except AmbiguousResultError as exc:
            raise _restated(
                exc,
                f"key {key_id} may have been rotated by an attempt whose answer was lost: "
                "the old secret may have been revoked: rotate again to get a working one",
                [key_id],
            ) from exc.__cause__

    async def _batch(self, operation: str, key_ids: Iterable[str]) -> None:
        body = {"ids": check_ids("key_ids", key_ids)}
        try:
            await self._call(
                f"access_keys.{operation}_many",
                _endpoints.batch(operation),
                Safety.DELETE_MANY if operation == "delete" else Safety.IDEMPOTENT,
                body=body,
            )
        except AmbiguousResultError as exc:
            raise _restated(
                exc,
                f"keys {', '.join(body['ids'])} may have been deleted by an attempt whose "
                "answer was lost (or, when some were missing on a retry, an id was wrong): "
                "load them to find out, and delete the ones that remain",
                body["ids"],
            ) from exc.__cause__

    async def activate_many(self, key_ids: Iterable[str]) -> None:
        """Activate several keys in one request.

        Raises:
            ApiError: the API refused the call (it applies to all the ids or none).
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        await self._batch("activate", key_ids)

    async def deactivate_many(self, key_ids: Iterable[str]) -> None:
        """Deactivate several keys in one request.

        Raises:
            ApiError: the API refused the call (it applies to all the ids or none).
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        await self._batch("deactivate", key_ids)

    async def delete_many(self, key_ids: Iterable[str]) -> None:
        """Delete several keys in one request.

        Raises:
            ApiError: the API refused the call (it applies to all the ids or none).
            TransportError: no usable answer (connection failure, timeout, a bad
                body) once the retries are spent.
        """
        await self._batch("delete", key_ids)
