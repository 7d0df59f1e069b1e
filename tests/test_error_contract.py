"""The error contract: whatever a caller does wrong, only DescopeErrors come out, before any I/O.

The walk is driven by introspection: every public method (and constructor)
of every class in ``descope_keys.__all__`` is found with ``inspect``, each of
its parameters gets bad values chosen from its annotation, and the call must
either raise a :class:`~descope_keys.DescopeError` or, for plain values,
return. A public method this file cannot call (a required parameter without
a valid value in ``VALID``) fails :func:`test_every_public_method_is_walked`,
so a new method is covered or the test says it is unlisted.

Nothing may reach the network: ``aiohttp.ClientSession._request`` is
replaced by a function that raises ``AssertionError``, which is no
DescopeError, so a call that got that far fails the test it is in.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

import descope_keys
from descope_keys import (
    AccessKey,
    AccessKeys,
    AccessKeyStatus,
    AccessKeyToken,
    AsyncAccessKeys,
    AsyncDescopeKeys,
    ClientClosedError,
    ConfigurationError,
    CreatedAccessKey,
    DescopeError,
    DescopeKeys,
    JwksPolicy,
    KeyTenant,
    RetryPolicy,
    TenantClaims,
    TokenValidationError,
    TransportError,
)
from descope_keys._jwt_checks import MAX_TOKEN_CHARS
from tests._jwt_factory import claims, mint, private_key
from tests._servers import closed_port
from tests.conftest import MANAGEMENT_KEY, PROJECT_ID

EXPIRES = datetime(2999, 1, 1, tzinfo=timezone.utc)
# A well-formed token of an unknown key: validating it would need the JWKS.
WELL_FORMED_JWT = mint(private_key(0), claims(), kid="k-unknown")

#: A valid value for every required parameter of a public callable, by name.
VALID: dict[str, Any] = {
    "access_key": "K1:cleartext-secret",
    "jwt": WELL_FORMED_JWT,
    "key_id": "K1",
    "key_ids": ["K1", "K2"],
    "name": "ci-bot",
    "tenant_id": "T1",
    "role": "admin",
    "permission": "read",
    # The values the SDK builds (AccessKey, AccessKeyToken...).
    "id": "K1",
    "key": AccessKey("K1"),
    "cleartext": "K1:cleartext-secret",
    "project_id": PROJECT_ID,
    "issued_at": None,
    "expires_at": EXPIRES,
    "roles": (),
    "permissions": (),
    "tenants": {},
    "nsec": {},
    "claims": {},
    "value": "active",
}

#: Public callables the walk leaves out, and why.
NOT_WALKED = {
    # Built by the clients around themselves, never by a caller.
    "AsyncAccessKeys.__init__": "reached as client.access_keys",
    "AccessKeys.__init__": "reached as client.access_keys",
    "PendingCleanup.__init__": "a snapshot the client builds: client.pending_cleanups",
    # Lifecycle: no input to get wrong (the closed-client tests call them).
    "AsyncDescopeKeys.aclose": "no arguments",
    "DescopeKeys.close": "no arguments",
    "RetryPolicy.disabled": "no arguments",
    "AsyncAccessKeyCredentials.__init__": "made by client.credentials()",
    "AccessKeyCredentials.__init__": "made by client.credentials()",
}

CREDENTIALS = {"AsyncAccessKeyCredentials", "AccessKeyCredentials"}
CLIENT_METHODS = {"AsyncDescopeKeys", "AsyncAccessKeys", "DescopeKeys", "AccessKeys", *CREDENTIALS}


def public_classes() -> list[type]:
    out = []
    for name in descope_keys.__all__:
        obj = getattr(descope_keys, name)
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            out.append(obj)
    return out


def _defined_here(cls: type, name: str) -> bool:
    """True when ``name`` comes from this package, not from str, Enum or object."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass.__module__.startswith("descope_keys")
    return False  # pragma: no cover - dir() lists only what the MRO has


