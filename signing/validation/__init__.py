"""Validation of signed PDFs (ETSI EN 319 102-1), as EU DSS arranges it: the process (:mod:`.process`, with
its building blocks :mod:`.verdicts`, :mod:`.timestamps`, :mod:`.formats`, :mod:`.changes`, :mod:`.levels`
and the trust store and validation contexts of :mod:`.context`), the report's data (:mod:`.report`) and its
words per language (:mod:`.texts`). The names other rooms use are importable from here.
"""

from signing.validation.context import TrustAnchor, TrustStore
from signing.validation.process import DIAGNOSTICS_LOGGER, validate_pdf
from signing.validation.report import (
    REPORT_SCHEMA,
    Change,
    ChangeKind,
    Check,
    Indication,
    SignatureVerdict,
    Signer,
    SubIndication,
    ValidationReport,
)

__all__ = [
    "DIAGNOSTICS_LOGGER",
    "REPORT_SCHEMA",
    "Change",
    "ChangeKind",
    "Check",
    "Indication",
    "SignatureVerdict",
    "Signer",
    "SubIndication",
    "TrustAnchor",
    "TrustStore",
    "ValidationReport",
    "validate_pdf",
]
