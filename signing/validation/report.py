"""The validation report's data: ETSI EN 319 102-1 indications, what was checked, what changed after each
signature (the words a person reads come from :mod:`signing.validation.texts`).

The report's JSON Schema (``/api/v1/verify/schema``) is derived from these types; fields are only ever
added within a version of :data:`REPORT_SCHEMA`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from asn1crypto import x509 as asn1_x509

from signing.pades import Level
from signing.validation.texts import CHECK_NAMES

__all__ = [
    "REPORT_SCHEMA",
    "VIETNAM_TIME",
    "CertificateStanding",
    "ChainCertificate",
    "Change",
    "ChangeKind",
    "Check",
    "Indication",
    "SignatureTimestamp",
    "SignatureVerdict",
    "Signer",
    "SubIndication",
    "ValidationReport",
    "vietnam",
]

REPORT_SCHEMA = "govsign-validation/1"
VIETNAM_TIME = dt.timezone(dt.timedelta(hours=7))


class Indication(StrEnum):
    """EN 319 102-1, 5.1.3, table 4: the main status of a validation."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(StrEnum):
    """EN 319 102-1, 5.1.3, table 5: why a signature failed or is indeterminate, by its ETSI name (the
    names of pyHanko's ``AdESFailure`` and ``AdESIndeterminate``, whose values are not these strings)."""

    # TOTAL_FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    NOT_YET_VALID = "NOT_YET_VALID"  # also INDETERMINATE
    # INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    EXPIRED = "EXPIRED"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    GENERIC = "GENERIC"


@dataclass(frozen=True)
class Signer:
    common_name: str
    organisation: str | None
    uid: list[str]
    serial: str
    issuer: str

    @classmethod
    def of(cls, certificate: asn1_x509.Certificate) -> Signer:
        subject = certificate.subject.native
        uid = subject.get("user_id") or subject.get("0.9.2342.19200300.100.1.1") or []
        return cls(
            common_name=str(subject.get("common_name", "")),
            organisation=subject.get("organization_name"),
            uid=[uid] if isinstance(uid, str) else list(uid),
            serial=format(certificate.serial_number, "x"),
            issuer=certificate.issuer.human_friendly,
        )


@dataclass(frozen=True)
class Check:
    code: str  # stable: structure, integrity, signature, trust, timestamp, coverage
    name: str  # English
    name_vi: str
    passed: bool | None  # None: not checked, or not applicable
    detail: str  # technical values (algorithms, times, pyHanko's indications), not words to translate

    @classmethod
    def of(cls, code: str, passed: bool | None, detail: str) -> Check:
        vi, en = CHECK_NAMES[code]
        return cls(code, en, vi, passed, detail)


class ChangeKind(StrEnum):
    """What kind of change an incremental update made after a signature."""

    PAGE_ADDED = "page_added"
    PAGE_CONTENT_REPLACED = "page_content_replaced"
    ANNOTATION_ADDED = "annotation_added"
    FORM_FIELD_FILLED = "form_field_filled"
    DSS_ADDED = "dss_added"
    DOCUMENT_TIMESTAMP_ADDED = "document_timestamp_added"
    SIGNATURE_ADDED = "signature_added"
    OTHER = "other"


@dataclass(frozen=True)
class Change:
    """One change after a signature, as a citizen reads it (``sentence_vi``/``sentence_en``) and as an
    expert checks it (``objects``: the PDF objects involved, or pyHanko's own explanation)."""

    kind: ChangeKind
    page: int | None  # from 1
    field_name: str | None  # the form or signature field's full name
    allowed: bool  # by PAdES (validation data, time-stamps) or by the document's DocMDP permissions
    sentence_vi: str
    sentence_en: str
    objects: list[str] = field(default_factory=list)


class CertificateStanding(StrEnum):
    """A certificate's status as the validation found it."""

    TRUST_ANCHOR = "trust_anchor"  # trusted as such: no status to check
    GOOD = "good"
    REVOKED = "revoked"
    NOT_CHECKED = "not_checked"  # no OCSP response or CRL for it was used (or the path was not built)


@dataclass(frozen=True)
class ChainCertificate:
    subject: str
    issuer: str
    serial: str  # hex
    not_before: str  # ISO 8601, Vietnam time
    not_after: str
    key: str  # e.g. "EC P-256", "RSA 2048"
    standing: CertificateStanding
    status_source: (
        str  # technical: "OCSP produced <time> by <responder>" or "CRL #n issued <time> by <issuer>"
    )


@dataclass(frozen=True)
class SignatureTimestamp:
    """The signature's own time-stamp token."""

    tsa: str
    time: str  # ISO 8601, Vietnam time
    accuracy: str  # e.g. "1 s", "" when the token claims none


@dataclass(frozen=True)
class SignatureVerdict:
    field_name: str
    kind: str  # "signature" | "document-timestamp"
    indication: Indication
    sub_indication: SubIndication | None
    summary_vi: str
    summary_en: str
    signer: Signer | None
    signing_time: str | None  # the best signature time the proofs allow, Vietnam time
    level: Level | None  # PAdES level reached by this signature (its own DSS data, the time-stamps over it)
    modifications: str  # English: the sentences of ``changes`` joined, or why there are none
    modifications_vi: str
    trust_anchor: str | None
    checks: list[Check] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # after this signature, in document order
    signing_time_proven: bool = False  # True only when a trusted time-stamp proves ``signing_time``
    signing_time_note_vi: str = ""
    signing_time_note_en: str = ""
    chain: list[ChainCertificate] = field(default_factory=list)  # the signer's first, the trust anchor last
    timestamp: SignatureTimestamp | None = None  # the signature's own time-stamp token


@dataclass(frozen=True)
class ValidationReport:
    schema: str
    document_sha256: str
    validated_at: str
    signatures: list[SignatureVerdict]
    fetches_refused: list[str]  # every fetch not made or not finished: its URL and why
    policy_vi: str = ""  # the validation policy applied: the process, the revocation rule, the trust anchors
    policy_en: str = ""

    @property
    def all_passed(self) -> bool:
        return bool(self.signatures) and all(s.indication is Indication.TOTAL_PASSED for s in self.signatures)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "all_passed": self.all_passed}


def vietnam(moment: dt.datetime) -> str:
    """``moment`` as people here read it: Vietnam time, to the second."""
    return moment.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")
