"""httpx integration: :class:`AccessKeyAuth` sends an access key's session token.

::

    import httpx
    from descope_keys.integrations.httpx import AccessKeyAuth

    creds = client.credentials()  # DescopeKeys for httpx.Client, AsyncDescopeKeys for AsyncClient
    with httpx.Client(base_url=api, auth=AccessKeyAuth(creds)) as http:
        http.get("/reports")

Needs the ``httpx`` extra: ``pip install 'descope-keys[httpx]'``.
"""

# Absolute imports only: this module is itself named httpx, and ``import
# httpx`` below must find the library, not this file.
from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

try:
    import httpx
except ImportError:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "descope_keys.integrations.httpx needs httpx: pip install 'descope-keys[httpx]'"
    ) from None

from descope_keys._credentials import AsyncAccessKeyCredentials
from descope_keys._secret import Secret
from descope_keys._sync import AccessKeyCredentials
from descope_keys.errors import InvalidArgumentError

__all__ = ["AccessKeyAuth"]


def _replayable(request: httpx.Request) -> bool:
    # httpx keeps in-memory bodies (bytes, text, JSON, form data) as a
    # ByteStream, which it can send again; generators and files stream once.
    return isinstance(request.stream, httpx.ByteStream)


class AccessKeyAuth(httpx.Auth):
    """An ``httpx.Auth`` that sends ``Authorization: Bearer <jwt>`` and handles a 401 once.

    When the application answers 401, the token is dropped, exchanged again
    and the request resent once; a second 401 is returned as it is. A request
    with a streamed body (a generator, a file, multipart) is not resent.

    Args:
        credentials: ``AccessKeyCredentials`` (``DescopeKeys.credentials()``)
            for ``httpx.Client``, ``AsyncAccessKeyCredentials``
            (``AsyncDescopeKeys.credentials()``) for ``httpx.AsyncClient``.

    Raises:
        InvalidArgumentError: ``credentials`` is neither.
    """

    def __init__(self, credentials: AccessKeyCredentials | AsyncAccessKeyCredentials) -> None:
        if not isinstance(credentials, (AccessKeyCredentials, AsyncAccessKeyCredentials)):
            raise InvalidArgumentError(
                "credentials", "must come from DescopeKeys.credentials() or AsyncDescopeKeys's"
            )
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"AccessKeyAuth({self._credentials!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Authorize ``request`` for ``httpx.Client`` (httpx drives this flow).

        Raises:
            InvalidArgumentError: the credentials are the async ones.
            AuthenticationError: the access key was refused (from the exchange).
            TransportError: no token, and the exchange got no usable answer.
        """
        credentials = self._credentials
        if not isinstance(credentials, AccessKeyCredentials):
            raise InvalidArgumentError(
                "credentials", "httpx.Client needs DescopeKeys.credentials(), not the async ones"
            )
        # Wrapped: this frame is in the traceback of every failed request.
        sent = Secret(credentials.authorization())
        request.headers["Authorization"] = sent.reveal()
        response = yield request
        if response.status_code != 401 or not _replayable(request):
            return
        # Only if ``sent`` is still current: concurrent 401s on one old token
        # cost one exchange. httpx reads the 401 and keeps it in ``history``.
        credentials.invalidate(sent.reveal())
        request.headers["Authorization"] = credentials.authorization()
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Authorize ``request`` for ``httpx.AsyncClient`` (httpx drives this flow).

        Raises:
            InvalidArgumentError: the credentials are the sync ones.
            AuthenticationError: the access key was refused (from the exchange).
            TransportError: no token, and the exchange got no usable answer.
        """
        credentials = self._credentials
        if not isinstance(credentials, AsyncAccessKeyCredentials):
            raise InvalidArgumentError(
                "credentials",
                "httpx.AsyncClient needs AsyncDescopeKeys.credentials(), not the sync ones",
            )
        sent = Secret(await credentials.authorization())
        request.headers["Authorization"] = sent.reveal()
        response = yield request
        if response.status_code != 401 or not _replayable(request):
            return
        credentials.invalidate(sent.reveal())
        request.headers["Authorization"] = await credentials.authorization()
        yield request
