"""The validation process for any signed PDF: ETSI EN 319 102-1 indications, one per signature.

Each signature goes through pyHanko's validator twice at most: once now, for integrity, the signature
value, the path and the signature time-stamp; then, only if that verdict fails for want of proof (a
revocation or expiry since) and a trusted time-stamp proves when the signature existed, again at that
time, so that the later event does not count against it (EN 319 102-1's past signature validation at
the best signature time; pyHanko's own AdES engine is still incomplete and answered INDETERMINATE for
plain B-B to B-LT documents). Revocation data embedded in the document (DSS) comes first; the network is asked
only through :mod:`signing.fetch_policy`. Document time-stamps get pyHanko's time-stamp validation.

What changed after each signature is named by :mod:`signing.validation.changes` and judged by pyHanko's
difference analysis: DSS and document time-stamps are allowed, form filling and later signatures as DocMDP
allows; a page added or repainted, or anything else, keeps the signature from TOTAL_PASSED. The level is
judged per signature (:mod:`signing.validation.levels`); a signature in a format pyHanko cannot judge is
reported as such (:mod:`signing.validation.formats`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from pyhanko.pdf_utils.crypt.api import AuthStatus
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import (
    EmbeddedPdfSignature,
)
from pyhanko.sign.validation.status import PdfSignatureStatus

from signing.aes256_revision5 import decrypt
from signing.documents import file_sha256
from signing.errors import InvalidDocument
from signing.fetch_policy import FetchPolicy
from signing.validation.chain import chain_of, timestamp_of
from signing.validation.changes import UNREADABLE, Snapshot, changes_between, snapshot
from signing.validation.context import (
    MALFORMED,
    Contexts,
    Embedded,
    TrustStore,
)
from signing.validation.formats import Unjudgeable, format_failure, signature_fields
from signing.validation.levels import signature_level
from signing.validation.report import (
    REPORT_SCHEMA,
    VIETNAM_TIME,
    Change,
    ChangeKind,
    Check,
    Indication,
    SignatureVerdict,
    SubIndication,
    ValidationReport,
    vietnam,
)
from signing.validation.texts import (
    ALLOWED,
    CHANGE_SENTENCES,
    NO_CHANGES,
    NOT_ANALYSED,
    SENTENCES_EN,
    SENTENCES_VI,
    SIGNED_BYTES_ALTERED,
    TIME_CLAIMED,
    TIME_PROVEN,
    policy_sentence,
)
from signing.validation.timestamps import judge_timestamp
from signing.validation.verdicts import (
    Judged,
    NotAnalysed,
    anchor_of,
    signer_of,
    validate_at_best_time,
    verdict,
)

__all__ = ["DIAGNOSTICS_LOGGER", "validate_pdf"]

# pyHanko logs what it skips or cannot parse as warnings with a traceback; a person reading the report
# should see the verdict, not those. They are passed on at DEBUG under this logger (`govsign verify
# --debug` shows them; the server logs them at DEBUG).
DIAGNOSTICS_LOGGER = "govsign.validation.pyhanko"


class _AtDebug(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        logging.getLogger(DIAGNOSTICS_LOGGER).handle(record)


for _library in (
    "pyhanko.sign.validation",
    "pyhanko.sign.diff_analysis",
    "pyhanko.pdf_utils",
    "pyhanko_certvalidator",
):
    logging.getLogger(_library).addHandler(_AtDebug())
    logging.getLogger(_library).propagate = False


@dataclass(frozen=True)
class _Document:
    """The file under validation and what every signature's verdict reads from it."""

    data: bytes
    password: str | None
    embedded: Embedded  # the DSS of the whole file
    final: Snapshot | None  # None when qpdf cannot read the file (the changes are then not named)
    archives: list[EmbeddedPdfSignature]  # the document time-stamps


