"""requests integration: :class:`AccessKeyAuth` sends an access key's session token.

::

    import requests
    from descope_keys.integrations.requests import AccessKeyAuth

    creds = client.credentials()  # a DescopeKeys client; key from DESCOPE_ACCESS_KEY
    session = requests.Session()
    session.auth = AccessKeyAuth(creds)
    session.get(f"{api}/reports")

Needs the ``requests`` extra: ``pip install 'descope-keys[requests]'``.
"""

# Absolute imports only: this module is itself named requests, and
# ``import requests`` below must find the library, not this file.
from __future__ import annotations

from typing import Any

try:
    import requests
    from requests.auth import AuthBase
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "descope_keys.integrations.requests needs requests: pip install 'descope-keys[requests]'"
    ) from None

from descope_keys._secret import Secret
from descope_keys._sync import AccessKeyCredentials
from descope_keys.errors import InvalidArgumentError

__all__ = ["AccessKeyAuth"]


class AccessKeyAuth(AuthBase):
    """A ``requests`` auth that sends ``Authorization: Bearer <jwt>`` and handles a 401 once.

    When the application answers 401, the token is dropped, exchanged again
    and the request resent once (as ``HTTPDigestAuth`` resends: the first
    response lands in ``history``); a second 401 is returned as it is. A
    request whose body cannot be replayed (a generator, a stream that cannot
    seek back) is not resent.

    Args:
        credentials: From ``DescopeKeys.credentials()``.

    Raises:
        InvalidArgumentError: ``credentials`` is not an ``AccessKeyCredentials``.
    """

    def __init__(self, credentials: AccessKeyCredentials) -> None:
        if not isinstance(credentials, AccessKeyCredentials):
            raise InvalidArgumentError(
                "credentials", "must be an AccessKeyCredentials (DescopeKeys.credentials())"
            )
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"AccessKeyAuth({self._credentials!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # Wrapped: this frame is in the traceback of every failed request.
        sent = Secret(self._credentials.authorization())
        request.headers["Authorization"] = sent.reveal()
        position = _body_position(request.body)
        hook = _Resend(self._credentials, sent, position)
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request


def _body_position(body: object) -> int | None:
    """Where a file-like body starts, to rewind it for the resend; None when it cannot."""
    tell = getattr(body, "tell", None)
    if tell is None:
        return None
    try:
        position = tell()
    except OSError:
        return None
    return position if isinstance(position, int) else None


class _Resend:
    """The response hook of one request: on 401, a fresh token and one resend."""

    __slots__ = ("_credentials", "_position", "_sent")

    def __init__(
        self, credentials: AccessKeyCredentials, sent: Secret, position: int | None
    ) -> None:
        self._credentials = credentials
        self._sent = sent
        self._position = position

    def __repr__(self) -> str:
        return "<AccessKeyAuth 401 hook>"

    def _rewound(self, request: requests.PreparedRequest) -> bool:
        # Typed as bytes | str | None, but requests also sends files and iterators.
        body: object = request.body
        if body is None or isinstance(body, (bytes, str)):
            return True
        if self._position is None or not hasattr(body, "seek"):
            return False  # a generator or a stream: it went out once
        try:
            body.seek(self._position)
        except (OSError, ValueError):
            return False
        return True

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or not self._rewound(request):
            return response
        # Only if our token is still current: many requests refused with one
        # old token cost one exchange.
        self._credentials.invalidate(self._sent.reveal())
        fresh = Secret(self._credentials.authorization())
        # Release the connection of the 401 before resending on it.
        response.content  # noqa: B018
        response.close()
        resend = request.copy()
        # Without this hook: a second 401 goes back to the caller as it is.
        resend.hooks = {
            event: [hook for hook in hooks if hook is not self]
            for event, hooks in request.hooks.items()
        }
        resend.headers["Authorization"] = fresh.reveal()
        # Cookies the 401 set go with the resend, as HTTPDigestAuth does it.
        jar = resend._cookies  # type: ignore[attr-defined]
        requests.cookies.extract_cookies_to_jar(jar, request, response.raw)  # type: ignore[no-untyped-call]
        resend.prepare_cookies(jar)
        again: requests.Response = response.connection.send(resend, **kwargs)
        again.history.append(response)
        again.request = resend
        return again
