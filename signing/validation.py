"""The validation report for any signed PDF: ETSI EN 319 102-1 indications, in Vietnamese and English.

Each signature goes through pyHanko's validator twice at most: once now, for integrity, the signature
value, the path and the signature time-stamp; then, only if that verdict fails for want of proof (a
revocation or expiry since) and a trusted time-stamp proves when the signature existed, again at that
time, so that the later event does not count against it (EN 319 102-1's past signature validation at
the best signature time; pyHanko's own AdES engine is still incomplete and answered INDETERMINATE for
plain B-B to B-LT documents). Revocation data embedded in the document (DSS) comes first; the network is asked
only through :mod:`signing.fetch_policy`. Document time-stamps get pyHanko's time-stamp validation. What
changed after each signature is classified from pyHanko's difference analysis: DSS and document
time-stamps are allowed, form filling and later signatures as DocMDP allows, anything else is reported
as suspicious and keeps the signature from TOTAL_PASSED.

The report's data and words live in :mod:`signing.validation_report`, the trust store and the validation
contexts (and so the fetching and the revocation policy) in :mod:`signing.validation_context`; their
public names are importable from here too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.documents import file_sha256
from signing.errors import InvalidDocument
from signing.fetch_policy import FetchPolicy
from signing.pades import Level
from signing.validation_context import (
    MALFORMED,
    Contexts,
    Embedded,
    TrustAnchor,
    TrustStore,
    missing_revocation,
)
from signing.validation_report import (
    CHANGES,
    REPORT_SCHEMA,
    SENTENCES_EN,
    SENTENCES_VI,
    VIETNAM_TIME,
    Check,
    Indication,
    SignatureVerdict,
    Signer,
    SubIndication,
    ValidationReport,
    vietnam,
)

__all__ = [
    "REPORT_SCHEMA",
    "Indication",
    "SignatureVerdict",
    "SubIndication",
    "TrustAnchor",
    "TrustStore",
    "ValidationReport",
    "validate_pdf",
]


def validate_pdf(source: Path, trust: TrustStore, fetching: FetchPolicy) -> ValidationReport:
    """The report on every signature and document time-stamp of ``source``."""
    digest = file_sha256(source)
    with source.open("rb") as stream:
        try:
            reader = PdfFileReader(stream, strict=False)
            signatures = reader.embedded_signatures
            archived_after = _archive_positions(signatures)
        except MALFORMED as error:
            raise InvalidDocument(f"the PDF cannot be read ({type(error).__name__}: {error})") from None
        embedded = Embedded.of(reader)
        verdicts = [_judge(signature, trust, fetching, archived_after, embedded) for signature in signatures]
    return ValidationReport(
        schema=REPORT_SCHEMA,
        document_sha256=digest,
        validated_at=dt.datetime.now(VIETNAM_TIME).isoformat(timespec="seconds"),
        signatures=verdicts,
        fetches_refused=list(fetching.refusals),
    )


def _judge(
    signature: EmbeddedPdfSignature,
    trust: TrustStore,
    fetching: FetchPolicy,
    archives: list[int],
    embedded: Embedded,
) -> SignatureVerdict:
    """One signature's verdict; one whose structure cannot even be read fails alone with FORMAT_FAILURE."""
    try:
        if signature.sig_object_type == "/DocTimeStamp":
            return _judge_timestamp(signature, trust, embedded)
        return _judge_signature(signature, trust, fetching, archives, embedded)
    except MALFORMED as error:
        return SignatureVerdict(
            field_name=_field_name(signature),
            kind="signature",
            indication=Indication.TOTAL_FAILED,
            sub_indication=SubIndication.FORMAT_FAILURE,
            summary_vi=SENTENCES_VI["FORMAT_FAILURE"],
            summary_en=SENTENCES_EN["FORMAT_FAILURE"],
            signer=None,
            signing_time=None,
            level=None,
            modifications=CHANGES["not_analysed"][1],
            modifications_vi=CHANGES["not_analysed"][0],
            trust_anchor=None,
            checks=[Check.of("structure", False, f"{type(error).__name__}: {error}"[:300])],
        )