def validate_pdf(
    source: Path, trust: TrustStore, fetching: FetchPolicy, *, password: str | None = None
) -> ValidationReport:
    """The report on every signature and document time-stamp of ``source``; an encrypted file opens with
    ``password``, or without one when its user password is empty."""
    digest = file_sha256(source)
    data = source.read_bytes()
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        _unlock(reader, password)
        signatures = signature_fields(reader)
    except MALFORMED as error:
        raise InvalidDocument(f"the PDF cannot be read ({type(error).__name__}: {error})") from None
    document = _Document(
        data=data,
        password=password,
        embedded=Embedded.of(reader),
        final=_snapshot(data, password) if signatures else None,
        archives=[
            s
            for s in signatures
            if isinstance(s, EmbeddedPdfSignature) and s.sig_object_type == "/DocTimeStamp"
        ],
    )
    verdicts = [
        format_failure(s) if isinstance(s, Unjudgeable) else _judge(s, trust, fetching, document)
        for s in signatures
    ]
    return ValidationReport(
        schema=REPORT_SCHEMA,
        document_sha256=digest,
        validated_at=dt.datetime.now(VIETNAM_TIME).isoformat(timespec="seconds"),
        signatures=verdicts,
        fetches_refused=list(dict.fromkeys(fetching.refusals)),  # each refused fetch once, in order
        policy_vi=policy_sentence(trust, fetching, english=False),
        policy_en=policy_sentence(trust, fetching, english=True),
    )


def _unlock(reader: PdfFileReader, password: str | None) -> None:
    """Authenticate to an encrypted file: with ``password``, or with the empty user password (a file that
    only restricts printing or editing opens for everyone, as in any PDF reader)."""
    if not reader.encrypted:
        return
    if decrypt(reader, password).status is AuthStatus.FAILED:
        if password is None:
            raise InvalidDocument("the PDF is encrypted; give its password to validate it (--password)")
        raise InvalidDocument("the password does not open this PDF")


def _snapshot(data: bytes, password: str | None) -> Snapshot | None:
    """qpdf's view of ``data``, or None: it only explains the verdict, which stands without it."""
    try:
        return snapshot(data, password)
    except UNREADABLE:
        logging.getLogger(DIAGNOSTICS_LOGGER).debug("qpdf cannot read the document", exc_info=True)
        return None


def _judge(
    signature: EmbeddedPdfSignature, trust: TrustStore, fetching: FetchPolicy, document: _Document
) -> SignatureVerdict:
    """One signature's verdict; one whose structure cannot be read after all is INDETERMINATE /
    FORMAT_FAILURE alone."""
    try:
        if signature.sig_object_type == "/DocTimeStamp":
            return judge_timestamp(signature, trust, document.embedded)
        return _judge_signature(signature, trust, fetching, document)
    except MALFORMED as error:
        reason = f"{type(error).__name__}: {error}"[:300]
        return format_failure(Unjudgeable(_field_name(signature), None, reason, None, False))


def _field_name(signature: EmbeddedPdfSignature) -> str:
    try:
        return str(signature.field_name)
    except MALFORMED:
        return "?"


def _judge_signature(
    signature: EmbeddedPdfSignature, trust: TrustStore, fetching: FetchPolicy, document: _Document
) -> SignatureVerdict:
    """EN 319 102-1 in practice: integrity, the signature value, the path and revocation now; when that
    fails for want of proof of existence and a trusted time-stamp gives one, again at the time-stamp's time
    (a later revocation or expiry then does not matter; without a time-stamp a revocation leaves no proof
    either way)."""
    judged = asyncio.run(validate_at_best_time(signature, Contexts(trust, fetching, document.embedded)))
    status, proven_time = judged.status, judged.proven_time
    indication, sub = verdict(judged)
    changes, acceptable = _changes(signature, judged, document)
    if indication is Indication.TOTAL_PASSED and not acceptable:
        indication, sub = Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE
    best_time = proven_time or status.signer_reported_dt
    time_note = TIME_PROVEN if proven_time else TIME_CLAIMED
    return SignatureVerdict(
        field_name=str(signature.field_name),
        kind="signature",
        indication=indication,
        sub_indication=sub,
        summary_vi=SENTENCES_VI.get(sub or "OK", SENTENCES_VI["OTHER"]),
        summary_en=SENTENCES_EN.get(sub or "OK", SENTENCES_EN["OTHER"]),
        signer=signer_of(signature),
        signing_time=vietnam(best_time) if best_time else None,
        level=signature_level(signature, status, document.embedded, document.archives)
        if status.intact and status.valid
        else None,  # a signature whose bytes or value fail reaches no level
        modifications=_described(changes, judged.analysed, english=True),
        modifications_vi=_described(changes, judged.analysed, english=False),
        trust_anchor=anchor_of(status, trust),
        checks=_checks(judged),
        changes=changes,
        signing_time_proven=proven_time is not None,
        signing_time_note_vi=time_note[0] if best_time else "",
        signing_time_note_en=time_note[1] if best_time else "",
        chain=chain_of(status, judged.revocation),
        timestamp=timestamp_of(signature),
    )


