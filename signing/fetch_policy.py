"""Which URLs a validator may fetch revocation data and issuer certificates from.

Anyone can upload a PDF whose certificates name any URL, so a validation service that follows them is an
open proxy into its own network unless it refuses: only http and https, only the configured ports, never
a loopback, link-local, private or otherwise reserved address (after resolving the name), unless the host
is our own public one or on the allow-list; each fetch is bounded in time and size (pyhanko-certvalidator's
request timeout and fetch budget). Refusals are kept so that the report can say which fetch was not made
and why.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession
from pyhanko_certvalidator.fetchers.api import FetcherBackend, FetchLimits

__all__ = ["FetchPolicy", "RefusedFetch", "guarded_fetcher_backend"]


class RefusedFetch(aiohttp.ClientError):
    """A URL the policy does not let the validator fetch (a ClientError, which the fetchers turn into an
    ordinary "could not fetch", so that the validation goes on without it)."""


@dataclass
class FetchPolicy:
    """The rules; ``own_hosts`` are ours (our public URL), always allowed whatever they resolve to."""

    enabled: bool = True
    ports: frozenset[int] = frozenset({80, 443})
    own_hosts: frozenset[str] = frozenset()
    allow_list: frozenset[str] = frozenset()
    timeout_seconds: float = 5.0
    refusals: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def trusted_host(self, host: str) -> bool:
        return host.lower() in self.own_hosts or host.lower() in self.allow_list

    def check_url(self, url: str) -> None:
        """Before a request: http or https, and a permitted port unless the host is ours or allowed."""
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        if not self.enabled:
            self._refuse(url, "fetching is switched off")
        if parts.scheme not in ("http", "https") or not host:
            self._refuse(url, f"only http and https URLs are fetched, not {parts.scheme or 'this one'}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.trusted_host(host) and port not in self.ports:
            allowed = ", ".join(map(str, sorted(self.ports)))
            self._refuse(url, f"port {port} is not one of the ports fetched from ({allowed})")
        if _is_address(host):  # aiohttp connects to an address without asking the resolver
            self.check_addresses(host, [host.strip("[]")])

    def check_addresses(self, host: str, addresses: list[str]) -> None:
        """After resolving, before connecting: only public addresses, unless the host is ours or allowed
        (checked on the addresses actually connected to, so a name cannot be re-pointed in between)."""
        if self.trusted_host(host):
            return
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not ip.is_global:
                self._refuse(
                    host, f"{host} resolves to {ip}, a loopback, private, link-local or reserved address"
                )

    def _refuse(self, what: str, reason: str) -> None:
        with self._lock:
            self.refusals.append(f"{what}: {reason}")
        raise RefusedFetch(reason)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _GuardedResolver(AbstractResolver):
    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._inner.resolve(host, port, family)
        self._policy.check_addresses(host, [str(entry["host"]) for entry in addresses])
        return addresses

    async def close(self) -> None:
        await self._inner.close()


class _GuardedSession(LazySession):
    """An aiohttp session, made in the validation's own event loop, whose every request and connection
    the policy checks first."""

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._policy = policy

    def get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            trace = aiohttp.TraceConfig()

            async def before_request(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
                self._policy.check_url(str(params.url))

            trace.on_request_start.append(before_request)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=_GuardedResolver(self._policy)),
                trace_configs=[trace],
                timeout=aiohttp.ClientTimeout(total=self._policy.timeout_seconds),
            )
        return self._session


def guarded_fetcher_backend(policy: FetchPolicy, limits: FetchLimits | None = None) -> FetcherBackend:
    """pyhanko-certvalidator's aiohttp fetchers on a session that ``policy`` guards, within a budget."""
    backend = AIOHttpFetcherBackend(
        per_request_timeout=policy.timeout_seconds, limits=limits or FetchLimits(max_requests=20)
    )
    backend.session = _GuardedSession(policy)
    return backend
