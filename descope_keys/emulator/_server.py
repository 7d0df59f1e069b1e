"""Running the emulator on an asyncio loop: :class:`Emulator`."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from descope_keys.emulator._app import build_app
from descope_keys.emulator._hooks import Clock, Fault, Faults, RateLimiter, keyword_form
from descope_keys.emulator._signing import SigningKeys, generate_rsa_key, load_rsa_key
from descope_keys.emulator._state import SIGNING_KEY_META, EmulatorState, IPNetwork, random_id
from descope_keys.emulator._store import MemoryStore, StoreError, open_store
from descope_keys.integrations.aiohttp import SafeAppRunner

__all__ = ["START_TIMEOUT", "Emulator"]

_PROJECT_ID = re.compile(r"[A-Za-z0-9_-]+")
_PROJECT_META = "project_id"
_SHUTDOWN_TIMEOUT = 1.0
START_TIMEOUT = 30.0

logger = logging.getLogger("descope_keys.emulator")


def _read_signing_key(value: str | bytes | os.PathLike[str]) -> bytes:
    # A str that looks like PEM is the key itself; any other str is a path.
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
        return value.encode("ascii")
    with open(value, "rb") as pem_file:
        return pem_file.read()


def _networks(values: Iterable[str] | None) -> tuple[IPNetwork, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = values.split(",")
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"trusted_proxies: not an address or CIDR range ({exc})") from None


def _role_map(value: Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    for role, permissions in (value or {}).items():
        perms = (permissions,) if isinstance(permissions, str) else tuple(permissions)
        if not isinstance(role, str) or not all(isinstance(p, str) for p in perms):
            raise ValueError("role_permissions must map role names to lists of permission names")
        result[role] = perms
    return result


class Emulator:
    """A Descope-compatible access-key server on a local port (aiohttp.web).

    ``async with Emulator() as emu:`` starts it on a free port of 127.0.0.1;
    ``emu.base_url``, ``emu.project_id`` and ``emu.management_key`` are what a
    client needs. Omitted ids are random: the project id is ``P`` + 27
    letters/digits (under 32 characters, so clients keep the base URL they
    are given) and the management key is 256 random bits.

    Args:
        project_id: The project id clients must send. Random when omitted;
            with ``db``, the id stored in that file is reused.
        management_key: The key management calls must send. Random when omitted.
        host: IP address to listen on.
        port: TCP port; ``0`` picks a free one.
        db: SQLite file to keep keys (and the signing key) across restarts;
            in memory when ``None``.
        signing_key: An RSA private key (PEM text or bytes, or a path to a PEM
            file) to sign tokens with; generated (RSA-2048) when omitted.
        role_permissions: Role name → permission names, for the
            ``permissions`` claims of issued tokens.
        session_ttl: Lifetime of issued session tokens, in seconds.
        clock: The clock for key expiry and token ``iat``/``exp``;
            a new real-time :class:`Clock` when omitted.
        trust_forwarded_for: Take the caller IP (for ``permittedIps``) from
            ``X-Forwarded-For`` instead of the socket peer: its rightmost
            entry (what the one proxy in front saw), or, with
            ``trusted_proxies``, the nearest hop not in that list.
        trusted_proxies: Addresses or CIDR ranges of the proxies in front;
            implies ``trust_forwarded_for``. X-Forwarded-For is read from
            the right, past these, to the first other hop; a socket peer
            not in the list is the caller, whatever the header says.
        idle_timeout: Seconds a connection may stay idle, or take to send a
            request's headers, before it is closed (request bodies have 10 s).
        test_hooks: Serve the ``/emulator/…`` HTTP test hooks.
        access_log: Log every request to the ``aiohttp.access`` logger.
    """

    def __init__(
        self,
        project_id: str | None = None,
        management_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | os.PathLike[str] | None = None,
        signing_key: str | bytes | os.PathLike[str] | None = None,
        role_permissions: Mapping[str, Iterable[str]] | None = None,
        session_ttl: int = 600,
        clock: Clock | None = None,
        trust_forwarded_for: bool = False,
        trusted_proxies: Iterable[str] | None = None,
        idle_timeout: float = 30.0,
        test_hooks: bool = False,
        access_log: bool = False,
    ) -> None:
        if project_id is not None and not _PROJECT_ID.fullmatch(project_id):
            raise ValueError("project_id must be letters, digits, '_' or '-'")
        if management_key is not None and (
            not management_key or management_key != management_key.strip()
        ):
            raise ValueError("management_key must be non-empty, without surrounding spaces")
        if session_ttl <= 0:
            raise ValueError("session_ttl must be a positive number of seconds")
        if not 0 <= port <= 65535:
            raise ValueError("port must be 0-65535")
        if not (isinstance(idle_timeout, (int, float)) and 0 < idle_timeout < math.inf):
            raise ValueError("idle_timeout must be a positive number of seconds")
        self._trusted_proxies = _networks(trusted_proxies)
        self._idle_timeout = float(idle_timeout)
        self._project_id_given = project_id is not None
        self._project_id = project_id or random_id("P", 27)
        self._management_key = management_key or secrets.token_urlsafe(32)
        self._host = host
        self._port = port
        self._db = db
        self._signing_key = signing_key
        self._role_permissions = _role_map(role_permissions)
        self._session_ttl = int(session_ttl)
        # What reset() goes back to.
        self._constructed_role_permissions = self._role_permissions
        self._constructed_session_ttl = self._session_ttl
        self._trust_forwarded_for = trust_forwarded_for or trusted_proxies is not None
        self._test_hooks = test_hooks
        self._access_log = access_log
        self._clock = clock or Clock()
        self._rate_limiter = RateLimiter()
        self._faults = Faults()
        self._request_counts: Counter[str] = Counter()
        self._created_by = "management-key"
        self._state: EmulatorState | None = None
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "stopped"
        return f"Emulator(project_id={self._project_id!r}, {where})"

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Open the store, load or make the signing key, and start serving."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        store = open_store(self._db)
        runner: web.AppRunner | None = None
        try:
            self._adopt_project_id(store)
            signing, persist = await self._signing_keys(store)
            self._state = EmulatorState(
                project_id=self._project_id,
                management_key=self._management_key,
                store=store,
                signing=signing,
                clock=self._clock,
                role_permissions=self._role_permissions,
                session_ttl=self._session_ttl,
                trust_forwarded_for=self._trust_forwarded_for,
                trusted_proxies=self._trusted_proxies,
                persist_signing_key=persist,
                created_by=self._created_by,
                rate_limiter=self._rate_limiter,
                faults=self._faults,
                request_counts=self._request_counts,
            )
            app = build_app(self._state, test_hooks=self._test_hooks)
            # Never echoes nor logs a request line or header it cannot parse
            # (docs/wire.md §2: the management key is never shown).
            runner = SafeAppRunner(
                app,
                handle_signals=False,
                access_log=logging.getLogger("aiohttp.access") if self._access_log else None,
                shutdown_timeout=_SHUTDOWN_TIMEOUT,
                # Closes idle connections, and those whose headers are still
                # coming (aiohttp's keep-alive timer runs until a request is
                # complete); aiohttp's default is an hour.
                keepalive_timeout=self._idle_timeout,
            )
            await runner.setup()
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            self._port = int(runner.addresses[0][1])
        except BaseException:
            if runner is not None:
                await runner.cleanup()
            store.close()
            self._state = None
            raise
        self._runner = runner

    def _adopt_project_id(self, store: MemoryStore) -> None:
        stored = store.get_meta(_PROJECT_META)
        if stored is None:
            store.set_meta(_PROJECT_META, self._project_id)
        elif stored != self._project_id:
            if self._project_id_given:
                raise StoreError(f"the database holds project {stored!r}, not {self._project_id!r}")
            self._project_id = stored

    async def _signing_keys(self, store: MemoryStore) -> tuple[SigningKeys, bool]:
        if self._signing_key is not None:
            return SigningKeys(load_rsa_key(_read_signing_key(self._signing_key))), False
        stored = store.get_meta(SIGNING_KEY_META)
        if stored is not None:
            return SigningKeys(load_rsa_key(stored)), True
        key = await asyncio.get_running_loop().run_in_executor(None, generate_rsa_key)
        keys = SigningKeys(key)
        persist = self._db is not None  # so tokens issued before a restart still validate
        if persist:
            store.set_meta(SIGNING_KEY_META, keys.current_pem())
        return keys, persist

    async def stop(self) -> None:
        """Stop serving and close the store. Idempotent."""
        runner, state = self._runner, self._state
        self._runner = None
        self._state = None
        try:
            if runner is not None:
                await runner.cleanup()
        finally:
            if state is not None:
                state.store.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what clients need -------------------------------------------------

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._runner is not None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running emulator."""
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def port(self) -> int:
        """The TCP port (the chosen one once running, when ``port=0`` was given)."""
        return self._port

    @property
    def project_id(self) -> str:
        """The project id clients must use."""
        return self._project_id

    @property
    def management_key(self) -> str:
        """The management key clients must use (a secret: do not log it)."""
        return self._management_key

    @property
    def clock(self) -> Clock:
        """The clock of key expiry and token ``iat``/``exp`` (thread-safe; move it in tests)."""
        return self._clock

    # -- test hooks (Python API) -------------------------------------------

    def _running_state(self) -> EmulatorState:
        if self._state is None:
            raise RuntimeError("the emulator is not running")
        return self._state

    @property
    def created_by(self) -> str:
        """The ``createdBy`` recorded on keys created from now on (a test hook)."""
        return self._created_by

    @created_by.setter
    def created_by(self, value: str) -> None:
        self._created_by = value
        if self._state is not None:
            self._state.created_by = value

    @property
    def role_permissions(self) -> dict[str, list[str]]:
        """Role name → permission names, for the ``permissions`` claims of tokens issued next."""
        return {role: list(perms) for role, perms in self._role_permissions.items()}

    @role_permissions.setter
    def role_permissions(self, value: Mapping[str, Iterable[str]]) -> None:
        self._role_permissions = _role_map(value)
        if self._state is not None:
            self._state.role_permissions = self._role_permissions

    @property
    def session_ttl(self) -> int:
        """The lifetime, in seconds, of the session tokens issued from now on."""
        return self._session_ttl

    @session_ttl.setter
    def session_ttl(self, value: int) -> None:
        if value <= 0:
            raise ValueError("session_ttl must be a positive number of seconds")
        self._session_ttl = int(value)
        if self._state is not None:
            self._state.session_ttl = self._session_ttl

    def set_key_session_ttl(self, key_id: str, seconds: int | None) -> None:
        """Give the tokens of one key their own lifetime (``None``: the default again).

        Still capped at the key's ``expireTime``, as every token is.
        """
        if seconds is not None and seconds <= 0:
            raise ValueError("seconds must be a positive number of seconds or None")
        ttls = self._running_state().key_session_ttls
        if seconds is None:
            ttls.pop(key_id, None)
        else:
            ttls[key_id] = int(seconds)

    def reset(self) -> None:
        """Forget everything tests changed: back to the emulator as it was constructed.

        Deletes every key; clears faults, the rate limit, request counts and
        per-key session lifetimes; puts the clock back to real time, the
        role map, ``session_ttl`` and ``created_by`` back to their constructed
        values, and signing back to the first key, alone in the JWKS. The
        address, project id and management key stay.
        """
        self._faults.clear()
        self._rate_limiter.configure(None)
        self._request_counts.clear()
        self._clock.reset()
        self.created_by = "management-key"
        self.role_permissions = self._constructed_role_permissions
        self.session_ttl = self._constructed_session_ttl
        state = self._state
        if state is not None:
            state.store.delete([key.id for key in state.store.all()])
            state.key_session_ttls.clear()
            state.reset_signing_keys()

    @property
    def signing_kid(self) -> str:
        """The ``kid`` of the key that signs new tokens."""
        return self._running_state().signing.kid

    def jwks(self) -> dict[str, Any]:
        """The published JWKS, as ``GET /v2/keys/<projectId>`` returns it."""
        return self._running_state().signing.jwks()

    def publish_next_signing_key(self, pem: str | bytes | None = None) -> str:
        """Publish the next signing key in the JWKS (not used yet); returns its ``kid``."""
        key = None if pem is None else load_rsa_key(pem)
        return self._running_state().signing.publish_next(key)

    def switch_signing_key(self) -> str:
        """Sign with the published next key; the old one stays in the JWKS. Returns the new kid."""
        return self._running_state().switch_signing_key()

    def rotate_signing_key(self, pem: str | bytes | None = None) -> str:
        """Publish a next key and switch to it at once; returns the new ``kid``."""
        self.publish_next_signing_key(pem)
        return self.switch_signing_key()

    def drop_retired_signing_keys(self) -> list[str]:
        """Remove retired keys from the JWKS (tokens they signed stop validating)."""
        return self._running_state().signing.drop_retired()

    def rate_limit(
        self, calls_per_second: int | None, retry_after: int = 1, *, path_prefix: str = "/"
    ) -> None:
        """Answer 429 (``Retry-After``) past ``calls_per_second`` calls a second; ``None``: off."""
        self._rate_limiter.configure(calls_per_second, retry_after, path_prefix)

    def add_fault(self, fault: Fault) -> None:
        """Answer the next ``fault.times`` requests whose path starts with ``fault.path_prefix``.

        The fault is copied: the value may be reused.
        """
        self._faults.add(fault)

    # emu.inject_fault(path_prefix, status=503, ...): the arguments of Fault.
    inject_fault = keyword_form(Fault, add_fault)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    @property
    def request_counts(self) -> Counter[str]:
        """How many requests each path has received (live; includes rejected ones)."""
        return self._request_counts

    def stored_keys(self) -> list[dict[str, Any]]:
        """The stored keys as wire AccessKey JSON (copies; secrets are never stored)."""
        return self._running_state().stored_keys()
