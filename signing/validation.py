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
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from asn1crypto import crl, ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.api import FetcherBackend

from signing.documents import file_sha256
from signing.errors import InvalidDocument
from signing.fetch_policy import FetchPolicy, guarded_fetcher_backend

__all__ = [
    "REPORT_SCHEMA",
    "Indication",
    "SignatureVerdict",
    "TrustAnchor",
    "TrustStore",
    "ValidationReport",
    "validate_pdf",
]

REPORT_SCHEMA = "govsign-validation/1"
VIETNAM_TIME = dt.timezone(dt.timedelta(hours=7))


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


@dataclass(frozen=True)
class TrustAnchor:
    """A certificate that ends paths, trusted only for signatures made inside its window (when set)."""

    name: str
    certificate: asn1_x509.Certificate
    trusted_from: dt.datetime | None = None
    trusted_until: dt.datetime | None = None

    def trusted_at(self, moment: dt.datetime) -> bool:
        return (self.trusted_from is None or self.trusted_from <= moment) and (
            self.trusted_until is None or moment < self.trusted_until
        )


@dataclass(frozen=True)
class TrustStore:
    """Roots a verifier trusts (ours by default, other CAs added by name) and intermediates that help
    build paths for leaf-only signatures."""

    anchors: tuple[TrustAnchor, ...]
    intermediates: tuple[asn1_x509.Certificate, ...] = ()

    def roots_at(self, moment: dt.datetime | None) -> list[asn1_x509.Certificate]:
        """The anchors' certificates trusted at ``moment`` (now when None)."""
        when = moment or dt.datetime.now(dt.UTC)
        return [anchor.certificate for anchor in self.anchors if anchor.trusted_at(when)]

    def anchor_name(self, certificate: asn1_x509.Certificate | None) -> str | None:
        for anchor in self.anchors:
            if certificate is not None and anchor.certificate.dump() == certificate.dump():
                return anchor.name
        return None


@dataclass(frozen=True)
class Signer:
    common_name: str
    organisation: str | None
    uid: list[str]
    serial: str
    issuer: str


@dataclass(frozen=True)
class Check:
    code: str  # stable: structure, integrity, signature, trust, timestamp, coverage
    name: str  # English
    name_vi: str
    passed: bool | None  # None: not checked, or not applicable
    detail: str  # technical values (algorithms, times, pyHanko's indications), not words to translate

    @classmethod
    def of(cls, code: str, passed: bool | None, detail: str) -> Check:
        vi, en = _CHECK_NAMES[code]
        return cls(code, en, vi, passed, detail)


_CHECK_NAMES = {
    "structure": ("cấu trúc chữ ký", "structure of the signature"),
    "integrity": ("toàn vẹn của phần được ký", "integrity of the signed bytes"),
    "signature": ("chữ ký số (mật mã)", "cryptographic signature"),
    "trust": (
        "đường dẫn tới tổ chức chứng thực tin cậy, tình trạng thu hồi",
        "path to a trust anchor, revocation",
    ),
    "timestamp": ("dấu thời gian của chữ ký", "signature time-stamp"),
    "coverage": ("phạm vi tài liệu được ký", "document coverage"),
}


@dataclass(frozen=True)
class SignatureVerdict:
    field_name: str
    kind: str  # "signature" | "document-timestamp"
    indication: Indication
    sub_indication: str | None
    summary_vi: str
    summary_en: str
    signer: Signer | None
    signing_time: str | None  # the best signature time the proofs allow, Vietnam time
    level: str | None  # PAdES level reached: B-B, B-T, B-LT, B-LTA
    modifications: str  # English
    modifications_vi: str
    trust_anchor: str | None
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    schema: str
    document_sha256: str
    validated_at: str
    signatures: list[SignatureVerdict]
    fetches_refused: list[str]

    @property
    def all_passed(self) -> bool:
        return bool(self.signatures) and all(s.indication is Indication.TOTAL_PASSED for s in self.signatures)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "all_passed": self.all_passed}


