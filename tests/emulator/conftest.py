"""Fixtures for the emulator tests: every emulator listens on 127.0.0.1, on a free port.

One RSA key is generated per test session and given to every emulator, so
that tests do not each pay for a key generation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

import aiohttp
import jwt
import pytest

from descope_keys.emulator import Emulator, ThreadedEmulator
from descope_keys.emulator._signing import generate_rsa_key

PROJECT_ID = "P2emulatortest0000000000000"
MANAGEMENT_KEY = "mgmt-key-for-emulator-tests-0001"
ROLE_PERMISSIONS = {
    "admin": ["keys:read", "keys:write"],
    "viewer": ["keys:read"],
    "deployer": ["deploy"],
}
TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture(scope="session")
def signing_pem() -> str:
    """One RSA-2048 private key (PEM) shared by the session's emulators."""
    return generate_rsa_key().as_pem(private=True).decode("ascii")


def emulator_kwargs(signing_pem: str, **overrides: Any) -> dict[str, Any]:
    """The arguments the fixtures use, with ``overrides`` applied."""
    kwargs: dict[str, Any] = {
        "project_id": PROJECT_ID,
        "management_key": MANAGEMENT_KEY,
        "signing_key": signing_pem,
        "role_permissions": ROLE_PERMISSIONS,
    }
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
async def emulator(signing_pem: str) -> AsyncIterator[Emulator]:
    """A running in-memory emulator with test hooks on."""
    async with Emulator(**emulator_kwargs(signing_pem, test_hooks=True)) as emu:
        yield emu


@pytest.fixture
def threaded(signing_pem: str) -> Iterator[ThreadedEmulator]:
    """A running thread-backed emulator."""
    with ThreadedEmulator(**emulator_kwargs(signing_pem)) as emu:
        yield emu


class Api:
    """A raw HTTP client for the emulator (no SDK): JSON in, status and JSON out."""

    def __init__(self, session: aiohttp.ClientSession, emu: Emulator) -> None:
        self.session = session
        self.emu = emu

    @property
    def mgmt_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.emu.project_id}:{self.emu.management_key}"}

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | str | IO[bytes] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send a request; return the status and the JSON body (or text when not JSON)."""
        async with self.session.request(
            method,
            self.emu.base_url + path,
            json=body if data is None else None,
            data=data,
            headers=headers,
            params=params,
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def mgmt(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """A management call with the right management key."""
        return await self.call(method, path, body, headers=self.mgmt_auth, **kwargs)

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """A management call that must succeed; returns its JSON body."""
        status, payload = await self.mgmt(method, path, body, **kwargs)
        assert status == 200, payload
        return payload

    async def create(self, name: str = "bot", **fields: Any) -> dict[str, Any]:
        """Create a key; returns ``{"key", "cleartext"}``."""
        created: dict[str, Any] = await self.ok(
            "POST", "/v1/mgmt/accesskey/create", {"name": name, **fields}
        )
        return created

    async def load(self, key_id: str) -> tuple[int, Any]:
        return await self.mgmt("GET", "/v1/mgmt/accesskey", params={"id": key_id})

    async def exchange(
        self,
        secret: str,
        login_options: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Exchange an access key, as the official SDK sends it."""
        auth = {"Authorization": f"Bearer {self.emu.project_id}:{secret}", **(headers or {})}
        body = {"loginOptions": login_options or {}}
        return await self.call("POST", "/v1/auth/accesskey/exchange", body, headers=auth)


def verify_jwt(
    token: str, jwks: dict[str, Any], project_id: str = PROJECT_ID, *, verify_exp: bool = True
) -> dict[str, Any]:
    """Verify ``token`` with PyJWT (not the library that signed it) against ``jwks``.

    ``verify_exp=False`` is for tokens issued at a moved emulator clock; the
    signature is always verified.
    """
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    matching = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert len(matching) == 1, "the token's kid must be published exactly once"
    key = jwt.PyJWK(matching[0]).key
    options = {"verify_iat": False, "verify_exp": verify_exp}
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], options=options, leeway=5)
    assert claims["iss"] == project_id
    return claims


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


@pytest.fixture
async def api(http: aiohttp.ClientSession, emulator: Emulator) -> Api:
    return Api(http, emulator)
