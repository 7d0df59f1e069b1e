"""The public surface of ``descope_keys`` is exactly ``__all__``, and every exported
class reports the package, not a private module, as its home (as httpx pins its own)."""

from __future__ import annotations
import __future__

import importlib
import importlib.metadata
import inspect
import pickle
import subprocess
import sys
import traceback
import types
import typing

import attrs
import pytest

import descope_keys
from descope_keys import errors

# Bound in the package namespace by its own imports, not part of its API.
_IMPORT_HELPERS = {"annotations": __future__.annotations, "Any": typing.Any}


def _public_names(module: types.ModuleType) -> set[str]:
    # dir() and getattr(), not vars(): the package serves its client-side
    # names on first access (PEP 562), and lists them in its __dir__.
    return {
        name
        for name in dir(module)
        for value in [getattr(module, name)]
        if not name.startswith("_")
        # Submodules (errors, emulator, integrations...) are reached by their path.
        and not isinstance(value, types.ModuleType)
        and not (name in _IMPORT_HELPERS and value is _IMPORT_HELPERS[name])
    }


def test_every_name_in_all_is_importable() -> None:
    for name in descope_keys.__all__:
        assert getattr(descope_keys, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from descope_keys import *", namespace)
    assert {n for n in namespace if n != "__builtins__"} == set(descope_keys.__all__)


def test_all_lists_each_name_once() -> None:
    assert len(descope_keys.__all__) == len(set(descope_keys.__all__))


def test_all_is_exactly_the_public_names_of_the_package() -> None:
    assert set(descope_keys.__all__) == _public_names(descope_keys)


def test_all_stays_exact_after_every_subpackage_is_imported() -> None:
    for name in ("emulator", "integrations", "cli", "integrations.aiohttp", "errors"):
        importlib.import_module(f"descope_keys.{name}")
    assert set(descope_keys.__all__) == _public_names(descope_keys)


def test_every_public_error_is_exported_from_the_package() -> None:
    assert set(errors.__all__) <= set(descope_keys.__all__)
    for name in errors.__all__:
        assert getattr(descope_keys, name) is getattr(errors, name)
    # The error contract of issue 19: both clients' closed state, and timeouts.
    assert issubclass(descope_keys.ClientClosedError, descope_keys.DescopeError)
    assert issubclass(descope_keys.ClientClosedError, RuntimeError)
    assert issubclass(descope_keys.RequestTimeoutError, descope_keys.TransportError)
    assert issubclass(descope_keys.RequestTimeoutError, TimeoutError)


def test_every_exported_class_and_function_reports_the_package_as_its_module() -> None:
    members = [getattr(descope_keys, name) for name in descope_keys.__all__]
    checked = [m for m in members if inspect.isclass(m) or inspect.isfunction(m)]
    assert len(checked) == len(members), "an export that is neither class nor function"
    wrong = {m.__qualname__: m.__module__ for m in checked if m.__module__ != "descope_keys"}
    assert not wrong


def test_attrs_classes_keep_resolved_annotations_after_the_rewrite() -> None:
    # The rewrite runs after resolve_types: the field types are real types,
    # never strings that would now be looked up in the wrong module.
    rewritten = [getattr(descope_keys, n) for n in descope_keys.__all__]
    attrs_classes = [c for c in rewritten if inspect.isclass(c) and attrs.has(c)]
    assert attrs_classes
    for cls in attrs_classes:
        for field in attrs.fields(cls):
            assert not isinstance(field.type, str), f"{cls.__name__}.{field.name}"


def test_a_traceback_names_the_public_path_of_an_error() -> None:
    with pytest.raises(descope_keys.NotFoundError) as caught:
        raise descope_keys.NotFoundError(404, message="no such key")
    line = traceback.format_exception_only(caught.value)[-1]
    assert line.startswith("descope_keys.NotFoundError: HTTP 404")
    assert repr(descope_keys.RetryPolicy) == "<class 'descope_keys.RetryPolicy'>"


def test_exported_classes_pickle_by_their_public_path() -> None:
    for name in descope_keys.__all__:
        cls = getattr(descope_keys, name)
        assert f"cdescope_keys\n{name}\n".encode() in pickle.dumps(cls, protocol=0)
        assert pickle.loads(pickle.dumps(cls)) is cls
    policy = descope_keys.RetryPolicy(attempts=2)
    assert pickle.loads(pickle.dumps(policy)) == policy


def test_version_is_served_lazily_from_the_version_module() -> None:
    assert descope_keys.__version__ == importlib.metadata.version("descope-keys")
    assert "__version__" not in vars(descope_keys)


def test_importing_the_package_reads_no_distribution_metadata() -> None:
    code = (
        "import sys, descope_keys; "
        "print('importlib.metadata' in sys.modules); "
        "print(descope_keys.__version__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded, version = proc.stdout.split()
    assert loaded == "False"
    assert version == importlib.metadata.version("descope-keys")


def test_an_unknown_attribute_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'descope_keys' has no attribute 'no_such_name'"):
        _ = descope_keys.no_such_name
    assert not hasattr(descope_keys, "Client")
