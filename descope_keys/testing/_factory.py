"""Clients on an emulator, and real session tokens with chosen grants: :class:`TokenFactory`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from descope_keys import AccessKeyToken, AsyncDescopeKeys, DescopeKeys, KeyTenant
from descope_keys._config import ENV_PUBLIC_KEY
from descope_keys.emulator import ThreadedEmulator
from descope_keys.errors import InvalidArgumentError
from descope_keys.testing._env import patched_environ

__all__ = ["TokenFactory", "async_client_of", "client_of"]

_DEFAULT_NAME = "descope-token-factory"


def client_of(emulator: ThreadedEmulator) -> DescopeKeys:
    """A :class:`DescopeKeys` with the management key of ``emulator``."""
    # A developer's DESCOPE_PUBLIC_KEY would pin keys the emulator never signs with.
    with patched_environ({}, (ENV_PUBLIC_KEY,)):
        return DescopeKeys(emulator.project_id, emulator.management_key, base_url=emulator.base_url)


def async_client_of(emulator: ThreadedEmulator) -> AsyncDescopeKeys:
    """An :class:`AsyncDescopeKeys` with the management key of ``emulator``."""
    with patched_environ({}, (ENV_PUBLIC_KEY,)):
        return AsyncDescopeKeys(
            emulator.project_id, emulator.management_key, base_url=emulator.base_url
        )


def _names(what: str, value: Iterable[str]) -> list[str]:
    # One string is a list of its letters to Python, never what was meant.
    if isinstance(value, str):
        raise InvalidArgumentError(what, "a list of names, not one string")
    return list(value)


def permissions_role(permissions: Iterable[str]) -> str:
    """The role name the factory grants ``permissions`` through (stable for the same set)."""
    wanted = sorted(set(permissions))
    digest = hashlib.sha256("\n".join(wanted).encode("utf-8")).hexdigest()[:12]
    return f"testing-permissions-{digest}"


class TokenFactory:
    """Session tokens with chosen grants: a real key on the emulator, and a real exchange.

    ``tokens = TokenFactory(emu)`` then ``tokens(roles=["admin"])`` returns the
    :class:`AccessKeyToken` the emulator issues, already validated, exactly as
    production would issue it. Each call creates a new key. Called from a
    coroutine, the (local, short) calls run in a helper thread, so the
    caller's event loop is never used by the sync client.

    Args:
        emulator: A running emulator.
        client: The management client to create keys with; when omitted the
            factory makes one and :meth:`close` (or ``with``) closes it.
    """

    def __init__(self, emulator: ThreadedEmulator, client: DescopeKeys | None = None) -> None:
        self._emulator = emulator
        self._owns_client = client is None
        self._client = client_of(emulator) if client is None else client

    def __repr__(self) -> str:
        return f"TokenFactory({self._emulator!r})"

    def __call__(
        self,
        *,
        roles: Iterable[str] = (),
        permissions: Iterable[str] = (),
        tenants: Mapping[str, Iterable[str]] | None = None,
        selected_tenant: str | None = None,
        custom_claims: Mapping[str, Any] | None = None,
        session_ttl: int | None = None,
        name: str | None = None,
    ) -> AccessKeyToken:
        """Create a key with these grants and exchange it for a validated session token.

        Args:
            roles: Project-level role names of the key.
            permissions: Permissions the token carries: granted through a role
                the factory adds to the emulator's role map (named by
                :func:`permissions_role`; it appears in the token's ``roles``).
                With ``tenants``, map the tenants' roles with
                ``role_permissions`` instead.
            tenants: Tenant id → the key's role names in that tenant. Descope
                takes roles per tenant or at project level, not both.
            selected_tenant: The tenant to select at exchange (the ``dct`` claim).
            custom_claims: Claims of the key itself (top-level claims of its tokens).
            session_ttl: Seconds the token lives, instead of the emulator's ``session_ttl``.
            name: The key's name (a fixed default otherwise).

        Raises:
            InvalidArgumentError: an unusable argument (one string for a list,
                ``permissions`` with ``tenants``, a bad ``session_ttl``), or
                one the client refuses.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._issue(
                roles, permissions, tenants, selected_tenant, custom_claims, session_ttl, name
            )
        with concurrent.futures.ThreadPoolExecutor(1, "descope-token-factory") as pool:
            future = pool.submit(
                self._issue,
                roles,
                permissions,
                tenants,
                selected_tenant,
                custom_claims,
                session_ttl,
                name,
            )
            return future.result()

    def _issue(
        self,
        roles: Iterable[str],
        permissions: Iterable[str],
        tenants: Mapping[str, Iterable[str]] | None,
        selected_tenant: str | None,
        custom_claims: Mapping[str, Any] | None,
        session_ttl: int | None,
        name: str | None,
    ) -> AccessKeyToken:
        if session_ttl is not None and (
            isinstance(session_ttl, bool) or not isinstance(session_ttl, int) or session_ttl <= 0
        ):
            raise InvalidArgumentError("session_ttl", "a positive number of seconds")
        role_names = _names("roles", roles)
        wanted = _names("permissions", permissions)
        if wanted:
            if tenants:
                raise InvalidArgumentError(
                    "permissions",
                    "they go with project roles; for tenants, map the tenants' roles "
                    "with role_permissions",
                )
            role = permissions_role(wanted)
            self._emulator.role_permissions = {
                **self._emulator.role_permissions,
                role: sorted(set(wanted)),
            }
            role_names.append(role)
        key_tenants = [
            KeyTenant(tenant_id, role_names=_names(f"tenants[{tenant_id!r}]", names))
            for tenant_id, names in (tenants or {}).items()
        ]
        created = self._client.access_keys.create(
            _DEFAULT_NAME if name is None else name,
            role_names=role_names,
            key_tenants=key_tenants,
            custom_claims=custom_claims,
        )
        if session_ttl is not None:
            self._emulator.set_key_session_ttl(created.key.id, session_ttl)
        return self._client.exchange_access_key(created.cleartext, selected_tenant=selected_tenant)

    def close(self) -> None:
        """Close the client the factory made (not one it was given). Idempotent."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> TokenFactory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
