"""Every ``/emulator/...`` hook body refuses a field it does not know, with a 400 naming it.

A silently ignored field changes what the hook does: ``{"prefix": ...}`` for
``pathPrefix`` used to fault every path.
"""

from __future__ import annotations

import pytest

from descope_keys.emulator import Emulator, Fault
from tests.emulator.conftest import Api

LICENSE = "/v1/mgmt/license"

# (method, path, a body the hook takes, the misspelt field, the name it suggests)
HOOKS = [
    ("POST", "/emulator/faults", {"pathPrefix": LICENSE}, "prefix", "pathPrefix"),
    ("POST", "/emulator/faults", {"pathPrefix": LICENSE}, "retry_after", "retryAfter"),
    ("POST", "/emulator/rate-limit", {"callsPerSecond": None}, "pathprefix", "pathPrefix"),
    ("POST", "/emulator/clock", {"advance": 0}, "advanced", "advance"),
    ("DELETE", "/emulator/faults", {}, "pathPrefix", None),
    ("POST", "/emulator/signing-keys/publish-next", {}, "kid", None),
    ("POST", "/emulator/signing-keys/switch", {}, "kid", None),
    ("POST", "/emulator/signing-keys/rotate", {}, "kid", None),
    ("POST", "/emulator/signing-keys/drop-retired", {}, "kid", None),
]


@pytest.mark.parametrize(("method", "path", "good", "field", "suggested"), HOOKS)
async def test_an_unknown_hook_field_is_a_400_naming_it(
    api: Api,
    emulator: Emulator,
    method: str,
    path: str,
    good: dict[str, object],
    field: str,
    suggested: str | None,
) -> None:
    if path.endswith("/switch"):  # so that the valid call has a key to switch to
        emulator.publish_next_signing_key()
    kid_before, jwks_before = emulator.signing_kid, emulator.jwks()
    status, error = await api.mgmt(method, path, {**good, field: "/"})
    assert status == 400, error
    assert error["errorCode"] == "E011003"
    assert f"unknown field {field!r}" in error["errorMessage"]
    if suggested is not None:
        assert f"did you mean {suggested!r}" in error["errorMessage"]
    # Refused before it did anything: no fault queued, no signing key touched.
    assert (await api.mgmt("GET", LICENSE))[0] == 200
    assert (emulator.signing_kid, emulator.jwks()) == (kid_before, jwks_before)
    assert (await api.mgmt(method, path, good))[0] == 200


async def test_a_misspelt_path_prefix_no_longer_faults_every_path(
    api: Api, emulator: Emulator
) -> None:
    status, _ = await api.mgmt("POST", "/emulator/faults", {"prefix": LICENSE, "status": 500})
    assert status == 400
    assert (await api.mgmt("GET", LICENSE))[0] == 200
    await api.ok("POST", "/emulator/faults", {"pathPrefix": LICENSE, "status": 500})
    assert (await api.mgmt("GET", LICENSE))[0] == 500


async def test_every_fault_field_is_accepted_in_camel_case(api: Api, emulator: Emulator) -> None:
    body = {
        "pathPrefix": LICENSE,
        "status": 502,
        "times": 1,
        "retryAfter": 2,
        "body": "<html>bad gateway</html>",
        "delay": 0,
        "dropConnection": False,
        "afterHandler": False,
    }
    assert set(body) == set(Fault.json_fields())
    await api.ok("POST", "/emulator/faults", body)
    status, text = await api.mgmt("GET", LICENSE)
    assert (status, text) == (502, "<html>bad gateway</html>")


async def test_an_empty_body_is_still_fine_for_the_hooks_without_fields(
    api: Api, emulator: Emulator
) -> None:
    await api.ok("POST", "/emulator/signing-keys/publish-next")
    assert await api.ok("DELETE", "/emulator/faults") == {}
