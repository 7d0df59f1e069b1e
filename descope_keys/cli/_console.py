"""Where the CLI writes, and the secrets no error line may show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from ._errors import redact

__all__ = ["Io"]


class Io:
    """Where output goes, and the secrets no error line may ever show."""

    def __init__(
        self, out: TextIO, err: TextIO, *, json: bool, secrets: Sequence[str] = ()
    ) -> None:
        self.out = out
        self.err = err
        self.json = json
        self.secrets = list(secrets)

    def print(self, *lines: str) -> None:
        """Lines to stdout."""
        for line in lines:
            self.out.write(line + "\n")

    def error_line(self, message: str) -> str:
        """A stderr line: program name, then the message with secrets masked."""
        return "descope-keys: " + redact(message, self.secrets)

    def error(self, message: str) -> None:
        """One line on stderr."""
        self.err.write(self.error_line(message) + "\n")
        self.err.flush()
