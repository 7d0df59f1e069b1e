"""The ``descope-keys`` command line: key management, exchange, tokens, validation, and a demo."""

from __future__ import annotations

from ._main import main

__all__ = ["main"]

main.__module__ = __name__  # documented as descope_keys.cli.main
