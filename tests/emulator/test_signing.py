"""Signing keys: loading, the JWKS, and two-phase rotation across which tokens stay valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from descope_keys.emulator import Emulator
from tests.emulator.conftest import PROJECT_ID, Api, verify_jwt

JWKS = f"/v2/keys/{PROJECT_ID}"


async def _jwks(api: Api) -> dict[str, Any]:
    return dict((await api.call("GET", JWKS))[1])


async def _token(api: Api, secret: str) -> str:
    status, body = await api.exchange(secret)
    assert status == 200, body
    return str(body["sessionJwt"])


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_rotation_in_two_phases_keeps_old_tokens_valid(api: Api, emulator: Emulator) -> None:
    secret = (await api.create("bot"))["cleartext"]
    old_kid = emulator.signing_kid
    old_token = await _token(api, secret)

    next_kid = emulator.publish_next_signing_key()
    assert next_kid != old_kid
    jwks = await _jwks(api)
    assert [k["kid"] for k in jwks["keys"]] == [old_kid, next_kid]
    assert _kid(await _token(api, secret)) == old_kid  # publishing does not switch

    assert emulator.switch_signing_key() == next_kid
    assert emulator.signing_kid == next_kid
    new_token = await _token(api, secret)
    assert _kid(new_token) == next_kid
    jwks = await _jwks(api)
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, next_kid}
    verify_jwt(old_token, jwks)
    verify_jwt(new_token, jwks)


async def test_rotate_does_both_phases(api: Api, emulator: Emulator) -> None:
    old_kid = emulator.signing_kid
    new_kid = emulator.rotate_signing_key()
    assert new_kid not in (old_kid, None)
    assert emulator.signing_kid == new_kid
    assert {k["kid"] for k in (await _jwks(api))["keys"]} == {old_kid, new_kid}


async def test_dropping_retired_keys_unpublishes_them(api: Api, emulator: Emulator) -> None:
    secret = (await api.create("bot"))["cleartext"]
    old_token = await _token(api, secret)
    old_kid = emulator.signing_kid
    emulator.rotate_signing_key()
    assert emulator.drop_retired_signing_keys() == [old_kid]
    jwks = await _jwks(api)
    assert [k["kid"] for k in jwks["keys"]] == [emulator.signing_kid]
    assert _kid(old_token) == old_kid


async def test_switch_without_a_published_key_is_refused(emulator: Emulator) -> None:
    with pytest.raises(RuntimeError):
        emulator.switch_signing_key()


async def test_publishing_twice_keeps_the_same_next_key(emulator: Emulator) -> None:
    assert emulator.publish_next_signing_key() == emulator.publish_next_signing_key()


async def test_retired_keys_are_bounded(emulator: Emulator) -> None:
    for _ in range(4):
        emulator.rotate_signing_key()
    assert len(emulator.jwks()["keys"]) == 3  # current + the last two retired


def _rsa_pem(bits: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def test_a_given_signing_key_is_used_from_text_bytes_or_a_file(
    tmp_path: Path, signing_pem: str
) -> None:
    path = tmp_path / "signing.pem"
    path.write_text(signing_pem)
    kids = set()
    for source in (signing_pem, signing_pem.encode(), str(path), path):
        async with Emulator(signing_key=source) as emu:
            kids.add(emu.signing_kid)
    assert len(kids) == 1  # the kid is the key's thumbprint: stable across restarts


@pytest.mark.parametrize(
    "pem",
    [
        b"not a pem",
        _rsa_pem(1024),
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    ],
    ids=["garbage", "rsa-1024", "public-only", "ec-key"],
)
async def test_unusable_signing_keys_are_refused_at_start(pem: bytes) -> None:
    emu = Emulator(signing_key=pem)
    with pytest.raises(ValueError, match="signing key"):
        await emu.start()
    assert not emu.running


async def test_a_specific_next_key_can_be_published(emulator: Emulator) -> None:
    pem = _rsa_pem(2048)
    kid = emulator.rotate_signing_key(pem)
    async with Emulator(signing_key=pem) as other:
        assert other.signing_kid == kid


async def test_generated_keys_are_rsa_2048() -> None:
    async with Emulator() as emu:
        (key,) = emu.jwks()["keys"]
        public = jwt.PyJWK(key).key
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == 2048
