"""When a certificate may be renewed, and until when the renewal runs (Decree 68/2024).

A renewal is a new certificate for the same key and subject whose notAfter is the old notAfter plus 1 to 3
years (never past the issuer's). It is meant for a certificate near its end, not as a way to stack years:

* only inside the renewal window, the certificate's last ``renewal_window_days`` (ceremony file,
  ``[policy]``; 90 by default): renewing a certificate with four years left would give it seven;
* only once: a renewed certificate cannot be renewed again, its renewal can, in its own window. Without
  this, three renewals on one day would add nine years.

The checks run before anything is stored or signed (:func:`renewal_not_after`), and again, with the
renewed certificate's row locked, in the transaction that stores the renewal (:func:`refuse_second_renewal`),
so that two officers renewing at the same moment get one renewal.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.errors import InvalidRequest, StateConflict
from ca.profiles import MAX_RENEWAL_YEARS, add_years
from ca.store import CertificateRecord

__all__ = ["refuse_second_renewal", "renewal_not_after"]


def renewal_not_after(
    session: Session,
    record: CertificateRecord,
    *,
    years: int,
    window_days: int,
    issuer_not_after: dt.datetime,
    now: dt.datetime,
) -> dt.datetime:
    """The notAfter of ``record``'s renewal, if it may be renewed at ``now``; else InvalidRequest or
    StateConflict saying why and when it can be."""
    if not 1 <= years <= MAX_RENEWAL_YEARS:
        raise InvalidRequest(
            f"a renewal adds 1 to {MAX_RENEWAL_YEARS} years (Decree 68/2024); got {years} / gia hạn thêm "
            f"từ 1 đến {MAX_RENEWAL_YEARS} năm"
        )
    opens = record.not_after - dt.timedelta(days=window_days)
    if now < opens:
        raise StateConflict(
            f"certificate {record.serial} runs until {record.not_after:%Y-%m-%d}; it can be renewed in its "
            f"last {window_days} days, from {opens:%Y-%m-%d} / chứng thư số {record.serial} còn hạn đến "
            f"{record.not_after:%Y-%m-%d}; chỉ gia hạn được trong {window_days} ngày cuối, từ {opens:%Y-%m-%d}"
        )
    _refuse_if_renewed(session, record)
    return min(add_years(record.not_after, years), issuer_not_after)


def refuse_second_renewal(session: Session, renewed_id: int) -> None:
    """Lock the row of the certificate being renewed and refuse if a renewal of it is already stored.

    PostgreSQL holds the row lock, SQLite its write lock (BEGIN IMMEDIATE), until the caller's transaction
    ends, so a concurrent renewal of the same certificate waits and then sees this one.
    """
    record = session.execute(
        select(CertificateRecord).where(CertificateRecord.id == renewed_id).with_for_update()
    ).scalar_one()
    _refuse_if_renewed(session, record)


def _refuse_if_renewed(session: Session, record: CertificateRecord) -> None:
    renewal = (
        session.execute(select(CertificateRecord).where(CertificateRecord.renewal_of_id == record.id))
        .scalars()
        .first()
    )
    if renewal is not None:
        raise StateConflict(
            f"certificate {record.serial} was already renewed, by {renewal.serial} (valid until "
            f"{renewal.not_after:%Y-%m-%d}); a certificate is renewed once: renew {renewal.serial} in its "
            f"own window / chứng thư số {record.serial} đã được gia hạn bằng {renewal.serial}; mỗi chứng thư "
            f"số chỉ gia hạn một lần"
        )
