"""Document time-stamps (PAdES B-LTA, ETSI EN 319 142-1, 5.6): pyHanko's time-stamp validation, offline,
against the trust store and the certificates the document carries."""

from __future__ import annotations

from pyhanko.sign.validation import EmbeddedPdfSignature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext

from signing.validation.context import Embedded, TrustStore
from signing.validation.report import Indication, SignatureVerdict, SubIndication, vietnam
from signing.validation.texts import SENTENCES_EN, SENTENCES_VI, TIME_PROVEN
from signing.validation.verdicts import anchor_of, signer_of

__all__ = ["judge_timestamp"]


def judge_timestamp(
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
        signer=signer_of(signature),
        signing_time=vietnam(status.timestamp),
        level=None,
        modifications="",
        modifications_vi="",
        trust_anchor=anchor_of(status, trust),
        signing_time_proven=sub is None,
        signing_time_note_vi=TIME_PROVEN[0] if sub is None else "",
        signing_time_note_en=TIME_PROVEN[1] if sub is None else "",
    )
