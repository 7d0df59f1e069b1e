"""An adapter imported without its library says, in one line, which extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(("module", "library"), [("httpx", "httpx"), ("requests", "requests")])
def test_a_missing_library_names_the_extra(
    module: str, library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"descope_keys.integrations.{module}"
    monkeypatch.setitem(sys.modules, library, None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ImportError) as caught:
        importlib.import_module(name)
    message = str(caught.value)
    assert f"descope-keys[{module}]" in message
    assert "\n" not in message


@pytest.mark.parametrize("module", ["httpx", "requests"])
def test_the_adapter_modules_import_the_real_library(module: str) -> None:
    adapter = importlib.import_module(f"descope_keys.integrations.{module}")
    library = importlib.import_module(module)
    assert adapter.AccessKeyAuth.__mro__[1].__module__.startswith(library.__name__)