def validate_pdf(source: Path, trust: TrustStore, fetching: FetchPolicy) -> ValidationReport:
    """The report on every signature and document time-stamp of ``source``."""
    digest = file_sha256(source)
    with source.open("rb") as stream:
        try:
            reader = PdfFileReader(stream, strict=False)
            signatures = reader.embedded_signatures
            archived_after = _archive_positions(signatures)
        except _MALFORMED as error:
            raise InvalidDocument(f"the PDF cannot be read ({type(error).__name__}: {error})") from None
        embedded = _Embedded.of(reader)
        verdicts = [_judge(signature, trust, fetching, archived_after, embedded) for signature in signatures]
    return ValidationReport(
        schema=REPORT_SCHEMA,
        document_sha256=digest,
        validated_at=dt.datetime.now(VIETNAM_TIME).isoformat(timespec="seconds"),
        signatures=verdicts,
        fetches_refused=list(fetching.refusals),
    )


# What a malformed PDF or CMS structure raises from deep inside pyHanko and asn1crypto.
_MALFORMED = (PdfError, ValueError, TypeError, KeyError, IndexError, AttributeError, LookupError)


def _load(asn1_type: Any, reference: Any, purpose: DecodePurpose) -> Any:
    return asn1_type.load(reference.get_object().read_data(purpose))


def _judge(
    signature: EmbeddedPdfSignature,
    trust: TrustStore,
    fetching: FetchPolicy,
    archives: list[int],
    embedded: _Embedded,
) -> SignatureVerdict:
    """One signature's verdict; one whose structure cannot even be read fails alone with FORMAT_FAILURE."""
    try:
        if signature.sig_object_type == "/DocTimeStamp":
            return _judge_timestamp(signature, trust, embedded)
        return _judge_signature(signature, trust, fetching, archives, embedded)
    except _MALFORMED as error:
        return SignatureVerdict(
            field_name=_field_name(signature),
            kind="signature",
            indication=Indication.TOTAL_FAILED,
            sub_indication="FORMAT_FAILURE",
            summary_vi=_SENTENCES_VI["FORMAT_FAILURE"],
            summary_en=_SENTENCES_EN["FORMAT_FAILURE"],
            signer=None,
            signing_time=None,
            level=None,
            modifications=_CHANGES["not_analysed"][1],
            modifications_vi=_CHANGES["not_analysed"][0],
            trust_anchor=None,
            checks=[Check.of("structure", False, f"{type(error).__name__}: {error}"[:300])],
        )


def _field_name(signature: EmbeddedPdfSignature) -> str:
    try:
        return str(signature.field_name)
    except _MALFORMED:
        return "?"


def _archive_positions(signatures: Iterable[EmbeddedPdfSignature]) -> list[int]:
    return [s.signed_revision for s in signatures if s.sig_object_type == "/DocTimeStamp"]


# -- signatures -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Embedded:
    """What the document itself carries for validation: the DSS's certificates, OCSP responses and CRLs."""

    certificates: list[asn1_x509.Certificate]
    ocsps: list[Any]
    crls: list[Any]

    @classmethod
    def of(cls, reader: PdfFileReader) -> _Embedded:
        try:
            dss = DocumentSecurityStore.read_dss(reader)
            return cls(
                certificates=list(dss.load_certs()),
                ocsps=[_load(ocsp.OCSPResponse, ref, DecodePurpose.OCSP_RESPONSE) for ref in dss.ocsps],
                crls=[_load(crl.CertificateList, ref, DecodePurpose.CRL) for ref in dss.crls],
            )
        except NoDSSFoundError:
            return cls([], [], [])
        except _MALFORMED:
            return cls([], [], [])  # a broken DSS proves nothing; the signatures are judged without it


class _Contexts:
    """Validation contexts for one signature, and the fetchers they open, closed in the same event loop
    (aiohttp sessions belong to the loop that made them)."""

    def __init__(self, trust: TrustStore, fetching: FetchPolicy, embedded: _Embedded) -> None:
        self.trust, self.fetching, self.embedded = trust, fetching, embedded
        self._backends: list[FetcherBackend] = []

    def at(self, moment: dt.datetime | None) -> ValidationContext:
        """Revocation data from the document first, then (if allowed) the network; at ``moment`` when a
        time-stamp proves the signature existed then, with revocation data issued later accepted for it."""
        backend = guarded_fetcher_backend(self.fetching) if self.fetching.enabled else None
        if backend is not None:
            self._backends.append(backend)
        return ValidationContext(
            trust_roots=self.trust.roots_at(moment),
            other_certs=[*self.trust.intermediates, *self.embedded.certificates],
            ocsps=self.embedded.ocsps,
            crls=self.embedded.crls,
            moment=moment,
            best_signature_time=moment,
            retroactive_revinfo=moment is not None,
            allow_fetching=self.fetching.enabled,
            fetcher_backend=backend,
            revocation_mode="hard-fail",
        )

    async def close(self) -> None:
        for backend in self._backends:
            await backend.close()  # type: ignore[no-untyped-call]