def public_callables() -> Iterator[tuple[str, type, str]]:
    """``(qualified name, class, attribute)`` for each constructor and public method."""
    for cls in public_classes():
        if not issubclass(cls, enum.Enum):
            yield f"{cls.__name__}.__init__", cls, "__init__"
        else:
            yield f"{cls.__name__}.__call__", cls, "__call__"
        for name in sorted(dir(cls)):
            if name.startswith("_") or not _defined_here(cls, name):
                continue
            attr = inspect.getattr_static(cls, name)
            if isinstance(attr, property) or not callable(getattr(cls, name)):
                continue
            if isinstance(getattr(cls, name), enum.Enum):
                continue
            yield f"{cls.__name__}.{name}", cls, name


def signature(cls: type, attribute: str) -> inspect.Signature:
    if attribute == "__call__":  # an Enum is called with its value
        return inspect.Signature([inspect.Parameter("value", inspect.Parameter.POSITIONAL_ONLY)])
    target = cls if attribute == "__init__" else getattr(cls, attribute)
    sig = inspect.signature(target)
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    return sig.replace(parameters=params)


def bad_values(annotation: str) -> list[Any]:
    """Values no parameter so annotated accepts; by the annotation's text."""
    text = str(annotation)
    if "RetryPolicy" in text or "JwksPolicy" in text:
        return [5, "policy", {}]
    if "datetime" in text or "timedelta" in text:
        return [5, "tomorrow", datetime(2999, 1, 1), timedelta(seconds=-1)]
    if "Iterable" in text or "Sequence" in text or text.startswith("tuple"):
        return ["one string", 5, [5], [""], [None]]
    if "Mapping" in text and "str |" in text:  # public_key: a JWK(S) dict or its JSON
        return [5, "not json", "{}", {"kty": "RSA"}, []]
    if "Mapping" in text:
        return [5, "text", [("a", 1)], {1: "one"}, {"a": object()}, {"a": math.nan}]
    if text.startswith("float"):
        return [True, "1", None, math.nan, math.inf, -math.inf, -1.0, 10**400]
    if text.startswith("int"):
        return [True, 1.5, "1", 0, -1]
    if "str" in text:
        return [5, b"bytes", object(), ["a"]]
    return [object()]


def walked() -> list[tuple[str, type, str]]:
    return [c for c in public_callables() if c[0] not in NOT_WALKED]


def cases(*, kinds: set[str] | None = None) -> list[Any]:
    """One pytest param per (callable, parameter, bad value)."""
    out = []
    for qualname, cls, attribute in walked():
        if kinds is not None and cls.__name__ not in kinds:
            continue
        for param in signature(cls, attribute).parameters.values():
            if param.name == "value" and attribute == "__call__":
                annotation = "str"
            else:
                annotation = str(param.annotation)
            for index, value in enumerate(bad_values(annotation)):
                out.append(
                    pytest.param(
                        cls, attribute, param.name, value, id=f"{qualname}-{param.name}-{index}"
                    )
                )
    return out