def _field_name(signature: EmbeddedPdfSignature) -> str:
    try:
        return str(signature.field_name)
    except MALFORMED:
        return "?"


def _archive_positions(signatures: Iterable[EmbeddedPdfSignature]) -> list[int]:
    return [s.signed_revision for s in signatures if s.sig_object_type == "/DocTimeStamp"]


def _judge_signature(
    signature: EmbeddedPdfSignature,
    trust: TrustStore,
    fetching: FetchPolicy,
    archives: list[int],
    embedded: Embedded,
) -> SignatureVerdict:
    """EN 319 102-1 in practice: integrity, the signature value, the path and revocation now; when that
    fails for want of proof of existence and a trusted time-stamp gives one, again at the time-stamp's time
    (a later revocation or expiry then does not matter; without a time-stamp a revocation leaves no proof
    either way)."""
    judged = asyncio.run(_validate_at_best_time(signature, Contexts(trust, fetching, embedded)))
    status, analysed, proven_time = judged.status, judged.analysed, judged.proven_time
    indication, sub = _verdict(judged)
    changes, detail, acceptable = (
        _modifications(status) if analysed else ("not_analysed", str(analysed), False)
    )
    changes_vi, changes_en = (f"{sentence}{': ' + detail if detail else ''}" for sentence in CHANGES[changes])
    if indication is Indication.TOTAL_PASSED and not acceptable:
        indication, sub = Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE
    best_time = proven_time or status.signer_reported_dt
    return SignatureVerdict(
        field_name=str(signature.field_name),
        kind="signature",
        indication=indication,
        sub_indication=sub,
        summary_vi=SENTENCES_VI.get(sub or "OK", SENTENCES_VI["OTHER"]),
        summary_en=SENTENCES_EN.get(sub or "OK", SENTENCES_EN["OTHER"]),
        signer=_signer(signature),
        signing_time=vietnam(best_time) if best_time else None,
        level=_level(signature, status, archives),
        modifications=changes_en,
        modifications_vi=changes_vi,
        trust_anchor=_anchor(status, trust),
        checks=_checks(judged),
    )


class _NotAnalysed:
    """Why pyHanko's difference analysis could not run (falsy, so ``if analysed`` reads naturally)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class _Judged:
    """pyHanko's status at the best signature time, and what the verdict needs besides it."""

    status: PdfSignatureStatus
    analysed: bool | _NotAnalysed
    proven_time: dt.datetime | None  # when a trusted signature time-stamp proves the signature existed
    missing_revocation: str | None  # why the path lacks revocation data, when that is its only fault


async def _validate_at_best_time(signature: EmbeddedPdfSignature, contexts: Contexts) -> _Judged:
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
        return _Judged(status, analysed, proven_time, await missing_revocation(status, context))
    finally:
        await contexts.close()


async def _validated(
    signature: EmbeddedPdfSignature, signer_context: ValidationContext, stamp_context: ValidationContext
) -> tuple[PdfSignatureStatus, bool | _NotAnalysed]:
    """pyHanko's validation; if its difference analysis breaks on a damaged file, again without it (the
    signature itself can still be judged, and the report says the changes were not analysed)."""
    try:
        return await async_validate_pdf_signature(signature, signer_context, stamp_context), True
    except MALFORMED as error:
        status = await async_validate_pdf_signature(signature, signer_context, stamp_context, skip_diff=True)
        return status, _NotAnalysed(f"{type(error).__name__}: {error}")


def _verdict(judged: _Judged) -> tuple[Indication, SubIndication | None]:
    status, proven_time = judged.status, judged.proven_time
    if not status.intact:
        return Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
    if not status.valid:
        return Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE
    if status.trusted:
        return Indication.TOTAL_PASSED, None
    problem = status.trust_problem_indic
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


