"""Fuzz of the emulator's routes over JSON bodies: whatever the body, never a 500.

Bodies mix each route's own field names with hostile values (NaN, infinities,
numbers past any time, deep nesting, wrong types, duplicate members), sent
raw so that Python's encoder cannot tidy them up.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from descope_keys.emulator import ThreadedEmulator
from descope_keys.emulator._signing import generate_rsa_key

PROJECT_ID = "P2fuzz00000000000000000000000"
MANAGEMENT_KEY = "mgmt-key-for-the-fuzz-test-0001"
MGMT = "/v1/mgmt/accesskey"
ROUTES = {
    f"{MGMT}/create": [
        "name",
        "expireTime",
        "roleNames",
        "keyTenants",
        "userId",
        "customClaims",
        "description",
        "permittedIps",
        "customAttributes",
    ],
    f"{MGMT}/search": ["tenantIds", "boundUserId", "creatingUser", "customAttributes", "sort"],
    f"{MGMT}/update": [
        "id",
        "name",
        "description",
        "customClaims",
        "permittedIps",
        "customAttributes",
        "roleNames",
        "keyTenants",
    ],
    f"{MGMT}/rotate": ["id"],
    f"{MGMT}/activate": ["id"],
    f"{MGMT}/deactivate": ["id"],
    f"{MGMT}/delete": ["id"],
    f"{MGMT}/activate/batch": ["ids"],
    f"{MGMT}/deactivate/batch": ["ids"],
    f"{MGMT}/delete/batch": ["ids"],
    "/v1/auth/accesskey/exchange": ["loginOptions"],
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[ThreadedEmulator, list[str]]]:
    pem = generate_rsa_key().as_pem(private=True).decode("ascii")
    with ThreadedEmulator(
        project_id=PROJECT_ID, management_key=MANAGEMENT_KEY, signing_key=pem
    ) as emu:
        # Real ids and a real secret, so that updates and exchanges reach their checks.
        secrets = []
        ids = []
        for name in ("a", "b"):
            status, created = send(emu, f"{MGMT}/create", json.dumps({"name": name}))
            assert status == 200
            ids.append(created["key"]["id"])
            secrets.append(created["cleartext"])
        yield emu, ids + secrets


def send(emu: ThreadedEmulator, path: str, body: str, secret: str | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        auth = MANAGEMENT_KEY if secret is None else secret
        conn.request(
            "POST",
            path,
            body.encode("utf-8", "surrogatepass"),
            {"Authorization": f"Bearer {PROJECT_ID}:{auth}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw


def hostile_values(known: list[str]) -> st.SearchStrategy[str]:
    """JSON text of one value, hostile or ordinary."""
    raw = st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e300",
            "1e400",
            "-1e300",
            "1" + "0" * 40,
            "253402300800",
            "32503679999",
            "0",
            "-1",
            "1.5",
            "true",
            "null",
            '""',
            "[]",
            "{}",
            "[" * 40 + "]" * 40,
            '{"a":' * 40 + "1" + "}" * 40,
            "[" * 3000 + "]" * 3000,
            '"\\ud800"',
            '[{"field": ["id"]}]',
            '[{"field": {"a": 1}}]',
            '[{"field": "name"}]',
            '[{"tenantId": "T1", "roleNames": [NaN]}]',
            '{"customClaims": {"x": NaN}}',
            '{"customClaims": ' + "[" * 40 + "]" * 40 + "}",
            '{"selectedTenant": 5}',
        ]
    )
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(known),
    )
    structured = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value, allow_nan=True))
    return st.one_of(raw, raw, structured)


@st.composite
def requests(draw: st.DrawFn, known: list[str]) -> tuple[str, str]:
    path = draw(st.sampled_from(sorted(ROUTES)))
    fields = draw(st.lists(st.sampled_from(ROUTES[path] + ["x"]), max_size=5))
    members = [f"{json.dumps(name)}: {draw(hostile_values(known))}" for name in fields]
    if draw(st.booleans()):
        # Valid required fields first (a later duplicate member wins), so the
        # hostile ones reach the checks behind them.
        base = {"name": "fuzz"} if path.endswith("/create") else {"id": known[0], "name": "x"}
        members[:0] = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in base.items()]
    body = "{" + ", ".join(members) + "}"
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.sampled_from(["", "[]", "null", "{", body + "x", "NaN"]))
    return path, body


@pytest.mark.slow  # about 4 s: a real server, one or more requests per example
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_body_ever_gets_a_500(
    emulator: tuple[ThreadedEmulator, list[str]], data: st.DataObject
) -> None:
    emu, known = emulator
    path, body = data.draw(requests(known))
    secret = known[-1] if path.endswith("/exchange") else None
    status, answer = send(emu, path, body, secret)
    event(f"{status}")
    assert status < 500, (path, body[:200], answer)
    if status >= 400:
        assert set(answer) == {"errorCode", "errorDescription", "errorMessage"}
    elif path.endswith("/create"):
        # Whatever create accepted, the key stays usable (no stuck key).
        key_id = json.dumps(answer["key"]["id"])
        for follow_up, follow_body in [
            (f"{MGMT}/update", f'{{"id": {key_id}, "name": "renamed"}}'),
            (f"{MGMT}/rotate", f'{{"id": {key_id}}}'),
            (f"{MGMT}/deactivate/batch", f'{{"ids": [{key_id}]}}'),
            (f"{MGMT}/search", '{"sort": [{"field": "name"}]}'),
            (f"{MGMT}/delete", f'{{"id": {key_id}}}'),
        ]:
            status, answer = send(emu, follow_up, follow_body)
            assert status == 200, (follow_up, body[:200], answer)
