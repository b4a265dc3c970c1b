"""Revocation reasons: RFC 5280 §5.3.1 codes and the Decree 68/2024 Art. 17 cases that lead to them.

There is no suspension service under Decree 68, so certificateHold and removeFromCRL are not offered. A
Decree 68 case is checked against the kind of certificate it is recorded for (CASE_KINDS).
"""

from __future__ import annotations

import re
from enum import StrEnum

from ca.authority import Authority
from ca.errors import InvalidRequest
from ca.profiles import CertificateKind
from ca.store import certificate_by_serial

__all__ = ["CASE_KINDS", "DECREE_68_CASES", "RevocationReason", "parse_reason", "reason_for_certificate"]


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

_EVERY_KIND = frozenset({CertificateKind.INDIVIDUAL, CertificateKind.ORGANISATION, CertificateKind.DEVICE})
_PERSON = frozenset({CertificateKind.INDIVIDUAL})
_AGENCY = frozenset({CertificateKind.ORGANISATION, CertificateKind.DEVICE})
# Who each case can happen to: an official retires, resigns, dies or moves post; an agency (and the
# devices it runs) is dissolved or merged; a device is retired. A recorded reason that cannot be true of
# the subject misleads whoever reads the CRL later, so a case is refused for the other kinds.
CASE_KINDS: dict[str, frozenset[CertificateKind]] = {
    "key-compromised": _EVERY_KIND,
    "device-lost": _EVERY_KIND,
    "moved-post": _PERSON,
    "retired": _PERSON,
    "resigned": _PERSON,
    "died": _PERSON,
    "agency-dissolved": _AGENCY,
    "agency-merged": _AGENCY,
    "device-retired": frozenset({CertificateKind.DEVICE}),
    "information-changed": _EVERY_KIND,
    "authority-request": _EVERY_KIND,
}
_KIND_NAMES = {
    CertificateKind.INDIVIDUAL: ("an official's", "của cá nhân"),
    CertificateKind.ORGANISATION: ("an agency's seal", "của cơ quan, tổ chức"),
    CertificateKind.DEVICE: ("a device's", "của thiết bị, dịch vụ, phần mềm"),
}


def parse_reason(text: str, kind: CertificateKind | None = None) -> RevocationReason:
    """An RFC 5280 name (keyCompromise, key-compromise, key_compromise) or a Decree 68 case (retired, ...).

    With ``kind``, the certificate's profile, a Decree 68 case that cannot happen to such a subject
    (``device-retired`` for an official, ``died`` for a seal) is refused, naming the cases that can.
    """
    if text in DECREE_68_CASES:
        if kind is not None and kind.is_subscriber and kind not in CASE_KINDS[text]:
            fitting = ", ".join(case for case, kinds in CASE_KINDS.items() if kind in kinds)
            english, vietnamese = _KIND_NAMES[kind]
            raise InvalidRequest(
                f"the Decree 68 case {text!r} does not apply to {english} certificate; choose one of: "
                f"{fitting} / trường hợp {text!r} không áp dụng cho chứng thư số {vietnamese}; chọn một "
                f"trong: {fitting}"
            )
        return DECREE_68_CASES[text]
    wanted = re.sub(r"[-_ ]", "", text).lower()
    for reason in RevocationReason:
        if reason.value.lower() == wanted:
            return reason
    choices = ", ".join([r.value for r in RevocationReason] + list(DECREE_68_CASES))
    raise InvalidRequest(f"unknown revocation reason {text!r}; choose one of: {choices}")


def reason_for_certificate(authority: Authority, serial: str, text: str) -> RevocationReason:
    """:func:`parse_reason` for the certificate ``serial``, checked against its kind. An unknown or malformed
    serial is left to the revocation itself, which reports it."""
    try:
        with authority.database.transaction() as session:
            record = certificate_by_serial(session, serial)
            profile = record.profile if record is not None else None
    except ValueError:
        profile = None
    return parse_reason(text, CertificateKind(profile) if profile else None)