def arguments(cls: type, attribute: str, name: str, value: Any) -> tuple[list[Any], dict[str, Any]]:
    """Valid arguments for the callable, with ``name`` set to ``value``."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for param in signature(cls, attribute).parameters.values():
        if param.name == name:
            given = value
        elif param.default is inspect.Parameter.empty:
            given = VALID[param.name]
        else:
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(given)
        else:
            kwargs[param.name] = given
    return args, kwargs


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a call reached the network")

    monkeypatch.setattr(aiohttp.ClientSession, "_request", refuse)


def dead_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


def raised_by(call: Callable[[], Any]) -> DescopeError | None:
    """The DescopeError ``call`` raises, or None when it returns; anything else propagates."""
    try:
        call()
    except DescopeError as exc:
        return exc
    return None


def assert_refused_before_io(error: DescopeError | None, *, returns_allowed: bool) -> None:
    if error is None:
        assert returns_allowed, "bad input was accepted"
        return
    # A network failure would be a TransportError: bad input must be refused
    # before any request. (A JWKS cache that may not fetch fails closed with
    # "no usable key set", which is no request either.)
    assert not isinstance(error, TransportError) or "no usable key set" in str(error), repr(error)


# -- every public method is walked --------------------------------------------


def test_every_public_method_is_walked() -> None:
    unlisted = []
    for qualname, cls, attribute in walked():
        for param in signature(cls, attribute).parameters.values():
            if param.default is inspect.Parameter.empty and param.name not in VALID:
                unlisted.append(f"{qualname}({param.name})")
    assert not unlisted, (
        "public callables this test cannot call: give each parameter a valid value in VALID "
        f"(or list the callable in NOT_WALKED, saying why): {unlisted}"
    )
    names = {qualname for qualname, _, _ in public_callables()}
    assert not set(NOT_WALKED) - names, "NOT_WALKED names a callable that is gone"
    # The walk reaches the whole documented surface.
    for expected in (
        "AsyncDescopeKeys.__init__",
        "AsyncDescopeKeys.exchange_access_key",
        "AsyncDescopeKeys.validate_token",
        "AsyncAccessKeys.create",
        "AsyncAccessKeys.delete_many",
        "DescopeKeys.__init__",
        "DescopeKeys.validate_token",
        "AccessKeys.update",
        "RetryPolicy.__init__",
        "JwksPolicy.__init__",
        "KeyTenant.__init__",
        "AccessKeyToken.has_role",
        "AccessKeyStatus.__call__",
    ):
        assert expected in names


# -- bad input, by annotation ---------------------------------------------------

VALUE_CASES = cases(kinds={c.__name__ for c in public_classes()} - CLIENT_METHODS)
ASYNC_CASES = cases(kinds={"AsyncDescopeKeys", "AsyncAccessKeys"})
SYNC_CASES = cases(kinds={"DescopeKeys", "AccessKeys"})


@pytest.mark.parametrize(("cls", "attribute", "name", "value"), VALUE_CASES)
def test_values_raise_only_descope_errors(cls: type, attribute: str, name: str, value: Any) -> None:
    args, kwargs = arguments(cls, attribute, name, value)
    if attribute in ("__init__", "__call__"):
        target: Callable[..., Any] = cls
    elif isinstance(inspect.getattr_static(cls, attribute), (classmethod, staticmethod)):
        target = getattr(cls, attribute)
    else:
        target = getattr(instance_of(cls), attribute)
    # Values may take what they are given (an AccessKey names nothing to check).
    assert_refused_before_io(raised_by(lambda: target(*args, **kwargs)), returns_allowed=True)


def instance_of(cls: type) -> Any:
    args, kwargs = arguments(cls, "__init__", "", None)
    return cls(*args, **kwargs)


@pytest.mark.parametrize(("cls", "attribute", "name", "value"), ASYNC_CASES)
async def test_the_async_client_raises_only_descope_errors_before_io(
    cls: type, attribute: str, name: str, value: Any
) -> None:
    args, kwargs = arguments(cls, attribute, name, value)
    if cls is AsyncDescopeKeys and attribute == "__init__":
        kwargs.setdefault("project_id", PROJECT_ID)
        assert_refused_before_io(raised_by(lambda: cls(*args, **kwargs)), returns_allowed=False)
        return
    error: DescopeError | None = None
    async with AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY, base_url=dead_url()) as client:
        target = getattr(client if cls is AsyncDescopeKeys else client.access_keys, attribute)
        try:
            await target(*args, **kwargs)
        except DescopeError as exc:
            error = exc
    assert_refused_before_io(error, returns_allowed=False)


@pytest.mark.parametrize(("cls", "attribute", "name", "value"), SYNC_CASES)
def test_the_sync_client_raises_only_descope_errors_before_io(
    cls: type, attribute: str, name: str, value: Any
) -> None:
    args, kwargs = arguments(cls, attribute, name, value)
    if cls is DescopeKeys and attribute == "__init__":
        kwargs.setdefault("project_id", PROJECT_ID)

        def construct() -> None:
            cls(*args, **kwargs).close()

        assert_refused_before_io(raised_by(construct), returns_allowed=False)
        return
    with DescopeKeys(PROJECT_ID, MANAGEMENT_KEY, base_url=dead_url()) as client:
        target = getattr(client if cls is DescopeKeys else client.access_keys, attribute)
        error = raised_by(lambda: target(*args, **kwargs))
    assert_refused_before_io(error, returns_allowed=False)


# -- bad values of the right type ------------------------------------------------

#: (label, client method path, args, kwargs): wrong values a type cannot catch.
VALUE_ERRORS: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
    ("empty id", "access_keys.load", ("",), {}),
    ("blank id", "access_keys.delete", ("  \n",), {}),
    ("empty name", "access_keys.create", ("",), {}),
    ("empty update name", "access_keys.update", ("K1",), {"name": ""}),
    ("naive expiry", "access_keys.create", ("n",), {"expire_time": datetime(2999, 1, 1)}),
    (
        "past expiry",
        "access_keys.create",
        ("n",),
        {"expire_time": datetime(2000, 1, 1, tzinfo=timezone.utc)},
    ),
    ("zero duration", "access_keys.create", ("n",), {"expire_time": timedelta(0)}),
    ("empty role", "access_keys.create", ("n",), {"role_names": [""]}),
    ("empty tenant id", "access_keys.create", ("n",), {"key_tenants": [KeyTenant("")]}),
    (
        "roles and tenants",
        "access_keys.create",
        ("n",),
        {"role_names": ["a"], "key_tenants": [KeyTenant("T")]},
    ),
    ("bad ip", "access_keys.create", ("n",), {"permitted_ips": ["999.1.1.1"]}),
    ("long claim name", "access_keys.create", ("n",), {"custom_claims": {"x" * 61: 1}}),
    (
        "too many claims",
        "access_keys.create",
        ("n",),
        {"custom_claims": {f"c{i}": i for i in range(101)}},
    ),
    ("NaN claim", "exchange_access_key", ("K1:s",), {"custom_claims": {"a": math.nan}}),
    ("empty batch", "access_keys.activate_many", ([],), {}),
    ("too long a batch", "access_keys.delete_many", (["K"] * 1001,), {}),
    ("empty id in a batch", "access_keys.deactivate_many", (["K1", ""],), {}),
    ("empty secret", "exchange_access_key", ("",), {}),
    ("secret with a newline", "exchange_access_key", ("K1:secret\n",), {}),
    ("secret with a space", "exchange_access_key", ("K1:sec ret",), {}),
    ("empty selected tenant", "exchange_access_key", ("K1:s",), {"selected_tenant": ""}),
    ("empty jwt", "validate_token", ("",), {}),
    ("two-part jwt", "validate_token", ("a.b",), {}),
    ("jwt with a newline", "validate_token", ("a\nb.c.d",), {}),
    ("oversized jwt", "validate_token", ("a" * (MAX_TOKEN_CHARS + 1),), {}),
    ("NaN-laden search", "access_keys.search", (), {"custom_attributes": {"a": math.nan}}),
]

#: Constructor input the clients refuse with ConfigurationError.
CONSTRUCTOR_ERRORS: list[tuple[str, dict[str, Any]]] = [
    ("empty project id", {"project_id": ""}),
    ("project id with a space", {"project_id": "P 1"}),
    ("project id with a newline", {"project_id": "P1\n"}),
    ("project id with a colon", {"project_id": "P:1"}),
    ("management key with a newline", {"management_key": "key\n"}),
    ("ftp base url", {"base_url": "ftp://127.0.0.1"}),
    ("base url with a query", {"base_url": "http://127.0.0.1/?q=1"}),
    ("zero timeout", {"timeout": 0}),
    ("NaN timeout", {"timeout": math.nan}),
    ("leeway past an hour", {"leeway": 4000}),
    ("negative leeway", {"leeway": -1}),
    ("empty public key", {"public_key": "{}"}),
    ("symmetric public key", {"public_key": {"kty": "oct", "k": "c2VjcmV0", "kid": "k"}}),
]


def _method(client: Any, path: str) -> Callable[..., Any]:
    target = client
    for part in path.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("label", "path", "args", "kwargs"), VALUE_ERRORS, ids=[c[0] for c in VALUE_ERRORS]
)
async def test_bad_values_are_descope_errors_before_io_async(
    label: str, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    async with AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY, base_url=dead_url()) as client:
        with pytest.raises(DescopeError) as info:
            await _method(client, path)(*args, **kwargs)
    assert not isinstance(info.value, TransportError), repr(info.value)


@pytest.mark.parametrize(
    ("label", "path", "args", "kwargs"), VALUE_ERRORS, ids=[c[0] for c in VALUE_ERRORS]
)
def test_bad_values_are_descope_errors_before_io_sync(
    label: str, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with (
        DescopeKeys(PROJECT_ID, MANAGEMENT_KEY, base_url=dead_url()) as client,
        pytest.raises(DescopeError) as info,
    ):
        _method(client, path)(*args, **kwargs)
    assert not isinstance(info.value, TransportError), repr(info.value)


@pytest.mark.parametrize("client_class", [AsyncDescopeKeys, DescopeKeys])
@pytest.mark.parametrize(
    ("label", "kwargs"), CONSTRUCTOR_ERRORS, ids=[c[0] for c in CONSTRUCTOR_ERRORS]
)
def test_bad_constructor_input_is_a_configuration_error(
    client_class: type, label: str, kwargs: dict[str, Any]
) -> None:
    given = {"project_id": PROJECT_ID, "management_key": MANAGEMENT_KEY, **kwargs}
    with pytest.raises(ConfigurationError) as info:
        client_class(**given)
    assert MANAGEMENT_KEY not in str(info.value)


def test_a_management_call_without_a_management_key_is_a_configuration_error() -> None:
    with DescopeKeys(PROJECT_ID, base_url=dead_url()) as client, pytest.raises(ConfigurationError):
        client.access_keys.load("K1")


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: RetryPolicy(attempts=0), "attempts"),
        (lambda: RetryPolicy(deadline="x"), "deadline"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(max_wait=math.nan), "max_wait"),
        (lambda: JwksPolicy(ttl=0), "ttl"),
        (lambda: JwksPolicy(timeout=math.inf), "timeout"),
        (lambda: JwksPolicy(max_stale=-1), "max_stale"),
        (lambda: KeyTenant("T1", role_names=5), "role_names"),  # type: ignore[arg-type]
        (lambda: AccessKeyStatus(5), "status"),  # type: ignore[arg-type]
    ],
)
def test_policies_and_values_raise_invalid_argument_errors(
    build: Callable[[], object], argument: str
) -> None:
    with pytest.raises(descope_keys.InvalidArgumentError) as info:
        build()
    assert info.value.argument == argument
    assert isinstance(info.value, ValueError)


# -- a closed client -----------------------------------------------------------


def _closed_calls() -> list[Any]:
    """Every walked client method, with valid arguments."""
    out = []
    for qualname, cls, attribute in walked():
        if cls.__name__ in CLIENT_METHODS and attribute != "__init__":
            out.append(pytest.param(cls, attribute, id=qualname))
    return out


def _expect_closed(exc: DescopeError, attribute: str) -> None:
    if attribute == "validate_token":
        # Validation needs no connection: a closed client's cache can only fail closed.
        assert isinstance(exc, (ClientClosedError, TokenValidationError, TransportError)), repr(exc)
    else:
        assert isinstance(exc, ClientClosedError), repr(exc)
        assert isinstance(exc, RuntimeError)


@pytest.mark.parametrize(
    ("cls", "attribute"),
    [c for c in _closed_calls() if c.values[0] in (AsyncDescopeKeys, AsyncAccessKeys)],
)
async def test_a_closed_async_client_raises_client_closed_error(cls: type, attribute: str) -> None:
    client = AsyncDescopeKeys(PROJECT_ID, MANAGEMENT_KEY, base_url=dead_url())
    await client.aclose()
    args, kwargs = arguments(cls, attribute, "", None)
    target = getattr(client if cls is AsyncDescopeKeys else client.access_keys, attribute)
    with pytest.raises(DescopeError) as info:
        await asyncio.wait_for(target(*args, **kwargs), 5)
    _expect_closed(info.value, attribute)
    await client.aclose()  # still idempotent


def test_a_closed_sync_client_raises_client_closed_error() -> None:
    client = DescopeKeys(PROJECT_ID, MANAGEMENT_KEY, base_url=dead_url())
    client.close()
    for param in _closed_calls():
        cls, attribute = param.values
        if cls not in (DescopeKeys, AccessKeys):
            continue
        args, kwargs = arguments(cls, attribute, "", None)
        target = getattr(client if cls is DescopeKeys else client.access_keys, attribute)
        with pytest.raises(DescopeError) as info:
            target(*args, **kwargs)
        _expect_closed(info.value, attribute)
    client.close()  # still idempotent


def test_the_created_key_and_token_values_are_walked_too() -> None:
    # Sanity of VALID: the value classes build from it.
    assert instance_of(CreatedAccessKey).key.id == "K1"
    assert isinstance(instance_of(AccessKeyToken), AccessKeyToken)
    assert instance_of(TenantClaims) == TenantClaims()


# -- credentials --------------------------------------------------------------

CREDENTIALS_CASES = cases(kinds=CREDENTIALS)


@pytest.mark.parametrize(("cls", "attribute", "name", "value"), CREDENTIALS_CASES)
async def test_credentials_raise_only_descope_errors_before_io(
    cls: type, attribute: str, name: str, value: Any
) -> None:
    args, kwargs = arguments(cls, attribute, name, value)
    if cls.__name__.startswith("Async"):
        async with AsyncDescopeKeys(PROJECT_ID, base_url=dead_url()) as client:
            target = getattr(client.credentials(VALID["access_key"]), attribute)
            with pytest.raises(DescopeError) as info:  # noqa: PT012 - a call, then its await
                result = target(*args, **kwargs)
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, 5)
    else:
        with DescopeKeys(PROJECT_ID, base_url=dead_url()) as sync_client:
            target = getattr(sync_client.credentials(VALID["access_key"]), attribute)
            with pytest.raises(DescopeError) as info:
                target(*args, **kwargs)
    assert_refused_before_io(info.value, returns_allowed=False)


async def test_credentials_of_a_closed_async_client_raise_client_closed_error() -> None:
    client = AsyncDescopeKeys(PROJECT_ID, base_url=dead_url())
    creds = client.credentials(VALID["access_key"])
    await client.aclose()
    for call in (creds.token, creds.authorization):
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(call(), 5)
    with pytest.raises(ClientClosedError):
        client.credentials(VALID["access_key"])


def test_credentials_of_a_closed_sync_client_raise_client_closed_error() -> None:
    client = DescopeKeys(PROJECT_ID, base_url=dead_url())
    creds = client.credentials(VALID["access_key"])
    client.close()
    for call in (creds.token, creds.authorization):
        with pytest.raises(ClientClosedError):
            call()
    with pytest.raises(ClientClosedError):
        client.credentials(VALID["access_key"])
