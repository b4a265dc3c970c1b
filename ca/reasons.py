"""Revocation reasons: RFC 5280 §5.3.1 codes and the Decree 68/2024 Art. 17 cases that lead to them.

There is no suspension service under Decree 68, so certificateHold and removeFromCRL are not offered.
"""

from __future__ import annotations

import re
from enum import StrEnum

from ca.errors import InvalidRequest

__all__ = ["DECREE_68_CASES", "RevocationReason", "parse_reason"]


class RevocationReason(StrEnum):
    """The reasons govsign records, by their RFC 5280 names."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"

    @property
    def code(self) -> int:
        """The CRLReason enumeration value."""
        return {
            "unspecified": 0,
            "keyCompromise": 1,
            "affiliationChanged": 3,
            "superseded": 4,
            "cessationOfOperation": 5,
            "privilegeWithdrawn": 9,
        }[self.value]

    @property
    def asn1_name(self) -> str:
        """asn1crypto's name for the same value (snake case)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.value).lower()


# Decree 68/2024 Art. 17: what happened -> the reason recorded (STANDARDS.md).
DECREE_68_CASES: dict[str, RevocationReason] = {
    "key-compromised": RevocationReason.KEY_COMPROMISE,
    "device-lost": RevocationReason.KEY_COMPROMISE,
    "moved-post": RevocationReason.AFFILIATION_CHANGED,
    "retired": RevocationReason.CESSATION_OF_OPERATION,
    "resigned": RevocationReason.CESSATION_OF_OPERATION,
    "died": RevocationReason.CESSATION_OF_OPERATION,
    "agency-dissolved": RevocationReason.CESSATION_OF_OPERATION,
    "agency-merged": RevocationReason.CESSATION_OF_OPERATION,
    "device-retired": RevocationReason.CESSATION_OF_OPERATION,
    "information-changed": RevocationReason.SUPERSEDED,
    "authority-request": RevocationReason.PRIVILEGE_WITHDRAWN,
}


def parse_reason(text: str) -> RevocationReason:
    """An RFC 5280 name (keyCompromise, key-compromise, key_compromise) or a Decree 68 case (retired, ...)."""
    if text in DECREE_68_CASES:
        return DECREE_68_CASES[text]
    wanted = re.sub(r"[-_ ]", "", text).lower()
    for reason in RevocationReason:
        if reason.value.lower() == wanted:
            return reason
    choices = ", ".join([r.value for r in RevocationReason] + list(DECREE_68_CASES))
    raise InvalidRequest(f"unknown revocation reason {text!r}; choose one of: {choices}")