def _judge_signature(
    signature: EmbeddedPdfSignature,
    trust: TrustStore,
    fetching: FetchPolicy,
    archives: list[int],
    embedded: _Embedded,
) -> SignatureVerdict:
    """EN 319 102-1 in practice: integrity, the signature value, the path and revocation now; when that
    fails for want of proof of existence and a trusted time-stamp gives one, again at the time-stamp's time
    (a later revocation or expiry then does not matter; without a time-stamp a revocation leaves no proof
    either way)."""
    status, analysed, proven_time = asyncio.run(
        _validate_at_best_time(signature, _Contexts(trust, fetching, embedded))
    )
    indication, sub = _verdict(status, proven_time)
    changes, detail, acceptable = (
        _modifications(status) if analysed else ("not_analysed", str(analysed), False)
    )
    changes_vi, changes_en = (
        f"{sentence}{': ' + detail if detail else ''}" for sentence in _CHANGES[changes]
    )
    if indication is Indication.TOTAL_PASSED and not acceptable:
        indication, sub = Indication.INDETERMINATE, "SIG_CONSTRAINTS_FAILURE"
    best_time = proven_time or status.signer_reported_dt
    return SignatureVerdict(
        field_name=str(signature.field_name),
        kind="signature",
        indication=indication,
        sub_indication=sub,
        summary_vi=_SENTENCES_VI.get(sub or "OK", _SENTENCES_VI["OTHER"]),
        summary_en=_SENTENCES_EN.get(sub or "OK", _SENTENCES_EN["OTHER"]),
        signer=_signer(signature),
        signing_time=_vietnam(best_time) if best_time else None,
        level=_level(signature, status, archives),
        modifications=changes_en,
        modifications_vi=changes_vi,
        trust_anchor=_anchor(status, trust),
        checks=_checks(status, proven_time),
    )


class _NotAnalysed:
    """Why pyHanko's difference analysis could not run (falsy, so ``if analysed`` reads naturally)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.reason


async def _validate_at_best_time(
    signature: EmbeddedPdfSignature, contexts: _Contexts
) -> tuple[PdfSignatureStatus, bool | _NotAnalysed, dt.datetime | None]:
    try:
        now = contexts.at(None)
        status, analysed = await _validated(signature, now, now)
        stamp = status.timestamp_validity
        trusted_stamp = stamp is not None and stamp.intact and stamp.valid and stamp.trusted
        proven_time = stamp.timestamp if stamp is not None and trusted_stamp else None
        if proven_time is not None and status.intact and status.valid and not status.trusted:
            # EN 319 102-1's past signature validation: only when the current time's verdict needs the
            # proof of existence (a revocation or expiry since, an anchor no longer trusted)
            status, analysed = await _validated(signature, contexts.at(proven_time), now)
        return status, analysed, proven_time
    finally:
        await contexts.close()


async def _validated(
    signature: EmbeddedPdfSignature, signer_context: ValidationContext, stamp_context: ValidationContext
) -> tuple[PdfSignatureStatus, bool | _NotAnalysed]:
    """pyHanko's validation; if its difference analysis breaks on a damaged file, again without it (the
    signature itself can still be judged, and the report says the changes were not analysed)."""
    try:
        return await async_validate_pdf_signature(signature, signer_context, stamp_context), True
    except _MALFORMED as error:
        status = await async_validate_pdf_signature(signature, signer_context, stamp_context, skip_diff=True)
        return status, _NotAnalysed(f"{type(error).__name__}: {error}")


def _verdict(status: PdfSignatureStatus, proven_time: dt.datetime | None) -> tuple[Indication, str | None]:
    if not status.intact:
        return Indication.TOTAL_FAILED, "HASH_FAILURE"
    if not status.valid:
        return Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    if status.trusted:
        return Indication.TOTAL_PASSED, None
    problem = status.trust_problem_indic
    name = problem.name if isinstance(problem, enum.Enum) else "NO_CERTIFICATE_CHAIN_FOUND"
    if name in ("REVOKED", "REVOKED_NO_POE"):
        # Revocation is checked once the path is built and every signature on it verified, so revocation is
        # the only problem here: after the proven signing time it does not count; before it, the signature
        # failed; with no proof of when the signature was made, nothing can be concluded.
        details = status.revocation_details
        if proven_time is None:
            return Indication.INDETERMINATE, "REVOKED_NO_POE"
        if details is not None and details.revocation_date > proven_time:
            return Indication.TOTAL_PASSED, None
        return Indication.TOTAL_FAILED, "REVOKED"
    if name in ("EXPIRED", "OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED"):
        return Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE"
    if isinstance(problem, AdESFailure):
        return Indication.TOTAL_FAILED, name
    return Indication.INDETERMINATE, name


def _modifications(status: PdfSignatureStatus) -> tuple[str, str, bool]:
    """What changed after the signature (a key of ``_CHANGES``, a technical detail) and whether that is
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


