"""Protect web endpoints with access-key tokens: aiohttp, ASGI and WSGI middleware.

One core, one small module per framework; each module imports its own
framework and no other, and this package imports none:

* :mod:`descope_keys.integrations.aiohttp` - ``descope_middleware(client, ...)``
  and a ``require(...)`` handler decorator; token at ``request["descope_token"]``.
* :mod:`descope_keys.integrations.asgi` - ``DescopeMiddleware(app, client, ...)``,
  pure ASGI, for Starlette or any ASGI app; token at
  ``scope["state"]["descope_token"]``. Imports no framework.
* :mod:`descope_keys.integrations.fastapi` - the same middleware and a FastAPI
  dependency ``require(...)``.
* :mod:`descope_keys.integrations.wsgi` - ``DescopeMiddleware(app, client, ...)``
  for a sync ``DescopeKeys``, for Django or any WSGI app; token at
  ``environ["descope_keys.token"]``. Imports no framework.
* :mod:`descope_keys.integrations.flask` - the same middleware and a Flask
  view decorator ``require(...)``.

``asgi.require`` and ``wsgi.require`` still resolve, to the FastAPI and
Flask ``require``, with a ``DeprecationWarning``.

On the calling side, machines send their access key's session token with
``access_key_auth(creds)`` (:mod:`descope_keys.integrations.aiohttp`, a client
middleware) or ``AccessKeyAuth(creds)`` (:mod:`descope_keys.integrations.httpx`,
:mod:`descope_keys.integrations.requests`; extras ``httpx`` and ``requests``).

Every refusal is a small JSON body ``{"error": CODE, "reason": REASON}``:

=====  ======================  ====================================================
 401   ``invalid_token``       no/malformed ``Authorization``, or a token that
                               failed validation (``reason``: ``missing_token``,
                               ``malformed_authorization``, ``expired``,
                               ``bad_signature`` ...); header
                               ``WWW-Authenticate: Bearer error="invalid_token"``
 403   ``insufficient_scope``  valid token without a required role
                               (``missing_role``), permission
                               (``missing_permission``) or tenant
                               (``tenant_not_allowed``)
 503   ``jwks_unavailable``    the key set could not be fetched: the token was
                               not judged; no ``WWW-Authenticate``
=====  ======================  ====================================================

The token itself is never logged, echoed or put in a response.
"""
