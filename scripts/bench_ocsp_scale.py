"""OCSP at national scale (issue 14), run by ``scripts/bench.py --only ocsp-scale`` (rows for its table).

* Refresh capacity: pre-signed responses per second that one process's refresh round makes (sign with the
  OCSP signer's key in the HSM, then store in transactions of 200), against plain HSM signatures per second
  with the same key in the same minute (the ratio is what the round adds around the HSM); and what that
  capacity means at 10 million certificates: responses live four days and are re-signed from the half-life
  on, so 5 million a day must be re-signed — the backlog after a simulated day is what is left over.
* Look-up flatness: the answer for a random serial read from the database (a fresh responder each time, so
  no in-memory copy helps) with 1,000 and with 100,000 certificates and stored responses; the serial index
  should keep the two equal.

Certificate and response rows for the sizes are bulk-inserted with SQL (copies of one real response's bytes
under random serials: the look-up does not parse them); the refresh rows are real certificates' rows
without responses, signed by the real refresh.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import statistics
import time
from typing import Any

Rows = list[tuple[str, str]]
REFRESH_ROWS = 2_000  # one sweep chunk: what one refresh round signs
LOOKUPS = 400
SIZES = (1_000, 100_000)
CERTIFICATES_NATIONAL = 10_000_000
DAILY_RESIGN = CERTIFICATES_NATIONAL / 2  # each response re-signed every half of its four days


def _authority(env: dict[str, str]) -> Any:
    from govsign.config import runtime
    from govsign.config.settings import load_settings

    os.environ.update(env)
    return runtime.open_authority_from(load_settings())


def _certificate_rows(issuer_id: int, count: int, tag: str) -> list[dict[str, Any]]:
    from ca.store import utc_now

    now = utc_now()
    return [
        {
            "issuer_id": issuer_id,
            "serial": format(secrets.randbits(128) | 1 << 120, "x"),
            "profile": "individual",
            "status": "valid",
            "subject": "CN=bench",
            "common_name": "bench",
            "requesting_agency": "bench",
            "request_ref": tag,
            "request_json": "{}",
            "not_before": now,
            "not_after": now + dt.timedelta(days=365),
            "der": b"",
            "key_origin": "csr",
        }
        for _ in range(count)
    ]


def _insert(authority: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import insert

    for start in range(0, len(rows), 50_000):
        with authority.database.engine.begin() as connection:
            connection.execute(insert(table), rows[start : start + 50_000])


def _refresh_rows(authority: Any) -> Rows:
    from ca.ocsp import OcspResponder
    from ca.ocsp_refresh import SWEEP_CHUNK, OcspRefresher
    from ca.store import CertificateRecord

    responder = OcspResponder(authority)
    _insert(
        authority, CertificateRecord, _certificate_rows(authority.issuing_ca().id, REFRESH_ROWS, "BENCH-OCSP")
    )
    refresher = OcspRefresher(responder)
    signer = responder.signers.of(responder.current_issuer())
    began = time.perf_counter()
    signed = 0
    for _ in range(REFRESH_ROWS // SWEEP_CHUNK + 50):  # rounds until the sweep has found every row
        signed += refresher.refresh_due()
        if signed >= REFRESH_ROWS:
            break
    round_rate = signed / (time.perf_counter() - began)
    scheme = signer.algorithm.default_signature
    data = secrets.token_bytes(200)
    began = time.perf_counter()
    for _ in range(500):
        authority.token.sign(signer.key_id, data, scheme)
    hsm_rate = 500 / (time.perf_counter() - began)
    capacity = round_rate * 86_400
    return [
        (
            f"OCSP refresh, one process: responses pre-signed and stored per second ({signed} rows) / "
            "plain HSM signatures per second, same key / ratio",
            f"{round_rate:.0f} / {hsm_rate:.0f} / {round_rate / hsm_rate:.2f}",
        ),
        (
            "OCSP at 10 M certificates: re-signatures needed per day / one process's capacity per day / "
            "backlog after a day",
            f"{DAILY_RESIGN:,.0f} / {capacity:,.0f} / {max(0.0, DAILY_RESIGN - capacity):,.0f}",
        ),
    ]


def _lookup_ms(authority: Any, serials: list[str]) -> tuple[float, float]:
    """Median and p99 ms of a database read of a random serial's stored answer, no cache."""
    from ca.ocsp import OcspResponder

    responder = OcspResponder(authority)
    timings = []
    for serial in random.sample(serials, LOOKUPS):
        began = time.perf_counter()
        responder._cache.clear()  # the database read itself, every time
        assert responder.response_for_serial(serial).der
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(0.99 * (len(timings) - 1))]


def _lookup_rows(authority: Any) -> Rows:
    from sqlalchemy import select

    from ca.store import CertificateRecord, OcspResponse, utc_now

    issuer_id = authority.issuing_ca().id
    with authority.database.transaction() as session:
        model = session.execute(select(OcspResponse).limit(1)).scalar_one()
        der = model.der
    now = utc_now()
    serials: list[str] = []
    rows = []
    for size in SIZES:
        certificates = _certificate_rows(issuer_id, size - len(serials), "BENCH-OCSP-LOOKUP")
        _insert(authority, CertificateRecord, certificates)
        responses = [
            {
                "issuer_id": row["issuer_id"],
                "serial": row["serial"],
                "status": "valid",
                "der": der,
                "this_update": now,
                "next_update": now + dt.timedelta(days=4),
            }
            for row in certificates
        ]
        _insert(authority, OcspResponse, responses)
        serials += [row["serial"] for row in certificates]
        median, p99 = _lookup_ms(authority, serials)
        rows.append(
            (
                f"OCSP answer read from the database by serial, {size:,} certificates: median / p99 ms",
                f"{median:.2f} / {p99:.2f}",
            )
        )
    return rows


def ocsp_scale_rows(env: dict[str, str]) -> Rows:
    authority = _authority(env)
    return _refresh_rows(authority) + _lookup_rows(authority)