_CHANGES = {  # (Vietnamese, English)
    "none": ("không có: chữ ký bao trùm toàn bộ tài liệu", "none: the signature covers the whole document"),
    "lta_updates": (
        "chỉ thêm dữ liệu kiểm tra (DSS) hoặc dấu thời gian tài liệu: được phép",
        "validation data (DSS) or document time-stamps added: allowed",
    ),
    "form_filling_allowed": (
        "điền biểu mẫu hoặc thêm chữ ký sau: được phép theo DocMDP của tài liệu",
        "form filling or later signatures added: allowed by the document's DocMDP",
    ),
    "form_filling_forbidden": (
        "điền biểu mẫu hoặc thêm chữ ký sau: không được phép theo DocMDP của tài liệu",
        "form filling or later signatures added: not allowed by the document's DocMDP",
    ),
    "annotations_allowed": (
        "thêm chú thích: được phép theo DocMDP của tài liệu",
        "annotations added: allowed by the document's DocMDP",
    ),
    "annotations_forbidden": (
        "thêm chú thích: không được phép theo DocMDP của tài liệu",
        "annotations added: not allowed by the document's DocMDP",
    ),
    "suspicious": ("thay đổi đáng ngờ sau khi ký", "suspicious changes after signing"),
    "not_analysed": ("chưa phân tích được", "not analysed"),
}


def _checks(status: PdfSignatureStatus, proven_time: dt.datetime | None) -> list[Check]:
    stamp = status.timestamp_validity
    return [
        Check.of("integrity", status.intact, str(status.md_algorithm)),
        Check.of("signature", status.valid, f"{status.md_algorithm} with {status.pkcs7_signature_mechanism}"),
        Check.of("trust", status.trusted, _problem(status)),
        Check.of(
            "timestamp",
            None if stamp is None else bool(stamp.intact and stamp.valid and stamp.trusted),
            _vietnam(proven_time) if proven_time else "",
        ),
        Check.of("coverage", status.coverage is not None, status.coverage.name if status.coverage else ""),
    ]


def _vietnam(moment: dt.datetime) -> str:
    return moment.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")


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
) -> str | None:
    if status is None:
        return None
    if status.timestamp_validity is None:
        return "B-B"
    if any(revision > signature.signed_revision for revision in archives):
        return "B-LTA"
    reader = signature.reader
    return "B-LT" if "/DSS" in reader.root else "B-T"


def _anchor(status: object, trust: TrustStore) -> str | None:
    path = getattr(status, "validation_path", None)
    return trust.anchor_name(path.trust_anchor.certificate) if path is not None else None


# -- document time-stamps -------------------------------------------------------------------------------


