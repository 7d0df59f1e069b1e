"""aioresponses on aiohttp >= 3.14.

aioresponses 0.7.9 builds ``ClientResponse`` without the ``stream_writer``
argument that aiohttp 3.14 made required, so every mocked response fails with
a ``TypeError`` (pnuckowski/aioresponses#289). We keep aiohttp current (it
carries security fixes) and give aioresponses a response class that supplies
the missing argument instead.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import Mock

import aiohttp
from aioresponses import aioresponses


class CompatClientResponse(aiohttp.ClientResponse):
    """A ClientResponse that tolerates aioresponses' missing ``stream_writer``."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", Mock())
        super().__init__(method, url, **kwargs)


class compat_aioresponses(aioresponses):
    """aioresponses whose mocked responses use :class:`CompatClientResponse`."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatClientResponse)
        super().add(*args, **kwargs)
