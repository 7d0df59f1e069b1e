"""Client configuration: environment fallbacks and the base-URL rules of docs/wire.md §1."""

from __future__ import annotations

import os

import attrs

from ._arguments import check_number, configuration_errors
from ._secret import Secret
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
    management_key: Secret | None = attrs.field(repr=False)
    base_url: str
    timeout: float

    @classmethod
    def resolve(
        cls,
        project_id: str | None,
        management_key: str | Secret | None,
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
        key = _management_key(management_key)
        del management_key  # captured locals hold only the wrapped key from here on
        url = base_url or os.environ.get(ENV_BASE_URI) or default_base_url(project_id)
        with configuration_errors():
            seconds = check_number(
                "timeout", timeout, minimum=0.0, exclusive_minimum=True, unit="seconds"
            )
        return cls(project_id, key, _check_base_url(url), seconds)


def _management_key(value: str | Secret | None) -> Secret | None:
    """The management key given (else env ``DESCOPE_MANAGEMENT_KEY``), checked and wrapped."""
    if isinstance(value, Secret):
        value = value.reveal()
    value = value or os.environ.get(ENV_MANAGEMENT_KEY) or None
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError("management_key must be a string")
    key = Secret(value)
    del value
    if not _header_safe(key.reveal()):
        # A trailing newline from a secrets file is the usual culprit.
        raise ConfigurationError(
            "management_key contains whitespace or control characters "
            f"(check {ENV_MANAGEMENT_KEY} for a trailing newline)"
        )
    return key
