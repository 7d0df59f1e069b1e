"""Helpers to read back what the SDK sent through aioresponses."""

from __future__ import annotations

import json
from typing import Any

from yarl import URL

from tests._aioresponses_compat import compat_aioresponses


class SentRequest:
    """One recorded request: method, path, query, headers and decoded JSON body."""

    def __init__(self, method: str, url: URL, kwargs: dict[str, Any]) -> None:
        self.method = method
        self.path = url.path
        self.query = dict(url.query)
        self.headers = {k.lower(): v for k, v in dict(kwargs.get("headers") or {}).items()}
        data = kwargs.get("data")
        self.body = None if data is None else json.loads(data)


def sent(mocked: compat_aioresponses) -> list[SentRequest]:
    """Every request recorded so far, in order of the calls."""
    out = []
    for (method, url), calls in mocked.requests.items():
        out.extend(SentRequest(method, url, call.kwargs) for call in calls)
    return out


def only_request(mocked: compat_aioresponses) -> SentRequest:
    requests = sent(mocked)
    assert len(requests) == 1, f"expected exactly one request, saw {len(requests)}"
    return requests[0]


def key_json(key_id: str = "K1", **overrides: Any) -> dict[str, Any]:
    """A complete AccessKey as the server returns it (every modelled field)."""
    key: dict[str, Any] = {
        "id": key_id,
        "name": "ci-bot",
        "roleNames": ["Viewer"],
        "keyTenants": [{"tenantId": "T1", "roleNames": ["Admin"], "tenantName": "Tenant One"}],
        "status": "active",
        "createdTime": 1_700_000_000,
        "expireTime": 0,
        "createdBy": "U1",
        "clientId": "C1",
        "boundUserId": "",
        "customClaims": {"k1": "v1"},
        "description": "",
        "permittedIps": [],
        "customAttributes": {},
    }
    key.update(overrides)
    return key
