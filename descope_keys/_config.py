"""Client configuration: environment fallbacks and the base-URL rules of docs/wire.md §1."""

from __future__ import annotations

import os

import attrs

from ._arguments import check_number, configuration_errors
from .errors import ConfigurationError

__all__ = ["ENV_BASE_URI", "ENV_MANAGEMENT_KEY", "ENV_PROJECT_ID", "ENV_PUBLIC_KEY", "Settings"]

ENV_PROJECT_ID = "DESCOPE_PROJECT_ID"
ENV_MANAGEMENT_KEY = "DESCOPE_MANAGEMENT_KEY"
ENV_BASE_URI = "DESCOPE_BASE_URI"
ENV_PUBLIC_KEY = "DESCOPE_PUBLIC_KEY"

_DEFAULT_BASE_URL = "https://api.descope.com"
# Project ids this long carry a region: "Puse1..." -> api.use1.descope.com.
_REGIONAL_ID_LENGTH = 32


def _header_safe(value: str) -> bool:
    """True when ``value`` can go into an HTTP header as one token."""
    return value.isprintable() and not any(c.isspace() for c in value)


def default_base_url(project_id: str) -> str:
    """The Descope host for a project id (regional for 32+ character ids)."""
    if len(project_id) >= _REGIONAL_ID_LENGTH:
        return f"https://api.{project_id[1:5]}.descope.com"
    return _DEFAULT_BASE_URL


def _check_base_url(url: object) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"base_url must be a string, not {type(url).__name__}")
    url = url.rstrip("/")
    from urllib.parse import urlsplit  # at the first client, not at import

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError("base_url must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url must not carry a query or fragment")
    return url


@attrs.frozen
class Settings:
    """Resolved, validated client settings. Secrets are hidden from ``repr``."""

    project_id: str
    management_key: str | None = attrs.field(repr=False)
    base_url: str
    timeout: float

    @classmethod
    def resolve(
        cls,
        project_id: str | None,
        management_key: str | None,
        base_url: str | None,
        timeout: float,
    ) -> Settings:
        """Apply the override order: explicit argument, environment, derived default."""
        project_id = project_id or os.environ.get(ENV_PROJECT_ID) or None
        if project_id is None:
            raise ConfigurationError(f"project_id is required: pass it or set {ENV_PROJECT_ID}")
        if (
            not isinstance(project_id, str)
            or not project_id.strip()
            or project_id != project_id.strip()
        ):
            raise ConfigurationError("project_id must be a non-empty string without spaces")
        if ":" in project_id or not _header_safe(project_id):
            raise ConfigurationError(
                "project_id must not contain ':', whitespace or control characters"
            )
        management_key = management_key or os.environ.get(ENV_MANAGEMENT_KEY) or None
        if management_key is not None and not isinstance(management_key, str):
            raise ConfigurationError("management_key must be a string")
        if management_key is not None and not _header_safe(management_key):
            # A trailing newline from a secrets file is the usual culprit.
            raise ConfigurationError(
                "management_key contains whitespace or control characters "
                f"(check {ENV_MANAGEMENT_KEY} for a trailing newline)"
            )
        url = base_url or os.environ.get(ENV_BASE_URI) or default_base_url(project_id)
        with configuration_errors():
            seconds = check_number(
                "timeout", timeout, minimum=0.0, exclusive_minimum=True, unit="seconds"
            )
        return cls(project_id, management_key, _check_base_url(url), seconds)
