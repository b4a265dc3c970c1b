"""CRL benchmarks for scripts/bench_status.py (issue 14: a 1,000,000-entry full CRL in under 10 s and
300 MB; shard sizes and build times).

The revoked certificates are bulk-inserted with SQL (SQLAlchemy Core ``INSERT`` of 50,000 rows at a time,
no HSM, no issuance pipeline: rows of the same table with random serials, each in the shard its serial
names), then each measurement runs in a fresh process, so that its peak memory is the build's alone:

* the full CRL: build + lint of a sample + HSM signature + verification, seconds and peak RSS;
* every shard published once (sizes: smallest, median, largest; seconds per shard);
* one revocation's cost: one shard marked dirty, then the maintenance step that publishes what is due.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SIZES = (100_000, 1_000_000)


def _authority(env: dict[str, str]) -> Any:
    from govsign.config import runtime
    from govsign.config.settings import load_settings

    os.environ.update(env)
    return runtime.open_authority_from(load_settings())


def fill_revoked(env: dict[str, str], revoked: int) -> None:
    """Make ``revoked`` revoked certificate rows exist for the issuing CA (bulk SQL inserts, no HSM)."""
    from sqlalchemy import func, insert, select

    from ca.store import CertificateRecord, utc_now

    authority = _authority(env)
    issuer_id = authority.issuing_ca().id
    shards = authority.options.crl_shards
    now = utc_now()
    with authority.database.transaction() as session:
        have = session.scalar(
            select(func.count())
            .select_from(CertificateRecord)
            .where(CertificateRecord.request_ref == "BENCH-CRL")
        )
    serials = [secrets.randbits(128) | 1 << 120 for _ in range(revoked - (have or 0))]
    rows = [
        {
            "issuer_id": issuer_id,
            "serial": format(serial, "x"),
            "profile": "individual",
            "status": "revoked",
            "subject": "CN=bench",
            "common_name": "bench",
            "requesting_agency": "bench",
            "request_ref": "BENCH-CRL",
            "request_json": "{}",
            "not_before": now,
            "not_after": now + dt.timedelta(days=365),
            "der": b"",
            "key_origin": "csr",
            "revoked_at": now,
            "revocation_reason": "keyCompromise" if index % 3 == 0 else "cessationOfOperation",
            "crl_shard": serial % shards if shards else None,
        }
        for index, serial in enumerate(serials)
    ]
    for start in range(0, len(rows), 50_000):
        with authority.database.engine.begin() as connection:
            connection.execute(insert(CertificateRecord), rows[start : start + 50_000])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (resident at its peak since the last reset) of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def build_crl(env: dict[str, str]) -> dict[str, Any]:
    """Time one full CRL build; report the process's peak memory, and the build's own: its peak above what
    the process held before it (imports and the Authority; pkilint is imported by the build, as in a fresh
    `govsign ca crl`)."""
    from ca.crl import publish_crl

    authority = _authority(env)
    before_peak, before = _peak_mb(), _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak (VmHWM) starts again from here
    began, cpu_began = time.perf_counter(), time.process_time()
    published = publish_crl(
        authority.database, authority.issuing_ca(), audit_token=authority.token, actor="bench"
    )
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
    return {
        "entries": published.entries,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "before_mb": before,
        "build_mb": _status_mb("VmHWM") - before,
        "peak_mb": max(before_peak, _peak_mb(), _status_mb("VmHWM")),
        "bytes": len(published.der),
    }


def build_shards(env: dict[str, str]) -> dict[str, Any]:
    """Publish every shard once, then time what one revocation costs: its shard marked dirty, then
    :func:`ca.crl_shards.publish_due_shards` (which must publish that shard alone)."""
    from ca.crl import CrlScope, mark_dirty, publish_crl
    from ca.crl_partition import crl_partition
    from ca.crl_shards import publish_due_shards

    authority = _authority(env)
    issuer = authority.issuing_ca()
    partition = crl_partition(authority.options, issuer.name)
    assert partition is not None, "the bench deployment partitions its CRL"
    sizes, seconds = [], []
    for shard in range(partition.shards):
        began = time.perf_counter()
        scope = CrlScope(shard, partition.url(shard))
        published = publish_crl(
            authority.database, issuer, audit_token=authority.token, actor="bench", scope=scope
        )
        seconds.append(time.perf_counter() - began)
        sizes.append((published.entries, len(published.der)))
    with authority.database.transaction() as session:
        mark_dirty(session, issuer.id, 0)
    began = time.perf_counter()
    rebuilt = publish_due_shards(authority, actor="bench")
    after_revocation = time.perf_counter() - began
    assert rebuilt == [0], rebuilt
    sizes.sort()
    return {
        "shards": partition.shards,
        "smallest": sizes[0],
        "median": sizes[len(sizes) // 2],
        "largest": sizes[-1],
        "median_seconds": statistics.median(seconds),
        "max_seconds": max(seconds),
        "total_seconds": sum(seconds),
        "after_revocation_seconds": after_revocation,
        "peak_mb": _peak_mb(),
    }


def _run(command: str, env: dict[str, str], *arguments: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, command, json.dumps(env), *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def crl_rows(env: dict[str, str], sizes: tuple[int, ...] = SIZES) -> list[tuple[str, str]]:
    """Rows for bench.py's table: for each size of the revoked list, the full CRL and the shards."""
    rows = []
    for size in sizes:
        _run("fill-crl", env, str(size))  # filled in one process, built in fresh ones
        full = _run("build-crl", env)
        shards = _run("build-shards", env)
        rows += [
            (
                f"CRL with {full['entries']:,} entries: build + sign + verify, s wall (CPU)",
                f"{full['seconds']:.1f} ({full['cpu_seconds']:.1f})",
            ),
            (
                f"  peak memory of that process, MB ({full['bytes'] / 1e6:.0f} MB of DER)",
                f"{full['peak_mb']:.0f}",
            ),
            (
                "  of which the build (its peak above the process before it), MB",
                f"{full['build_mb']:.0f} (before: {full['before_mb']:.0f})",
            ),
            (
                f"  {shards['shards']} shards: entries / KB, smallest, median, largest",
                ", ".join(
                    f"{n:,} / {b / 1e3:.0f}"
                    for n, b in (shards["smallest"], shards["median"], shards["largest"])
                ),
            ),
            (
                "  shard build + sign + verify, s: median / max (all shards)",
                f"{shards['median_seconds']:.3f} / {shards['max_seconds']:.3f} ({shards['total_seconds']:.1f})",
            ),
            (
                "  one revocation: its shard rebuilt by the maintenance step, s",
                f"{shards['after_revocation_seconds']:.3f}",
            ),
            ("  peak memory of the shard process, MB", f"{shards['peak_mb']:.0f}"),
        ]
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    command, environment = sys.argv[1], json.loads(sys.argv[2])
    if command == "fill-crl":
        fill_revoked(environment, int(sys.argv[3]))
    elif command == "build-shards":
        print(json.dumps(build_shards(environment)))
    else:
        print(json.dumps(build_crl(environment)))
