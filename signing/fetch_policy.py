"""Which URLs a validator may fetch revocation data and issuer certificates from, and how much of them.

Anyone can upload a PDF whose certificates name any URL, so a validation service that follows them is an
open proxy into its own network, and a memory and time sink, unless it refuses. The rules, checked on the
first URL and again on every redirect (an aiohttp client middleware runs once per hop):

* only http and https, only the configured ports (80, 443);
* never a loopback, link-local, private or otherwise reserved address, checked on the addresses actually
  connected to (after resolving the name, so a name cannot be re-pointed in between; an address literal,
  which aiohttp connects to without asking the resolver, is checked from the URL);
* except at a trusted origin: ours (scheme, host and port of our public URL, not every port of that
  name) and the operator's allow-list of ``host:port`` origins (a partner CA's internal mirror); where
  such an origin redirects to is checked again;
* every body is read as a stream that stops at its cap (a CRL may be large, a certificate or an OCSP
  response is small), and all fetches of one validation share one time budget.

A refused or abandoned fetch is a :class:`aiohttp.ClientError`, which pyhanko-certvalidator's fetchers turn
into an ordinary "could not fetch", so the validation goes on without it and ends with a verdict; every
one is kept, with its URL and why, for the report.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType
from aiohttp.resolver import DefaultResolver
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.cert_fetch_client import AIOHttpCertificateFetcher
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.crl_client import AIOHttpCRLFetcher
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.ocsp_client import AIOHttpOCSPFetcher
from pyhanko_certvalidator.fetchers.aiohttp_fetchers.util import LazySession
from pyhanko_certvalidator.fetchers.api import FetcherBackend, Fetchers, FetchLimits
from pyhanko_certvalidator.fetchers.common_utils import FetchBudget
from yarl import URL

__all__ = ["FetchBounds", "FetchPolicy", "RefusedFetch", "guarded_fetcher_backend", "origin_of"]

# A body is taken in pieces of at most this: iter_any() hands over whatever aiohttp has buffered, which
# under load grew past 200 KiB and let a capped answer overshoot its cap by that much.
_READ_CHUNK = 2**16


class RefusedFetch(aiohttp.ClientError):
    """A fetch the policy did not make or did not finish (a ClientError: the fetchers' "could not fetch")."""


@dataclass(frozen=True)
class FetchBounds:
    """How much one validation may fetch: bytes per answer, seconds per request and for all requests."""

    crl_bytes: int = 10 * 2**20
    response_bytes: int = 64 * 2**10  # an issuer certificate or an OCSP response
    request_seconds: float = 5.0
    budget_seconds: float = 20.0
    max_requests: int = 20


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``, the port written out, the host in lower case."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{_host_port(parts.hostname or '', port)}"


def _host_port(host: str, port: int) -> str:
    host = host.lower().strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class FetchPolicy:
    """The rules for one validation, and what it refused. ``own_origin`` is ours (``origin_of`` our public
    URL); ``allowed_origins`` are ``host:port`` pairs trusted whatever they resolve to, on either scheme."""

    enabled: bool = True
    ports: frozenset[int] = frozenset({80, 443})
    own_origin: str | None = None
    allowed_origins: frozenset[str] = frozenset()
    bounds: FetchBounds = FetchBounds()
    refusals: list[str] = field(default_factory=list)
    bytes_received: int = 0  # every body byte taken off the network, the one chunk past a cap included
    _deadline: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def trusted(self, scheme: str, host: str, port: int) -> bool:
        origin = _host_port(host, port)
        return f"{scheme}://{origin}" == self.own_origin or origin in self.allowed_origins

    def check_url(self, url: URL) -> None:
        """Before each request and each redirect: http(s), a permitted port unless the origin is trusted,
        and a public address when the host is an address literal. Raises :class:`RefusedFetch`."""
        if not self.enabled:
            raise RefusedFetch("fetching is switched off")
        scheme, host = url.scheme, (url.host or "").lower()
        if scheme not in ("http", "https") or not host:
            raise RefusedFetch(f"only http and https URLs are fetched, not {scheme or 'this one'}")
        port = url.port or (443 if scheme == "https" else 80)
        if self.trusted(scheme, host, port):
            return
        if port not in self.ports:
            allowed = ", ".join(map(str, sorted(self.ports)))
            raise RefusedFetch(f"port {port} is not one of the ports fetched from ({allowed})")
        if _is_address(host):
            self.check_addresses(host, port, [host.strip("[]")])
        elif (address := _legacy_numeric(host)) is not None:
            raise RefusedFetch(f"{host} is a numeric form of the address {address}")

    def check_addresses(self, host: str, port: int, addresses: list[str]) -> None:
        """After resolving, before connecting: only public addresses, unless ``host:port`` is trusted."""
        origin = _host_port(host, port)  # the resolver sees no scheme; check_url has seen it
        if origin in self.allowed_origins or (self.own_origin or "").endswith(f"://{origin}"):
            return
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not ip.is_global:
                raise RefusedFetch(f"{host} is {ip}, a loopback, private, link-local or reserved address")

    def seconds_left(self) -> float:
        """What is left of the validation's fetch budget (its clock starts at the first fetch)."""
        now = time.monotonic()
        with self._lock:
            if self._deadline is None:
                self._deadline = now + self.bounds.budget_seconds
            return self._deadline - now

    def note(self, url: str, reason: str) -> None:
        """Keep a fetch not made or not finished, for the report."""
        with self._lock:
            self.refusals.append(f"{url}: {reason}")

    def count(self, size: int) -> None:
        with self._lock:
            self.bytes_received += size

    def out_of_time(self) -> RefusedFetch:
        """The error for a fetch that ran out of time, saying which limit it hit."""
        if self.seconds_left() <= 0:
            return RefusedFetch(
                f"the validation's fetch time budget ({self.bounds.budget_seconds:g} s) is spent"
            )
        return RefusedFetch(f"no complete answer within {self.bounds.request_seconds:g} s")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _legacy_numeric(host: str) -> str | None:
    """The address that ``2130706433``, ``0x7f.1`` or ``127.1`` stand for (the C resolver reads them so),
    or None for a name."""
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


class _GuardedResolver(AbstractResolver):
    """The system resolver, whose answers the policy checks before aiohttp connects to them."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._inner.resolve(host, port, family)
        self._policy.check_addresses(host, port, [str(entry["host"]) for entry in addresses])
        return addresses

    async def close(self) -> None:
        await self._inner.close()


class _GuardedSession(LazySession):
    """An aiohttp session, made in the validation's own event loop, that checks every hop, reads every
    body up to ``cap`` bytes and stops when the validation's time budget is spent."""

    def __init__(self, policy: FetchPolicy, cap: int, what: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._policy, self._cap, self._what = policy, cap, what

    def get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=_GuardedResolver(self._policy), use_dns_cache=False),
                middlewares=(self._each_hop,),
                response_class=_capped_response(self),
                timeout=aiohttp.ClientTimeout(total=self._policy.bounds.request_seconds),
                auto_decompress=False,  # a compressed body would slip past the cap as it expands
                skip_auto_headers=("Accept-Encoding",),
                trust_env=False,
            )
        return self._session

    async def _each_hop(
        self, request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        url = str(request.url)
        try:
            self._policy.check_url(request.url)
            left = self._policy.seconds_left()
            if left <= 0:
                raise self._policy.out_of_time()
            try:
                async with asyncio.timeout(left):
                    response = await handler(request)
            except TimeoutError:
                raise self._policy.out_of_time() from None
        except RefusedFetch as refusal:
            self._policy.note(url, str(refusal))
            raise
        except aiohttp.ClientError as error:
            self._policy.note(url, f"could not fetch ({type(error).__name__}: {error})"[:300])
            raise
        self._check_redirect(response)
        return response

    def _check_redirect(self, response: aiohttp.ClientResponse) -> None:
        """A redirect's target is refused here, under its own URL, when the policy would refuse it as a
        first URL (aiohttp itself would only refuse a scheme other than http and https, and silently)."""
        location = response.headers.get("Location")
        if response.status not in (301, 302, 303, 307, 308) or location is None:
            return
        try:
            target = response.url.join(URL(location))
            self._policy.check_url(target)
        except ValueError:
            target, error = URL(), RefusedFetch(f"redirected to {location[:200]!r}, which is not a URL")
        except RefusedFetch as refusal:
            error = refusal
        else:
            return
        response.close()
        self._policy.note(str(target) or location[:200], str(error))
        raise error

    async def read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, streamed, refused as soon as it passes the cap or the time budget."""
        url = str(response.url)
        try:
            return await self._read_within_bounds(response)
        except RefusedFetch as refusal:
            self._policy.note(url, str(refusal))
            raise
        except aiohttp.ClientError as error:
            self._policy.note(url, f"the answer broke off ({type(error).__name__}: {error})"[:300])
            raise

    async def _read_within_bounds(self, response: aiohttp.ClientResponse) -> bytes:
        too_long = RefusedFetch(f"the answer is longer than the {self._cap}-byte limit for {self._what}")
        if response.content_length is not None and response.content_length > self._cap:
            raise too_long
        body = bytearray()
        try:
            async with asyncio.timeout(max(self._policy.seconds_left(), 0)):
                async for chunk in response.content.iter_chunked(_READ_CHUNK):
                    self._policy.count(len(chunk))
                    if len(body) + len(chunk) > self._cap:
                        raise too_long
                    body += chunk
        except TimeoutError:
            raise self._policy.out_of_time() from None
        return bytes(body)


def _capped_response(session: _GuardedSession) -> type[aiohttp.ClientResponse]:
    """aiohttp's response whose ``read`` (the only way pyHanko's fetchers take a body) streams up to the
    session's cap instead of reading whatever the server sends into memory."""

    class CappedResponse(aiohttp.ClientResponse):
        async def read(self) -> bytes:
            if self._body is None:
                try:
                    self._body = await session.read_capped(self)
                except BaseException:
                    self.close()
                    raise
            return await super().read()

    return CappedResponse