def _changes(
    signature: EmbeddedPdfSignature, judged: Judged, document: _Document
) -> tuple[list[Change], bool]:
    """What changed after ``signature``, named, and whether all of it is allowed.

    The signed bytes altered is itself the change (nothing after them can be compared); otherwise the
    signed revision is compared with the file, and pyHanko's refusal that names nothing this comparison
    can name is reported as "other changes", with pyHanko's explanation for experts."""
    status = judged.status
    if not status.intact:
        vi, en = SIGNED_BYTES_ALTERED
        return [Change(ChangeKind.OTHER, None, None, False, vi, en, ["/ByteRange digest mismatch"])], False
    if not judged.analysed:
        return [], False
    pyhanko_allows = _allowed_by_pyhanko(status)
    named: list[Change] = []
    signed_revision = _snapshot(document.data[: _signed_end(signature)], document.password)
    if signed_revision is not None and document.final is not None:
        named = changes_between(signed_revision, document.final, form_changes_allowed=pyhanko_allows)
    if not pyhanko_allows and all(change.allowed for change in named):
        vi, en = CHANGE_SENTENCES["other"]
        named.append(Change(ChangeKind.OTHER, None, None, False, vi, en, [str(status.diff_result)[:1000]]))
    return named, pyhanko_allows and all(change.allowed for change in named)


def _signed_end(signature: EmbeddedPdfSignature) -> int:
    """Where the signed revision ends: the end of the signature's second byte range."""
    ranges = [int(n) for n in signature.byte_range]
    return ranges[2] + ranges[3]


def _described(changes: list[Change], analysed: bool | NotAnalysed, *, english: bool) -> str:
    """The changes as one line (the report's ``modifications`` strings, kept for their readers)."""
    language = 1 if english else 0
    if changes:
        return "; ".join(
            f"{(c.sentence_en if english else c.sentence_vi)}: {ALLOWED[c.allowed][language]}"
            for c in changes
        )
    if not analysed:
        return f"{NOT_ANALYSED[language]}: {analysed}"
    return NO_CHANGES[language]


def _allowed_by_pyhanko(status: PdfSignatureStatus) -> bool:
    """pyHanko's difference analysis: only validation data and time-stamps, or annotations, form filling
    and signatures that the document's DocMDP permits."""
    level = status.modification_level
    if level is None or level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
        return True
    if level in (ModificationLevel.FORM_FILLING, ModificationLevel.ANNOTATIONS):
        return bool(status.docmdp_ok)
    return False


def _checks(judged: Judged) -> list[Check]:
    status, proven_time = judged.status, judged.proven_time
    stamp = status.timestamp_validity
    return [
        Check.of("integrity", status.intact, str(status.md_algorithm)),
        Check.of("signature", status.valid, f"{status.md_algorithm} with {status.pkcs7_signature_mechanism}"),
        Check.of("trust", _trust_checked(judged), judged.missing_revocation or _problem(status)),
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


def _trust_checked(judged: Judged) -> bool | None:
    """Whether the path and revocation check passed; None when it did not run (pyHanko names no problem:
    a signature that fails its integrity is not taken further)."""
    status = judged.status
    if status.trusted:
        return True
    if status.trust_problem_indic is None and judged.missing_revocation is None:
        return None
    return False
