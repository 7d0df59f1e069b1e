"""The auth routes: access-key exchange (docs/wire.md §4-5) and the JWKS (§6)."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from descope_keys.emulator._mgmt import SECRET_SEPARATOR
from descope_keys.emulator._state import EmulatorState, IPNetwork, read_json
from descope_keys.emulator._store import StoredKey, hash_secret
from descope_keys.emulator._wire import (
    FORBIDDEN_IP,
    PROJECT_NOT_FOUND,
    UNAUTHORIZED,
    ApiFailure,
    check_claims,
    opt_dict,
    opt_str,
    validation_failure,
)

__all__ = ["EXCHANGE_MAX_BODY_BYTES", "AuthRoutes", "ip_permitted"]

#: An exchange body is login options. Custom claims at Descope's documented
#: limits, 100 claims with names of 60 and values of 500 characters, take
#: 100 * (60 + 500 + 6 for quotes, colon and comma) = 56,600 bytes of JSON:
#: this leaves twice that for escapes and the rest.
EXCHANGE_MAX_BODY_BYTES = 128 * 1024

_DUMMY_SALT = secrets.token_bytes(16)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().split("%", 1)[0])  # drop an IPv6 zone
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return ip


def ip_permitted(caller: str | None, permitted: Sequence[str]) -> bool:
    """True when ``permitted`` is empty or one of its addresses/CIDR ranges holds ``caller``."""
    if not permitted:
        return True
    ip = _parse_ip(caller or "")
    if ip is None:
        return False
    for entry in permitted:
        try:
            network = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            continue
        if ip in network:  # False (not an error) across IPv4/IPv6
            return True
    return False


def _in_networks(text: str, networks: Sequence[IPNetwork]) -> bool:
    ip = _parse_ip(text)
    return ip is not None and any(ip in network for network in networks)


def _unauthorized(message: str) -> ApiFailure:
    return ApiFailure(401, UNAUTHORIZED, message)


class AuthRoutes:
    """Exchange and JWKS handlers, bound to one emulator's state."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve ``state``."""
        self._state = state

    def add_to(self, app: web.Application) -> None:
        """Register the routes on ``app``."""
        app.router.add_post("/v1/auth/accesskey/exchange", self.exchange)
        app.router.add_get("/v2/keys/{project_id}", self.jwks)

    def caller_ip(self, request: web.Request) -> str | None:
        """The socket peer, or the nearest untrusted ``X-Forwarded-For`` hop when that is trusted.

        Each proxy appends the address it was called from, so only the
        right end of the header is the proxies' word; whatever the client
        put to the left is the client's own claim. Without a trusted-proxy
        list the socket peer is taken as the one proxy, and the rightmost
        entry is the caller. With one, the hops are read from the right
        (the peer first), passing over those in the list, and the first
        other address is the caller; a peer not in the list is the caller.
        """
        state = self._state
        peer = request.remote
        if not state.trust_forwarded_for:
            return peer
        hops = [
            hop.strip()
            for header in request.headers.getall("X-Forwarded-For", ())
            for hop in header.split(",")
        ]
        hops = [hop for hop in hops if hop]
        proxies = state.trusted_proxies
        if proxies is None:
            return hops[-1] if hops else peer
        chain = [*hops, peer or ""]
        for hop in reversed(chain):
            if not _in_networks(hop, proxies):
                return hop
        return chain[0]

    def _authenticate(self, secret: str) -> StoredKey:
        key_id, separator, _ = secret.partition(SECRET_SEPARATOR)
        stored = self._state.store.get(key_id) if separator else None
        if stored is None:
            hash_secret(_DUMMY_SALT, secret)  # same work as a real check
            raise _unauthorized("invalid access key")
        if not stored.secret_matches(secret):
            raise _unauthorized("invalid access key")
        return stored

    async def exchange(self, request: web.Request) -> web.Response:
        """POST /v1/auth/accesskey/exchange → ``{"keyId", "sessionJwt", "expiration"}``."""
        state = self._state
        secret = state.access_key_secret(request)
        # The secret first: a caller without one gets no JSON parsed, and no
        # more of its body read than it takes to answer.
        stored = self._authenticate(secret)
        body = await read_json(request, limit=EXCHANGE_MAX_BODY_BYTES)
        key = stored.data
        now = state.clock.now()
        if key["status"] != "active":
            raise _unauthorized("access key is not active")
        if key["expireTime"] and key["expireTime"] <= now:
            raise _unauthorized("access key has expired")
        if not ip_permitted(self.caller_ip(request), key["permittedIps"]):
            raise ApiFailure(403, FORBIDDEN_IP, "caller IP is not permitted for this access key")
        options = opt_dict(body, "loginOptions") or {}
        nsec = opt_dict(options, "customClaims") or {}
        check_claims(nsec, "loginOptions.customClaims", reserved=False)
        selected = opt_str(options, "selectedTenant")
        tenant_ids = [t["tenantId"] for t in key["keyTenants"]]
        if selected and selected not in tenant_ids:
            raise validation_failure(f"access key is not a member of tenant {selected!r}")
        claims = self.claims(key, now, nsec=nsec, selected_tenant=selected or None)
        token = state.signing.sign(claims)
        return web.json_response(
            {"keyId": key["id"], "sessionJwt": token, "expiration": claims["exp"]}
        )

    def claims(
        self,
        key: dict[str, Any],
        now: float,
        *,
        nsec: dict[str, Any],
        selected_tenant: str | None,
    ) -> dict[str, Any]:
        """The session-token claims of docs/wire.md §5 for ``key`` at ``now``.

        ``tenants`` keeps every tenant of the key even when one is selected:
        ``dct`` says which one is current, and nothing is lost.
        """
        state = self._state
        issued_at = int(now)
        expires_at = issued_at + state.session_ttl_of(key["id"])
        if key["expireTime"]:
            expires_at = min(expires_at, int(key["expireTime"]))
        claims: dict[str, Any] = dict(key["customClaims"])  # set first: never shadows below
        claims.update(
            iss=state.project_id,
            sub=key["id"],
            iat=issued_at,
            exp=expires_at,
            roles=list(key["roleNames"]),
            permissions=state.permissions_of(key["roleNames"]),
        )
        if key["keyTenants"]:
            claims["tenants"] = {
                t["tenantId"]: {
                    "roles": list(t["roleNames"]),
                    "permissions": state.permissions_of(t["roleNames"]),
                }
                for t in key["keyTenants"]
            }
        if selected_tenant:
            claims["dct"] = selected_tenant
        if nsec:
            claims["nsec"] = nsec
        return claims

    async def jwks(self, request: web.Request) -> web.Response:
        """GET /v2/keys/<projectId> → the public signing keys (no auth needed)."""
        if request.match_info["project_id"] != self._state.project_id:
            raise ApiFailure(404, PROJECT_NOT_FOUND, "unknown project id")
        return web.Response(body=self._state.signing.jwks_body(), content_type="application/json")