class _GuardedBackend(FetcherBackend):
    """pyhanko-certvalidator's aiohttp fetchers, each on a guarded session with its own cap, all within
    one request budget."""

    def __init__(self, policy: FetchPolicy) -> None:
        bounds = policy.bounds
        self._policy = policy
        self._crls = _GuardedSession(policy, bounds.crl_bytes, "a CRL")
        self._small = _GuardedSession(policy, bounds.response_bytes, "a certificate or an OCSP response")

    def get_fetchers(self) -> Fetchers:
        seconds = self._policy.bounds.request_seconds
        budget = FetchBudget(FetchLimits(max_requests=self._policy.bounds.max_requests))
        return Fetchers(
            ocsp_fetcher=AIOHttpOCSPFetcher(self._small, per_request_timeout=seconds, budget=budget),
            crl_fetcher=AIOHttpCRLFetcher(self._crls, per_request_timeout=seconds, budget=budget),
            cert_fetcher=AIOHttpCertificateFetcher(self._small, per_request_timeout=seconds, budget=budget),
        )

    async def close(self) -> None:
        await self._crls.close()  # type: ignore[no-untyped-call]
        await self._small.close()  # type: ignore[no-untyped-call]


def guarded_fetcher_backend(policy: FetchPolicy) -> FetcherBackend:
    """Fetchers that do only what ``policy`` allows (to be closed in the event loop that used them)."""
    return _GuardedBackend(policy)
