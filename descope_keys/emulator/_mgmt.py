"""The management routes: create, load, search, update, (de)activate, delete, rotate.

Each handler finishes its reads and writes of the store without an ``await``
in between, so concurrent requests can never interleave inside one change.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from descope_keys.emulator._state import EmulatorState, random_id, read_json
from descope_keys.emulator._store import StoredKey
from descope_keys.emulator._wire import (
    KEY_NOT_FOUND,
    ApiFailure,
    check_claims,
    check_permitted_ips,
    invalid_argument,
    missing_argument,
    opt_dict,
    opt_int,
    opt_str,
    opt_str_list,
    opt_tenants,
    req_id_list,
    req_str,
    validation_failure,
)

__all__ = ["SECRET_SEPARATOR", "ManagementRoutes"]

# The cleartext is "<key id>.<random>": the id part finds the key, the whole
# string is compared with the stored hash. "." never occurs in a key id, and
# ":" is avoided because the Authorization header joins its parts with it.
SECRET_SEPARATOR = "."
_SORTABLE = frozenset(
    {"id", "name", "status", "createdTime", "expireTime", "createdBy", "boundUserId"}
)
_MISSING = object()


def new_secret(key_id: str) -> str:
    """A fresh cleartext for ``key_id`` (256 random bits after the id)."""
    return f"{key_id}{SECRET_SEPARATOR}{secrets.token_urlsafe(32)}"


def _not_found(key_ids: Iterable[str]) -> ApiFailure:
    return ApiFailure(404, KEY_NOT_FOUND, "access key not found: " + ", ".join(key_ids))


def _check_roles_xor_tenants(data: dict[str, Any]) -> None:
    # Descope says tenant roles "take precedence" over project roles; the
    # emulator refuses the mix instead of silently dropping roles.
    if data["roleNames"] and data["keyTenants"]:
        raise validation_failure("roleNames and keyTenants are mutually exclusive")


def _attributes_match(wanted: dict[str, Any], have: dict[str, Any]) -> bool:
    for name, value in wanted.items():
        actual = have.get(name, _MISSING)
        if isinstance(value, list) and not isinstance(actual, list):
            if actual not in value:  # a list filter matches any of its values
                return False
        elif actual != value:
            return False
    return True


class ManagementRoutes:
    """Handlers of docs/wire.md §3, bound to one emulator's state."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve ``state``."""
        self._state = state

    def add_to(self, app: web.Application) -> None:
        """Register the routes on ``app``."""
        base = "/v1/mgmt/accesskey"
        app.router.add_get(base, self.load)
        app.router.add_post(f"{base}/create", self.create)
        app.router.add_post(f"{base}/search", self.search)
        app.router.add_post(f"{base}/update", self.update)
        app.router.add_post(f"{base}/rotate", self.rotate)
        for action in ("activate", "deactivate", "delete"):
            app.router.add_post(f"{base}/{action}", self._single(action))
            app.router.add_post(f"{base}/{action}/batch", self._batch(action))
        app.router.add_get("/v1/mgmt/license", self.license)

    async def _authorized_body(self, request: web.Request) -> dict[str, Any]:
        self._state.require_management(request)
        return await read_json(request)

    def _existing(self, key_id: str) -> StoredKey:
        stored = self._state.store.get(key_id)
        if stored is None:
            raise _not_found([key_id])
        return stored

    async def create(self, request: web.Request) -> web.Response:
        """POST /v1/mgmt/accesskey/create → ``{"key", "cleartext"}``."""
        body = await self._authorized_body(request)
        state = self._state
        now = int(state.clock.now())
        name = req_str(body, "name")
        expire_time = opt_int(body, "expireTime") or 0
        if expire_time < 0:
            raise validation_failure("expireTime must be 0 (never) or epoch seconds")
        if expire_time and expire_time <= now:
            raise validation_failure("expireTime is in the past")
        claims = opt_dict(body, "customClaims") or {}
        check_claims(claims, "customClaims", reserved=True)
        permitted_ips = opt_str_list(body, "permittedIps") or []
        check_permitted_ips(permitted_ips)
        data: dict[str, Any] = {
            "id": "",
            "name": name,
            "roleNames": opt_str_list(body, "roleNames") or [],
            "keyTenants": opt_tenants(body) or [],
            "status": "active",
            "createdTime": now,
            "expireTime": expire_time,
            "createdBy": state.created_by,
            "clientId": "",
            "boundUserId": opt_str(body, "userId") or "",
            "customClaims": claims,
            "description": opt_str(body, "description") or "",
            "permittedIps": permitted_ips,
            "customAttributes": opt_dict(body, "customAttributes") or {},
            "editable": True,
        }
        _check_roles_xor_tenants(data)
        key_id = random_id("K", 27)
        while state.store.get(key_id) is not None:  # pragma: no cover - 160 random bits
            key_id = random_id("K", 27)
        data["id"] = key_id
        cleartext = new_secret(key_id)
        stored = StoredKey(data)
        stored.set_secret(cleartext)
        state.store.put(stored)
        return web.json_response({"key": data, "cleartext": cleartext})

    async def load(self, request: web.Request) -> web.Response:
        """GET /v1/mgmt/accesskey?id=… → ``{"key"}``."""
        self._state.require_management(request)
        key_id = request.query.get("id", "")
        if not key_id:
            raise missing_argument("id")
        return web.json_response({"key": self._existing(key_id).data})

    async def search(self, request: web.Request) -> web.Response:
        """POST /v1/mgmt/accesskey/search → ``{"keys"}``: every key matching all filters."""
        body = await self._authorized_body(request)
        tenant_ids = set(opt_str_list(body, "tenantIds") or [])
        bound_user = opt_str(body, "boundUserId")
        creating_user = opt_str(body, "creatingUser")
        attributes = opt_dict(body, "customAttributes") or {}
        sort = self._sort_spec(body.get("sort"))
        found = []
        for stored in self._state.store.all():
            key = stored.data
            if tenant_ids and not tenant_ids & {t["tenantId"] for t in key["keyTenants"]}:
                continue
            if bound_user and key["boundUserId"] != bound_user:
                continue
            if creating_user and key["createdBy"] != creating_user:
                continue
            if attributes and not _attributes_match(attributes, key["customAttributes"]):
                continue
            found.append(key)
        for field_name, descending in reversed(sort):  # stable sorts, last key first
            found.sort(key=lambda k: (k[field_name] is None, k[field_name]), reverse=descending)
        return web.json_response({"keys": found})

    @staticmethod
    def _sort_spec(value: Any) -> list[tuple[str, bool]]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise invalid_argument("sort", 'a list of {"field", "desc"} objects')
        spec = []
        for item in value:
            field_name = item.get("field")
            # A list or an object is unhashable: test the type before membership.
            if not isinstance(field_name, str) or field_name not in _SORTABLE:
                raise validation_failure(f"cannot sort access keys by {field_name!r}")
            spec.append((str(field_name), bool(item.get("desc"))))
        return spec

    async def update(self, request: web.Request) -> web.Response:
        """POST /v1/mgmt/accesskey/update → ``{"key"}``; absent fields are kept."""
        body = await self._authorized_body(request)
        key_id = req_str(body, "id")
        name = req_str(body, "name")
        updated = self._existing(key_id).copy()
        data = updated.data
        data["name"] = name
        description = opt_str(body, "description")
        if description is not None:
            data["description"] = description
        claims = opt_dict(body, "customClaims")
        if claims is not None:
            check_claims(claims, "customClaims", reserved=True)
            data["customClaims"] = claims
        permitted_ips = opt_str_list(body, "permittedIps")
        if permitted_ips is not None:
            check_permitted_ips(permitted_ips)
            data["permittedIps"] = permitted_ips
        attributes = opt_dict(body, "customAttributes")
        if attributes is not None:
            data["customAttributes"] = attributes
        role_names = opt_str_list(body, "roleNames")
        if role_names is not None:
            data["roleNames"] = role_names
        tenants = opt_tenants(body)
        if tenants is not None:
            data["keyTenants"] = tenants
        _check_roles_xor_tenants(data)
        self._state.store.put(updated)
        return web.json_response({"key": data})

    async def rotate(self, request: web.Request) -> web.Response:
        """POST /v1/mgmt/accesskey/rotate → ``{"key", "cleartext"}``; the old secret dies now."""
        body = await self._authorized_body(request)
        rotated = self._existing(req_str(body, "id")).copy()
        cleartext = new_secret(rotated.id)
        rotated.set_secret(cleartext)
        self._state.store.put(rotated)
        return web.json_response({"key": rotated.data, "cleartext": cleartext})

    def _apply(self, action: str, key_ids: list[str]) -> None:
        store = self._state.store
        missing = [k for k in dict.fromkeys(key_ids) if store.get(k) is None]
        if missing:  # all or nothing: a batch with an unknown id changes nothing
            raise _not_found(missing)
        if action == "delete":
            store.delete(key_ids)
            return
        status = "active" if action == "activate" else "inactive"
        changed = []
        for key_id in dict.fromkeys(key_ids):
            stored = self._existing(key_id).copy()
            stored.data["status"] = status
            changed.append(stored)
        store.put(*changed)

    def _single(self, action: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            body = await self._authorized_body(request)
            self._apply(action, [req_str(body, "id")])
            return web.json_response({})

        handler.__doc__ = f"POST /v1/mgmt/accesskey/{action} → ``{{}}``."
        return handler

    def _batch(self, action: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            body = await self._authorized_body(request)
            self._apply(action, req_id_list(body))
            return web.json_response({})

        handler.__doc__ = f"POST /v1/mgmt/accesskey/{action}/batch → ``{{}}``."
        return handler

    async def license(self, request: web.Request) -> web.Response:
        """GET /v1/mgmt/license → ``{"rateLimitTier"}`` (the official SDK asks at start-up)."""
        self._state.require_management(request)
        return web.json_response({"rateLimitTier": "emulator"})
