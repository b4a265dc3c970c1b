"""Prometheus metrics at ``/metrics`` (text exposition format 0.0.4), across uvicorn's worker processes.

``govsign serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a folder under GOVSIGN_HOME that it empties at
start; every worker then writes its counters and histograms there and any worker's scrape adds them all up
(prometheus-client's multiprocess mode). Requests are counted per route *template*
(``/api/v1/certificates/{serial}``), never per raw path, so a stranger cannot grow the series. Status
freshness (OCSP backlog, CRL ages) and the batch queue are read from the database at scrape time by the
worker that answers, so they are never stale and never summed over workers.

Who may scrape: the route asks for an ``auditor`` or ``ca_admin`` API token (``govsign.api.operations``),
which Prometheus sends with ``authorization: {credentials_file: ...}``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ca.authority import Authority
from ca.freshness import status_freshness
from ca.store import utc_now
from signing.batch_store import queued_documents

__all__ = [
    "CONTENT_TYPE",
    "HSM_ERRORS",
    "HSM_LATENCY",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "ROUTE_TEMPLATE",
    "StatusReadings",
    "exposition",
    "observe_hsm",
]

log = logging.getLogger("govsign.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# An ASGI scope key: a middleware that answers before routing (the OCSP GET fast path) names the route
# template it stands for, so its answers are counted with the route's.
ROUTE_TEMPLATE = "govsign.route_template"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HTTP_REQUESTS = Counter(
    "govsign_http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "govsign_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
HSM_LATENCY = Histogram(
    "govsign_hsm_operation_duration_seconds",
    "Time of one HSM operation (PKCS#11 call with its retries), by operation",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
HSM_ERRORS = Counter(
    "govsign_hsm_operation_errors", "HSM operations that failed, by operation", ["operation"]
)


def observe_hsm(operation: str, seconds: float, failed: bool) -> None:
    """The :class:`ca.metrics.HsmObserver` that feeds the HSM series; an operation's error count exists
    (at 0) from its first call, so that a rate of errors is defined before the first error."""
    HSM_LATENCY.labels(operation).observe(seconds)
    errors = HSM_ERRORS.labels(operation)
    if failed:
        errors.inc()


class StatusReadings(Collector):
    """Gauges read from the database at each scrape: OCSP freshness, CRL ages, batch queue depth."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority

    def collect(self) -> Iterator[Metric]:
        try:
            freshness = status_freshness(self.authority.database, utc_now())
            queued = queued_documents(self.authority.database)
        except Exception as error:  # a scrape must still show the process's series when the database is away
            log.warning("status readings failed: %s: %s", type(error).__name__, error)
            return
        yield GaugeMetricFamily(
            "govsign_ocsp_oldest_response_age_seconds",
            "Age of the oldest stored OCSP response (0 when none is stored)",
            value=freshness.oldest_ocsp_age or 0.0,
        )
        yield GaugeMetricFamily(
            "govsign_ocsp_responses_past_half_life",
            "Stored OCSP responses past their half-life, due for re-signing (refresh backlog)",
            value=freshness.ocsp_past_half_life,
        )
        yield _by_ca(
            "govsign_crl_age_seconds", "Seconds since thisUpdate of the CA's full CRL", freshness.crl_ages
        )
        yield _by_ca(
            "govsign_crl_oldest_shard_age_seconds",
            "Seconds since thisUpdate of the CA's oldest shard CRL (each is republished within a day)",
            freshness.oldest_shard_ages,
        )
        yield GaugeMetricFamily(
            "govsign_batch_queue_depth",
            "Documents of running signing batches waiting to be signed",
            value=queued,
        )


def _by_ca(name: str, documentation: str, ages: dict[str, float]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=["ca"])
    for ca_name, age in sorted(ages.items()):
        gauge.add_metric([ca_name], age)
    return gauge


class _ThisProcess(Collector):
    """The default registry's series, when there is one process and no multiprocess folder."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(authority: Authority) -> bytes:
    """The text exposition of every worker's series and the status readings (blocking: call in a thread)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(StatusReadings(authority))
    return generate_latest(registry)
