"""Nothing exported holds a secret: every span, event, attribute and metric label is grepped."""

from __future__ import annotations

import pytest

from descope_keys import AsyncDescopeKeys, AuthenticationError, TokenValidationError
from descope_keys.emulator import Emulator

from .conftest import Otel

BODY_MARKERS = ("BODY-description-marker", "BODY-claim-marker", "BODY-name-marker")


async def test_no_secret_in_anything_exported(
    otel: Otel, client: AsyncDescopeKeys, emu: Emulator
) -> None:
    wrong_secret = "K9:WRONG-secret-never-exported"
    created = await client.access_keys.create(
        BODY_MARKERS[2], description=BODY_MARKERS[0], role_names=["reader"]
    )
    key_id = created.key.id
    await client.access_keys.load(key_id)
    await client.access_keys.search()
    rotated = await client.access_keys.rotate(key_id)
    emu.inject_fault("/v1/auth/accesskey/exchange", status=503, times=1)
    token = await client.exchange_access_key(
        rotated.cleartext, custom_claims={"marker": BODY_MARKERS[1]}
    )
    await client.validate_token(token.jwt)
    header, payload, signature = token.jwt.split(".")
    flipped = "A" if signature[10] != "A" else "B"
    with pytest.raises(TokenValidationError):
        await client.validate_token(f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}")
    with pytest.raises(AuthenticationError):
        await client.exchange_access_key(wrong_secret)
    with pytest.raises(AuthenticationError):
        await client.exchange_access_key(created.cleartext)  # rotated away
    creds = client.credentials(rotated.cleartext)
    refreshed = await creds.token()
    emu.inject_fault("/v1/mgmt/accesskey/delete", status=500, times=1)
    await client.access_keys.delete(key_id)

    exported = "\n".join(span.to_json() for span in otel.spans()) + otel.metrics_json()
    assert len(otel.spans()) >= 10
    for name in ("access_keys.rotate", "exchange_access_key", "jwks", "retry", "ServerError"):
        assert name in exported  # what was grepped is what the SDK emitted
    secrets = {
        "management key": emu.management_key,
        "access-key secret": created.cleartext,
        "rotated secret": rotated.cleartext,
        "wrong secret": wrong_secret,
        "jwt": token.jwt,
        "jwt payload": payload,
        "jwt signature": signature,
        "refreshed jwt": refreshed.jwt,
        "refreshed signature": refreshed.jwt.rsplit(".", 1)[1],
        "bearer": "Bearer ",
        **{f"body {marker}": marker for marker in BODY_MARKERS},
    }
    # A secret's tail: an encoding or a cut would still leak it.
    for what, value in secrets.items():
        assert value not in exported, what
        if len(value) > 24:
            assert value[-16:] not in exported, what
