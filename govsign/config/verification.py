"""The verifier's fetch policy from the deployment's settings: which URLs it may fetch, within which caps.

Which roots it trusts is the access room's :mod:`govsign.access.trust_store`."""

from __future__ import annotations

import urllib.parse

from ca.errors import ConfigurationError
from govsign.config.settings import Settings
from signing.fetch_policy import FetchBounds, FetchPolicy, origin_of

__all__ = ["allowed_origins", "fetch_policy"]


def fetch_policy(settings: Settings, *, offline: bool = False) -> FetchPolicy:
    """Fetching allowed from public addresses on ports 80/443, from our own origin (scheme, host and port
    of the public URL) and from the operator's allow-list, within the configured caps and time budget."""
    return FetchPolicy(
        enabled=not offline,
        own_origin=origin_of(settings.public_url),
        allowed_origins=allowed_origins(settings.fetch_allowlist),
        bounds=FetchBounds(
            crl_bytes=settings.fetch_crl_max_bytes,
            response_bytes=settings.fetch_response_max_bytes,
            budget_seconds=settings.fetch_budget_seconds,
        ),
    )


def allowed_origins(allowlist: str) -> frozenset[str]:
    """``GOVSIGN_FETCH_ALLOWLIST``'s ``host:port`` entries, e.g. ``crl.partner-ca.vn:8080, [fd00::5]:80``."""
    origins = set()
    for entry in filter(None, (item.strip() for item in allowlist.split(","))):
        if not _is_host_port(entry):
            raise ConfigurationError(
                f"GOVSIGN_FETCH_ALLOWLIST entry {entry!r} is not host:port (e.g. crl.partner-ca.vn:8080)"
            )
        origins.add(origin_of(f"http://{entry}").removeprefix("http://"))
    return frozenset(origins)


def _is_host_port(entry: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(f"//{entry}")
        return bool(parts.hostname) and parts.port is not None and not parts.path and not parts.username
    except ValueError:
        return False
