"""The sync facade has exactly the async surface: names, signatures, docstrings."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from descope_keys._access_keys import AsyncAccessKeys
from descope_keys._client import AsyncDescopeKeys
from descope_keys._credentials import AsyncAccessKeyCredentials
from descope_keys._sync import AccessKeyCredentials, AccessKeys, DescopeKeys

RENAMES = {
    "AsyncDescopeKeys": "DescopeKeys",
    "AsyncAccessKeys": "AccessKeys",
    "AsyncAccessKeyCredentials": "AccessKeyCredentials",
    "aclose": "close",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
}
PAIRS = [
    (AsyncDescopeKeys, DescopeKeys),
    (AsyncAccessKeys, AccessKeys),
    (AsyncAccessKeyCredentials, AccessKeyCredentials),
]
# AccessKeys and AccessKeyCredentials are built by DescopeKeys (around the
# loop portal), never by users: their constructors differ on purpose.
DIFFERENT_ON_PURPOSE = {
    (AccessKeys, "__init__"),
    (AsyncAccessKeyCredentials, "__init__"),
    (AccessKeyCredentials, "__init__"),
}
DUNDERS = {"__init__", "__repr__", "__aenter__", "__aexit__", "__enter__", "__exit__"}


def rename(annotation: Any) -> Any:
    if not isinstance(annotation, str):  # inspect.Parameter.empty
        return annotation
    return re.sub(r"\b(" + "|".join(RENAMES) + r")\b", lambda m: RENAMES[m.group(1)], annotation)


def public(cls: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(cls).items()
        if (not name.startswith("_") or name in DUNDERS) and (cls, name) not in DIFFERENT_ON_PURPOSE
    }


def members() -> list[tuple[type, type, str]]:
    return [
        (async_cls, sync_cls, name)
        for async_cls, sync_cls in PAIRS
        for name in public(async_cls)
        if (sync_cls, RENAMES.get(name, name)) not in DIFFERENT_ON_PURPOSE
    ]


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_the_same_public_members(async_cls: type, sync_cls: type) -> None:
    expected = {RENAMES.get(name, name) for name in public(async_cls)}
    expected -= {name for cls, name in DIFFERENT_ON_PURPOSE if cls is sync_cls}
    assert set(public(sync_cls)) == expected


@pytest.mark.parametrize(("async_cls", "sync_cls", "name"), members())
def test_the_same_signature(async_cls: type, sync_cls: type, name: str) -> None:
    async_member = vars(async_cls)[name]
    sync_member = vars(sync_cls)[RENAMES.get(name, name)]
    assert isinstance(async_member, property) == isinstance(sync_member, property)
    if isinstance(async_member, property):
        async_member, sync_member = async_member.fget, sync_member.fget
    async_sig = inspect.signature(async_member)
    sync_sig = inspect.signature(sync_member)
    assert list(sync_sig.parameters) == list(async_sig.parameters)
    for param_name, a in async_sig.parameters.items():
        s = sync_sig.parameters[param_name]
        assert s.kind == a.kind, param_name
        assert s.default == a.default, param_name
        assert s.annotation == rename(a.annotation), param_name
    assert sync_sig.return_annotation == rename(async_sig.return_annotation)


@pytest.mark.parametrize(("async_cls", "sync_cls", "name"), members())
def test_the_same_docstring(async_cls: type, sync_cls: type, name: str) -> None:
    async_doc = inspect.getdoc(vars(async_cls)[name])
    sync_doc = inspect.getdoc(vars(sync_cls)[RENAMES.get(name, name)])
    if async_doc is None:
        assert sync_doc is None or name in DUNDERS
    else:
        assert sync_doc == rename(async_doc)


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_class_docstrings_keep_the_argument_sections(async_cls: type, sync_cls: type) -> None:
    async_doc = inspect.getdoc(async_cls)
    sync_doc = inspect.getdoc(sync_cls)
    assert async_doc is not None
    assert sync_doc is not None
    marker = "Args:"
    if marker in async_doc:
        assert sync_doc[sync_doc.index(marker) :] == async_doc[async_doc.index(marker) :]


@pytest.mark.parametrize(("async_cls", "sync_cls", "name"), members())
def test_sync_members_are_plain_functions(async_cls: type, sync_cls: type, name: str) -> None:
    sync_member = vars(sync_cls)[RENAMES.get(name, name)]
    function = sync_member.fget if isinstance(sync_member, property) else sync_member
    assert not inspect.iscoroutinefunction(function)
    assert not inspect.isasyncgenfunction(function)


def test_the_sync_classes_are_exported_from_the_package() -> None:
    import descope_keys

    assert descope_keys.DescopeKeys is DescopeKeys
    assert descope_keys.AccessKeys is AccessKeys
    assert descope_keys.AccessKeyCredentials is AccessKeyCredentials
    assert {"AccessKeyCredentials", "AccessKeys", "DescopeKeys"} <= set(descope_keys.__all__)
