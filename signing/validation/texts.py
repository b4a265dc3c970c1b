"""The words of the validation report, per language: the sentence for each indication, the name of each
check, the sentence for each kind of change after a signature and for the signing time (kept apart from the
process that decides them and from the report's data, as EU DSS keeps its i18n bundles).

Every entry is a pair or a per-language mapping, Vietnamese first; placeholders are ``str.format`` fields.
"""

from __future__ import annotations

from signing.fetch_policy import FetchPolicy
from signing.validation.context import TrustStore

__all__ = [
    "ALLOWED",
    "CHANGE_SENTENCES",
    "CHECK_NAMES",
    "NOT_ANALYSED",
    "NO_CHANGES",
    "SENTENCES_EN",
    "SENTENCES_VI",
    "SIGNED_BYTES_ALTERED",
    "TIME_CLAIMED",
    "TIME_PROVEN",
    "policy_sentence",
]

CHECK_NAMES = {
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

# What changed after a signature, by ``ChangeKind`` value; page numbers count from 1.
CHANGE_SENTENCES = {
    "page_added": ("Trang {page} được thêm sau khi ký", "Page {page} was added after signing"),
    "page_removed": ("Trang {page} bị xoá sau khi ký", "Page {page} was removed after signing"),
    "page_content_replaced": (
        "Nội dung trang {page} bị thay thế sau khi ký",
        "Content of page {page} replaced after signing",
    ),
    "annotation_added": (
        "Chú thích được thêm vào trang {page} sau khi ký",
        "Annotation added on page {page} after signing",
    ),
    "form_field_filled": (
        "Trường biểu mẫu “{field}” được điền sau khi ký",
        "Form field “{field}” filled after signing",
    ),
    "dss_added": (
        "Dữ liệu kiểm tra chữ ký (DSS) được thêm sau khi ký",
        "Validation data (DSS) added after signing",
    ),
    "document_timestamp_added": (
        "Dấu thời gian tài liệu “{field}” được thêm sau khi ký",
        "Document time-stamp “{field}” added after signing",
    ),
    "signature_added": ("Chữ ký “{field}” được thêm sau khi ký", "Signature “{field}” added after signing"),
    "other": (
        "Tài liệu có thay đổi khác sau khi ký mà không giải thích được",
        "Other changes after signing that cannot be explained",
    ),
}
SIGNED_BYTES_ALTERED = (
    "Chính phần nội dung đã được ký bị sửa đổi",
    "The signed content itself was altered",
)
ALLOWED = {True: ("được phép", "allowed"), False: ("không được phép", "not allowed")}
NO_CHANGES = ("không có: chữ ký bao trùm toàn bộ tài liệu", "none: the signature covers the whole document")
NOT_ANALYSED = ("chưa phân tích được", "not analysed")

TIME_PROVEN = (
    "Thời điểm ký được chứng minh bằng dấu thời gian của tổ chức cung cấp dịch vụ cấp dấu thời gian.",
    "The signing time is proven by a time-stamp from a time-stamping authority.",
)
TIME_CLAIMED = (
    "Thời điểm ký do người ký tự khai trên máy của mình, chưa được chứng minh.",
    "The signing time is claimed by the signer, not proven.",
)


SENTENCES_VI = {
    "OK": "Hợp lệ — tài liệu không bị thay đổi sau khi ký.",
    "TIMESTAMP_OK": "Dấu thời gian hợp lệ — chứng minh tài liệu tồn tại vào thời điểm này.",
    "HASH_FAILURE": "Không hợp lệ — nội dung đã bị thay đổi sau khi ký.",
    "SIG_CRYPTO_FAILURE": "Không hợp lệ — chữ ký số không khớp với chứng thư số.",
    "REVOKED": "Không hợp lệ — chứng thư số đã bị thu hồi trước khi ký.",
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
    "FORMAT_FAILURE": (
        "Chưa xác định — chữ ký có định dạng mà phần mềm không kiểm tra được; không kết luận được về chữ ký này."
    ),
    "LEGACY_FORMAT": (
        "Chưa xác định — chữ ký dùng định dạng cũ {sub_filter} (không còn được chấp nhận, dựa trên SHA-1); "
        "không kết luận được về chữ ký này."
    ),
    "OTHER": "Chưa xác định — không đủ thông tin để kết luận về chữ ký này.",
}
SENTENCES_EN = {
    "OK": "Valid — the document has not been changed since it was signed.",
    "TIMESTAMP_OK": "Valid time-stamp — it proves the document existed at this time.",
    "HASH_FAILURE": "Invalid — the signed content was changed after signing.",
    "SIG_CRYPTO_FAILURE": "Invalid — the signature does not match the certificate.",
    "REVOKED": "Invalid — the certificate was revoked before the signature was made.",
    "REVOKED_NO_POE": "Indeterminate — the certificate is revoked and nothing proves the signature came before.",
    "REVOKED_CA_NO_POE": "Indeterminate — the issuing authority's certificate is revoked.",
    "OUT_OF_BOUNDS_NO_POE": "Indeterminate — the certificate has expired and nothing proves the signature came first.",
    "NO_CERTIFICATE_CHAIN_FOUND": "Indeterminate — no trusted certification authority was found for this signature.",
    "TRY_LATER": "Indeterminate — revocation status could not be checked; try again later.",
    "CRYPTO_CONSTRAINTS_FAILURE": "Indeterminate — a cryptographic algorithm is no longer strong enough (e.g. SHA-1).",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": "Indeterminate — a cryptographic algorithm is no longer strong enough.",
    "SIG_CONSTRAINTS_FAILURE": "Indeterminate — the document was changed after signing in a way that is not allowed.",
    "FORMAT_FAILURE": (
        "Indeterminate — the signature is in a format that cannot be checked; nothing can be concluded about it."
    ),
    "LEGACY_FORMAT": (
        "Indeterminate — the signature uses the legacy format {sub_filter} (no longer accepted, built on SHA-1); "
        "nothing can be concluded about it."
    ),
    "OTHER": "Indeterminate — there is not enough information to judge this signature.",
}


def policy_sentence(trust: TrustStore, fetching: FetchPolicy, *, english: bool) -> str:
    """The validation policy, as the report states it: EN 319 102-1's process, what revocation data must
    exist and where it may come from, and the anchors trusted."""
    anchors = ", ".join(anchor.name for anchor in trust.anchors) or ("none" if english else "không có")
    if english:
        where = (
            "then OCSP/CRL fetched over HTTP as the fetch policy allows"
            if fetching.enabled
            else ("nothing fetched (offline)")
        )
        return (
            "ETSI EN 319 102-1: basic validation, then past signature validation at the time a trusted "
            "time-stamp proves; revocation data required for every certificate under the trust anchor "
            f"(the document's own DSS first, {where}); trust anchors: {anchors}."
        )
    where = (
        "sau đó OCSP/CRL tải qua mạng theo chính sách tải"
        if fetching.enabled
        else "không tải gì (ngoại tuyến)"
    )
    return (
        "ETSI EN 319 102-1: kiểm tra cơ bản, sau đó kiểm tra tại thời điểm mà dấu thời gian tin cậy chứng "
        "minh; mọi chứng thư dưới gốc tin cậy phải có dữ liệu thu hồi (trước hết là dữ liệu DSS kèm tài liệu, "
        f"{where}); gốc tin cậy: {anchors}."
    )