def _modifications(status: PdfSignatureStatus) -> tuple[str, str, bool]:
    """What changed after the signature (a key of ``CHANGES``, a technical detail) and whether that is
    acceptable."""
    level = status.modification_level
    if level is None or level is ModificationLevel.NONE:
        return "none", "", True
    if level is ModificationLevel.LTA_UPDATES:
        return "lta_updates", "", True
    if level in (ModificationLevel.FORM_FILLING, ModificationLevel.ANNOTATIONS):
        allowed = bool(status.docmdp_ok)
        what = "form_filling" if level is ModificationLevel.FORM_FILLING else "annotations"
        return f"{what}_{'allowed' if allowed else 'forbidden'}", "", allowed
    return "suspicious", str(status.diff_result), False


def _checks(judged: _Judged) -> list[Check]:
    status, proven_time = judged.status, judged.proven_time
    stamp = status.timestamp_validity
    return [
        Check.of("integrity", status.intact, str(status.md_algorithm)),
        Check.of("signature", status.valid, f"{status.md_algorithm} with {status.pkcs7_signature_mechanism}"),
        Check.of("trust", status.trusted, judged.missing_revocation or _problem(status)),
        Check.of(
            "timestamp",
            None if stamp is None else bool(stamp.intact and stamp.valid and stamp.trusted),
            vietnam(proven_time) if proven_time else "",
        ),
        Check.of("coverage", status.coverage is not None, status.coverage.name if status.coverage else ""),
    ]


def _problem(status: PdfSignatureStatus) -> str:
    problem = status.trust_problem_indic
    return problem.name if isinstance(problem, enum.Enum) else ""


def _signer(signature: EmbeddedPdfSignature) -> Signer | None:
    try:
        certificate = signature.signer_cert
    except (ValueError, KeyError):
        return None
    subject = certificate.subject.native
    uid = subject.get("user_id") or subject.get("0.9.2342.19200300.100.1.1") or []
    return Signer(
        common_name=str(subject.get("common_name", "")),
        organisation=subject.get("organization_name"),
        uid=[uid] if isinstance(uid, str) else list(uid),
        serial=format(certificate.serial_number, "x"),
        issuer=certificate.issuer.human_friendly,
    )


def _level(
    signature: EmbeddedPdfSignature, status: PdfSignatureStatus | None, archives: list[int]
) -> Level | None:
    if status is None:
        return None
    if status.timestamp_validity is None:
        return Level.B_B
    if any(revision > signature.signed_revision for revision in archives):
        return Level.B_LTA
    reader = signature.reader
    return Level.B_LT if "/DSS" in reader.root else Level.B_T


def _anchor(status: object, trust: TrustStore) -> str | None:
    path = getattr(status, "validation_path", None)
    return trust.anchor_name(path.trust_anchor.certificate) if path is not None else None


# -- document time-stamps -------------------------------------------------------------------------------


def _judge_timestamp(
    signature: EmbeddedPdfSignature, trust: TrustStore, embedded: Embedded
) -> SignatureVerdict:
    context = ValidationContext(
        trust_roots=trust.roots_at(None),
        other_certs=[*trust.intermediates, *embedded.certificates],
        allow_fetching=False,
    )
    status = validate_pdf_timestamp(signature, validation_context=context)
    if not status.intact:
        indication, sub = Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
    elif not status.valid:
        indication, sub = Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE
    elif not status.trusted:
        indication, sub = Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    else:
        indication, sub = Indication.TOTAL_PASSED, None
    return SignatureVerdict(
        field_name=str(signature.field_name),
        kind="document-timestamp",
        indication=indication,
        sub_indication=sub,
        summary_vi=SENTENCES_VI["TIMESTAMP_OK" if sub is None else sub],
        summary_en=SENTENCES_EN["TIMESTAMP_OK" if sub is None else sub],
        signer=_signer(signature),
        signing_time=vietnam(status.timestamp),
        level=None,
        modifications="",
        modifications_vi="",
        trust_anchor=_anchor(status, trust),
    )
