"""The API reference as ``pydoc`` (and mkdocstrings) shows it: complete, typed, public.

Walks every public module's ``__all__``: every public callable has a docstring
of its own, every client coroutine that does I/O says it raises
``TransportError`` (and so does its sync twin), the signatures of public
classes show real annotations and defaults, and nothing is documented under a
private module.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
import types
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

import descope_keys

PUBLIC_MODULES = [
    "descope_keys",
    "descope_keys.errors",
    "descope_keys.telemetry",
    "descope_keys.testing",
    "descope_keys.emulator",
    "descope_keys.cli",
    "descope_keys.integrations.aiohttp",
    "descope_keys.integrations.asgi",
    "descope_keys.integrations.wsgi",
    "descope_keys.integrations.fastapi",
    "descope_keys.integrations.flask",
    "descope_keys.integrations.httpx",
    "descope_keys.integrations.requests",
]

# Coroutine methods of the client classes that do no I/O, and why.
NO_IO = {
    "aclose": "closes the client's own sessions; it sends no request",
}
# The sync facade's twins of the async client classes (tools/gen_sync.py).
SYNC_TWINS = {
    "AsyncDescopeKeys": "DescopeKeys",
    "AsyncAccessKeys": "AccessKeys",
    "AsyncAccessKeyCredentials": "AccessKeyCredentials",
}


def _module(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # an integration whose framework is not installed
        pytest.skip(f"{name}: {exc}")


def _exports() -> Iterator[tuple[str, str, Any]]:
    for module_name in PUBLIC_MODULES:
        module = _module(module_name)
        for name in module.__all__:
            yield module_name, name, getattr(module, name)


def _own_members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties the class itself defines (not inherited ones)."""
    for name, value in vars(cls).items():
        if name.startswith("_") or isinstance(value, (type, enum.Enum)):
            continue
        if isinstance(value, (classmethod, staticmethod)):
            yield name, value.__func__
        elif isinstance(value, property) or inspect.isfunction(value):
            yield name, value


def _coroutine_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, value in vars(cls).items():
        if name.startswith("_") or name in NO_IO:
            continue
        function = getattr(value, "__func__", value)
        if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
            yield name, function


def _raises(doc: str | None) -> set[str]:
    """The exception names listed under the docstring's ``Raises:`` section."""
    # Dedented first, so the section headers start their lines and the entries are indented.
    text = inspect.cleandoc(doc or "")
    section = re.search(r"^Raises:\n((?:[ \t]+\S.*\n?|[ \t]*\n)+)", text, re.MULTILINE)
    if section is None:
        return set()
    lines = section.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return {
        line.strip().split(":", 1)[0]
        for line in lines
        if line.strip() and len(line) - len(line.lstrip()) == indent
    }


def test_the_walk_covers_the_whole_public_api() -> None:
    names = {(module, name) for module, name, _ in _exports()}
    assert len(names) > 60
    for expected in [
        ("descope_keys", "AsyncDescopeKeys"),
        ("descope_keys", "AccessKey"),
        ("descope_keys.emulator", "Emulator"),
        ("descope_keys.testing", "TokenFactory"),
        ("descope_keys.cli", "main"),
    ]:
        assert expected in names


def test_every_public_callable_has_a_docstring_of_its_own() -> None:
    missing = []
    for module, name, value in _exports():
        if not callable(value):
            continue
        if not (getattr(value, "__doc__", None) or "").strip():
            missing.append(f"{module}.{name}")
        if inspect.isclass(value):
            for member, function in _own_members(value):
                if not (function.__doc__ or "").strip():
                    missing.append(f"{module}.{name}.{member}")
    assert missing == []


def test_every_client_coroutine_that_does_io_lists_transport_error() -> None:
    checked, missing = [], []
    for _, name, value in _exports():
        if not inspect.isclass(value) or value.__module__ != "descope_keys":
            continue
        twin = getattr(descope_keys, SYNC_TWINS[name]) if name in SYNC_TWINS else None
        for method, function in _coroutine_methods(value):
            checked.append(f"{name}.{method}")
            if "TransportError" not in _raises(function.__doc__):
                missing.append(f"{name}.{method}")
            if twin is not None and "TransportError" not in _raises(getattr(twin, method).__doc__):
                missing.append(f"{twin.__name__}.{method}")
    assert {"AsyncDescopeKeys.validate_token", "AsyncAccessKeys.create"} <= set(checked)
    assert "AsyncAccessKeyCredentials.token" in checked
    assert missing == []


def test_the_httpx_auth_flows_list_transport_error() -> None:
    httpx_integration = _module("descope_keys.integrations.httpx")
    auth = httpx_integration.AccessKeyAuth
    for flow in (auth.sync_auth_flow, auth.async_auth_flow):
        assert "TransportError" in _raises(flow.__doc__), flow.__name__


def test_the_raises_parser_reads_only_the_section_s_names() -> None:
    doc = """Do it.

    Raises:
        NotFoundError: no key has that id.
        TransportError: no usable answer, after
            the retries (ApiError: not a name here).

    Returns:
        Nothing.
    """
    assert _raises(doc) == {"NotFoundError", "TransportError"}
    assert _raises(inspect.cleandoc(doc)) == {"NotFoundError", "TransportError"}
    assert _raises("Do it.") == set()


def test_public_class_signatures_show_real_annotations_and_defaults() -> None:
    bad = []
    for module, name, value in _exports():
        if not inspect.isclass(value):
            continue
        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):  # a builtin-backed class without one
            continue
        text = str(signature)
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue  # passed through (SafeAppRunner's **kwargs go to aiohttp)
            if parameter.default is attrs.NOTHING or parameter.annotation in ("Any", Any):
                bad.append(f"{module}.{name}({parameter})")
        if "NOTHING" in text or "'Any' = ()" in text:
            bad.append(f"{module}.{name}{text}")
    assert bad == []


def test_the_attrs_models_signatures_in_particular() -> None:
    key = str(inspect.signature(descope_keys.AccessKey))
    assert "role_names: 'Iterable[str] | None' = ()" in key
    assert "key_tenants: 'Iterable[KeyTenant]' = ()" in key
    assert "custom_claims: 'Mapping[str, Any] | None' = None" in key
    # The converter still gives an empty mapping for the default.
    assert descope_keys.AccessKey("K1").custom_claims == {}
    assert "role_names: 'Iterable[str] | None' = ()" in str(
        inspect.signature(descope_keys.KeyTenant)
    )


def test_nothing_public_is_documented_under_a_private_module() -> None:
    private = [
        f"{module}.{name} -> {value.__module__}"
        for module, name, value in _exports()
        if (inspect.isclass(value) or inspect.isfunction(value))
        and any(part.startswith("_") for part in value.__module__.split("."))
    ]
    assert private == []


def test_access_keys_names_its_class_in_both_clients() -> None:
    for client, expected in (
        (descope_keys.AsyncDescopeKeys, descope_keys.AsyncAccessKeys),
        (descope_keys.DescopeKeys, descope_keys.AccessKeys),
    ):
        prop = inspect.getattr_static(client, "access_keys")
        assert isinstance(prop, property)
        assert inspect.signature(prop.fget).return_annotation == expected.__name__
        assert f":class:`{expected.__name__}`" in (prop.__doc__ or "")