def _judge_timestamp(
    signature: EmbeddedPdfSignature, trust: TrustStore, embedded: _Embedded
) -> SignatureVerdict:
    context = ValidationContext(
        trust_roots=trust.roots_at(None),
        other_certs=[*trust.intermediates, *embedded.certificates],
        allow_fetching=False,
    )
    status = validate_pdf_timestamp(signature, validation_context=context)
    if not status.intact:
        indication, sub = Indication.TOTAL_FAILED, "HASH_FAILURE"
    elif not status.valid:
        indication, sub = Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE"
    elif not status.trusted:
        indication, sub = Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND"
    else:
        indication, sub = Indication.TOTAL_PASSED, None
    return SignatureVerdict(
        field_name=str(signature.field_name),
        kind="document-timestamp",
        indication=indication,
        sub_indication=sub,
        summary_vi=_SENTENCES_VI["TIMESTAMP_OK" if sub is None else sub],
        summary_en=_SENTENCES_EN["TIMESTAMP_OK" if sub is None else sub],
        signer=_signer(signature),
        signing_time=_vietnam(status.timestamp),
        level=None,
        modifications="",
        modifications_vi="",
        trust_anchor=_anchor(status, trust),
    )


_SENTENCES_VI = {
    "OK": "Hợp lệ — tài liệu không bị thay đổi sau khi ký.",
    "TIMESTAMP_OK": "Dấu thời gian hợp lệ — chứng minh tài liệu tồn tại vào thời điểm này.",
    "HASH_FAILURE": "Không hợp lệ — nội dung đã bị thay đổi sau khi ký.",
    "SIG_CRYPTO_FAILURE": "Không hợp lệ — chữ ký số không khớp với chứng thư số.",
    "REVOKED": "Không hợp lệ — chứng thư số đã bị thu hồi trước khi ký.",
    "FORMAT_FAILURE": "Không hợp lệ — chữ ký không đúng định dạng.",
    "REVOKED_NO_POE": "Chưa xác định — chứng thư số đã bị thu hồi và không có bằng chứng chữ ký được tạo trước đó.",
    "REVOKED_CA_NO_POE": "Chưa xác định — chứng thư của tổ chức cấp đã bị thu hồi.",
    "OUT_OF_BOUNDS_NO_POE": (
        "Chưa xác định — chứng thư số đã hết hạn và không có bằng chứng chữ ký được tạo khi còn hạn."
    ),
    "NO_CERTIFICATE_CHAIN_FOUND": "Chưa xác định — không tìm được tổ chức chứng thực tin cậy cho chữ ký này.",
    "TRY_LATER": "Chưa xác định — chưa kiểm tra được tình trạng thu hồi; hãy thử lại sau.",
    "CRYPTO_CONSTRAINTS_FAILURE": "Chưa xác định — thuật toán mật mã không còn đủ an toàn (ví dụ SHA-1).",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "Chưa xác định — thuật toán mật mã không còn đủ an toàn (ví dụ SHA-1).",
    "SIG_CONSTRAINTS_FAILURE": "Chưa xác định — tài liệu đã bị sửa đổi sau khi ký theo cách không được phép.",
    "OTHER": "Chưa xác định — không đủ thông tin để kết luận về chữ ký này.",
}
_SENTENCES_EN = {
    "OK": "Valid — the document has not been changed since it was signed.",
    "TIMESTAMP_OK": "Valid time-stamp — it proves the document existed at this time.",
    "HASH_FAILURE": "Invalid — the signed content was changed after signing.",
    "SIG_CRYPTO_FAILURE": "Invalid — the signature does not match the certificate.",
    "REVOKED": "Invalid — the certificate was revoked before the signature was made.",
    "FORMAT_FAILURE": "Invalid — the signature is not well formed.",
    "REVOKED_NO_POE": "Indeterminate — the certificate is revoked and nothing proves the signature came before.",
    "REVOKED_CA_NO_POE": "Indeterminate — the issuing authority's certificate is revoked.",
    "OUT_OF_BOUNDS_NO_POE": "Indeterminate — the certificate has expired and nothing proves the signature came first.",
    "NO_CERTIFICATE_CHAIN_FOUND": "Indeterminate — no trusted certification authority was found for this signature.",
    "TRY_LATER": "Indeterminate — revocation status could not be checked; try again later.",
    "CRYPTO_CONSTRAINTS_FAILURE": "Indeterminate — a cryptographic algorithm is no longer strong enough (e.g. SHA-1).",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "Indeterminate — a cryptographic algorithm is no longer strong enough.",
    "SIG_CONSTRAINTS_FAILURE": "Indeterminate — the document was changed after signing in a way that is not allowed.",
    "OTHER": "Indeterminate — there is not enough information to judge this signature.",
}
