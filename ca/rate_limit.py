"""Per-client token buckets with bounded memory, for the public endpoints an anonymous caller can hammer
(fresh OCSP signatures, time-stamps, validations, console sign-ins, refused API calls).

Memory is bounded by forgetting clients, and forgetting a client hands it a fresh burst: so the buckets
forgotten first are the ones that have refilled (nothing is lost by forgetting a full bucket), then the
least recently used. A client that is being throttled keeps its empty bucket however many other
addresses come and go, so rotating addresses never resets the throttle of one already caught.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_CLIENTS", "RateLimiter"]

DEFAULT_CLIENTS = 100_000  # buckets kept per limiter: a few MiB
_EVICTION_SAMPLE = 64  # oldest buckets looked at to choose which one to forget


@dataclass
class _Bucket:
    tokens: float
    last: float


class RateLimiter:
    """A token bucket per client: ``rate`` operations a second, bursts up to ``burst``, at most
    ``max_clients`` buckets remembered (``clock`` is for tests that move time instead of sleeping)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = DEFAULT_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Take one token from ``client``'s bucket; False (and nothing taken) when it is empty."""
        with self._lock:
            bucket = self._touch(client)
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def throttled(self, client: str) -> bool:
        """Whether ``client``'s bucket is empty now, without taking a token."""
        with self._lock:
            return client in self._buckets and self._touch(client).tokens < 1

    @property
    def remembered(self) -> int:
        """How many clients have a bucket (not ``__len__``: an empty limiter must stay truthy)."""
        return len(self._buckets)

    def _touch(self, client: str) -> _Bucket:
        """The client's bucket, refilled to now and moved to the most recently used end."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._forget_one(now)
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        else:
            self._buckets.move_to_end(client)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.last) * self.rate)
        bucket.last = now
        return bucket

    def _forget_one(self, now: float) -> None:
        """Among the least recently used buckets, forget the fullest one (a full one costs nothing)."""
        fullest, most = "", -1.0
        for index, (client, bucket) in enumerate(self._buckets.items()):
            tokens = bucket.tokens + (now - bucket.last) * self.rate
            if tokens >= self.burst:
                fullest = client
                break
            if tokens > most:
                fullest, most = client, tokens
            if index + 1 >= _EVICTION_SAMPLE:
                break
        del self._buckets[fullest]
