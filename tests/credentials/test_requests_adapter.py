"""integrations.requests.AccessKeyAuth: sends the token, handles a 401 once, like HTTPDigestAuth."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
import requests

from descope_keys import DescopeKeys, InvalidArgumentError
from descope_keys.emulator import ThreadedEmulator
from descope_keys.integrations.requests import AccessKeyAuth
from tests.credentials._apps import Recorder, protected_wsgi_app, serve_wsgi
from tests.credentials.conftest import exchanges

TIMEOUT = 10


def test_requests_reach_the_protected_app_with_a_token(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    with (
        DescopeKeys(threaded.project_id, base_url=threaded.base_url) as validator,
        serve_wsgi(protected_wsgi_app(validator)) as url,
        requests.Session() as session,
    ):
        session.auth = AccessKeyAuth(creds)
        for _ in range(20):
            response = session.get(f"{url}/seconds-left", timeout=TIMEOUT)
            assert response.status_code == 200, response.text
            assert response.json()["left"] > 0
    assert exchanges(threaded) == 1


def test_a_401_gets_a_fresh_token_and_one_resend(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    creds.authorization()
    time.sleep(1.05)  # whole-second iat: the next token differs
    app = Recorder([401], then=200)
    with serve_wsgi(app) as url:
        response = requests.post(
            f"{url}/jobs", data=b"payload", auth=AccessKeyAuth(creds), timeout=TIMEOUT
        )
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    (first, body1), (second, body2) = app.seen
    assert first != second == creds.authorization()
    assert body1 == body2 == b"payload"
    assert exchanges(threaded) == 2


def test_a_server_that_always_answers_401_gets_exactly_one_resend(
    threaded: ThreadedEmulator, sync_client: DescopeKeys, sync_secret: str
) -> None:
    creds = sync_client.credentials(sync_secret)
    app = Recorder(then=401)
    with serve_wsgi(app) as url:
        response = requests.get(f"{url}/x", auth=AccessKeyAuth(creds), timeout=TIMEOUT)
    assert response.status_code == 401
    assert len(response.history) == 1
    assert len(app.seen) == 2
    assert exchanges(threaded) == 2


def test_a_file_body_is_rewound_and_resent(sync_client: DescopeKeys, sync_secret: str) -> None:
    creds = sync_client.credentials(sync_secret)
    app = Recorder(then=401)
    body = io.BytesIO(b"head|file-content")
    body.seek(5)  # sent from where it stood
    with serve_wsgi(app) as url:
        requests.post(f"{url}/upload", data=body, auth=AccessKeyAuth(creds), timeout=TIMEOUT)
    assert [seen_body for _, seen_body in app.seen] == [b"file-content", b"file-content"]


def test_a_generator_body_is_not_resent(sync_client: DescopeKeys, sync_secret: str) -> None:
    creds = sync_client.credentials(sync_secret)
    app = Recorder(then=401)

    def stream() -> Iterator[bytes]:
        yield b"once"

    with serve_wsgi(app) as url:
        response = requests.post(
            f"{url}/upload", data=stream(), auth=AccessKeyAuth(creds), timeout=TIMEOUT
        )
    assert response.status_code == 401
    assert len(app.seen) == 1


def test_it_needs_sync_credentials() -> None:
    with pytest.raises(InvalidArgumentError, match="DescopeKeys"):
        AccessKeyAuth("Bearer x")  # type: ignore[arg-type]
