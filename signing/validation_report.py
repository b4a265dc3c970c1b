"""The validation report's data and words: ETSI EN 319 102-1 indications, what was checked, and the
sentences a person reads, in Vietnamese and English (kept apart from the process that decides them).

The report's JSON Schema (``/api/v1/verify/schema``) is derived from these types; fields are only ever
added within a version of :data:`REPORT_SCHEMA`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from signing.pades import Level

__all__ = [
    "CHANGES",
    "REPORT_SCHEMA",
    "SENTENCES_EN",
    "SENTENCES_VI",
    "Check",
    "Indication",
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
    sub_indication: SubIndication | None
    summary_vi: str
    summary_en: str
    signer: Signer | None
    signing_time: str | None  # the best signature time the proofs allow, Vietnam time
    level: Level | None  # PAdES level reached
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
    fetches_refused: list[str]  # every fetch not made or not finished: its URL and why

    @property
    def all_passed(self) -> bool:
        return bool(self.signatures) and all(s.indication is Indication.TOTAL_PASSED for s in self.signatures)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "all_passed": self.all_passed}


def vietnam(moment: dt.datetime) -> str:
    """``moment`` as people here read it: Vietnam time, to the second."""
    return moment.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")


CHANGES = {  # (Vietnamese, English)
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


SENTENCES_VI = {
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
SENTENCES_EN = {
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
