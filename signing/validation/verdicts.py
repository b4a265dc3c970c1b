"""The signature validation building blocks that pyHanko runs, and the EN 319 102-1 indication they give.

pyHanko's ``async_validate_pdf_signature`` checks integrity (the ByteRange digest), the signature value,
the certification path and its revocation, and the signature time-stamp. This module runs it at the best
signature time (past signature validation, EN 319 102-1, 5.6.2.4) and maps its status to the
indications of EN 319 102-1, 5.1.3 and to the sub-indications EU DSS gives for the same facts.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from pyhanko.sign.ades.report import AdESFailure
from pyhanko.sign.validation import EmbeddedPdfSignature, async_validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.validation.chain import Revocation
from signing.validation.context import MALFORMED, Contexts, TrustStore, missing_revocation
from signing.validation.report import Indication, Signer, SubIndication

__all__ = ["Judged", "NotAnalysed", "anchor_of", "signer_of", "validate_at_best_time", "verdict"]


class NotAnalysed:
    """Why pyHanko's difference analysis could not run (falsy, so ``if analysed`` reads naturally)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Judged:
    """pyHanko's status at the best signature time, and what the verdict needs besides it."""

    status: PdfSignatureStatus
    analysed: bool | NotAnalysed
    proven_time: dt.datetime | None  # when a trusted signature time-stamp proves the signature existed
    missing_revocation: str | None  # why the path lacks revocation data, when that is its only fault
    self_signed: bool  # the signer's certificate is its own issuer
    revocation: Revocation  # the OCSP responses and CRLs the final context held (embedded or fetched)


async def validate_at_best_time(signature: EmbeddedPdfSignature, contexts: Contexts) -> Judged:
    try:
        now = contexts.at(None)
        context = now
        status, analysed = await _validated(signature, now, now)
        stamp = status.timestamp_validity
        trusted_stamp = stamp is not None and stamp.intact and stamp.valid and stamp.trusted
        proven_time = stamp.timestamp if stamp is not None and trusted_stamp else None
        if proven_time is not None and status.intact and status.valid and not status.trusted:
            # EN 319 102-1's past signature validation: only when the current time's verdict needs the
            # proof of existence (a revocation or expiry since, an anchor no longer trusted)
            context = contexts.at(proven_time)
            status, analysed = await _validated(signature, context, now)
        missing = await missing_revocation(status, context)
        self_signed = signature.signer_cert.self_signed != "no"
        held = Revocation(tuple(context.ocsps), tuple(context.crls))
        return Judged(status, analysed, proven_time, missing, self_signed, held)
    finally:
        await contexts.close()


async def _validated(
    signature: EmbeddedPdfSignature, signer_context: ValidationContext, stamp_context: ValidationContext
) -> tuple[PdfSignatureStatus, bool | NotAnalysed]:
    """pyHanko's validation; if its difference analysis breaks on a damaged file, again without it (the
    signature itself can still be judged, and the report says the changes were not analysed)."""
    try:
        return await async_validate_pdf_signature(signature, signer_context, stamp_context), True
    except MALFORMED as error:
        status = await async_validate_pdf_signature(signature, signer_context, stamp_context, skip_diff=True)
        return status, NotAnalysed(f"{type(error).__name__}: {error}")


def verdict(judged: Judged) -> tuple[Indication, SubIndication | None]:
    status, proven_time = judged.status, judged.proven_time
    if not status.intact:
        return Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
    if not status.valid:
        return Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE
    if status.trusted:
        return Indication.TOTAL_PASSED, None
    problem = status.trust_problem_indic
    if judged.self_signed:
        # a self-signed signer that is no trust anchor has no path at all (EN 319 102-1, 5.2.6; EU DSS);
        # pyHanko calls the one-certificate path it tries a chain constraint failure
        return Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    sub = _sub_indication(problem)
    if sub in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE):
        # Revocation is checked once the path is built and every signature on it verified, so revocation is
        # the only problem here: after the proven signing time it does not count; before it, the signature
        # failed; with no proof of when the signature was made, nothing can be concluded.
        details = status.revocation_details
        if proven_time is None:
            return Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE
        if details is not None and details.revocation_date > proven_time:
            return Indication.TOTAL_PASSED, None
        return Indication.TOTAL_FAILED, SubIndication.REVOKED
    if sub in _OUT_OF_BOUNDS:
        return Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE
    if judged.missing_revocation is not None:
        return Indication.INDETERMINATE, SubIndication.TRY_LATER
    if isinstance(problem, AdESFailure):
        return Indication.TOTAL_FAILED, sub
    return Indication.INDETERMINATE, sub


_OUT_OF_BOUNDS = (
    SubIndication.EXPIRED,
    SubIndication.OUT_OF_BOUNDS_NO_POE,
    SubIndication.OUT_OF_BOUNDS_NOT_REVOKED,
)


def _sub_indication(problem: object) -> SubIndication:
    """pyHanko's AdES sub-indication as ours (same ETSI name); no chain when pyHanko named no problem, and
    GENERIC for a name a newer pyHanko might add."""
    if not isinstance(problem, enum.Enum):
        return SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    return SubIndication.__members__.get(problem.name, SubIndication.GENERIC)


def signer_of(signature: EmbeddedPdfSignature) -> Signer | None:
    try:
        return Signer.of(signature.signer_cert)
    except (ValueError, KeyError):
        return None


def anchor_of(status: object, trust: TrustStore) -> str | None:
    path = getattr(status, "validation_path", None)
    return trust.anchor_name(path.trust_anchor.certificate) if path is not None else None
