"""Pre-issuance linting with pkilint: RFC 5280 and ETSI EN 319 412-1/2/3.

Every certificate is linted on a copy signed with a throwaway key before the HSM signs the real one; a
single ERROR or FATAL finding stops issuance. Building pkilint's validator trees costs about 280 ms, so each
process builds them once per kind and reuses them. pkilint itself is imported on first use (its language
tables take most of a second to load), so commands that never lint start quickly.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ca.errors import LintFailed

__all__ = ["LintFinding", "LintKind", "lint_certificate", "lint_crl"]


class LintKind(StrEnum):
    """Which pkilint linter judges a certificate."""

    NATURAL_PERSON = "etsi-ncp-natural-person"
    LEGAL_PERSON = "etsi-ncp-legal-person"
    PKIX = "rfc5280"


@dataclass(frozen=True)
class LintFinding:
    """One pkilint finding: severity name, finding code and pkilint's message, if any."""

    severity: str
    code: str
    message: str | None

    def __str__(self) -> str:
        return f"{self.severity} {self.code}" + (f": {self.message}" if self.message else "")


_ETSI_TYPE_NAMES = {
    LintKind.NATURAL_PERSON: "NCP_NATURAL_PERSON_CERTIFICATE",
    LintKind.LEGAL_PERSON: "NCP_LEGAL_PERSON_CERTIFICATE",
}
_SEVERITY_ORDER = {"FATAL": 0, "ERROR": 1, "WARNING": 2, "NOTICE": 3, "INFO": 4, "DEBUG": 5}
# pkilint's validator trees are not documented as thread-safe, and linting is pure Python held by the GIL
# anyway, so one lock per process costs no parallelism.
_lint_lock = threading.Lock()


@functools.cache
def _validator(kind: LintKind) -> Any:
    from pkilint.etsi import create_decoding_validators, create_validators
    from pkilint.etsi.etsi_constants import CertificateType
    from pkilint.pkix import certificate, extension, name

    if kind is LintKind.PKIX:
        return certificate.create_pkix_certificate_validator_container(
            certificate.create_decoding_validators(
                name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
            ),
            [
                certificate.create_issuer_validator_container([]),
                certificate.create_validity_validator_container(),
                certificate.create_subject_validator_container([]),
                certificate.create_extensions_validator_container([]),
                certificate.create_spki_validator_container([]),
            ],
        )
    etsi_type = CertificateType[_ETSI_TYPE_NAMES[kind]]
    return certificate.create_pkix_certificate_validator_container(
        create_decoding_validators(etsi_type), create_validators(etsi_type)
    )


@functools.cache
def _finding_filters(kind: LintKind) -> Any:
    from pkilint.etsi import create_etsi_finding_filters
    from pkilint.etsi.etsi_constants import CertificateType

    if kind not in _ETSI_TYPE_NAMES:
        return None
    return create_etsi_finding_filters(CertificateType[_ETSI_TYPE_NAMES[kind]])


def findings(der: bytes, kind: LintKind) -> list[LintFinding]:
    """Every pkilint finding for the DER certificate ``der``, most severe first."""
    from pkilint import finding_filter, loader

    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "tbs-lint-copy")
    with _lint_lock:
        results = _validator(kind).validate(document.root)
        filters = _finding_filters(kind)
        if filters is not None:
            results, _ = finding_filter.filter_results(filters, results)
    found = [
        LintFinding(description.finding.severity.name, description.finding.code, description.message)
        for result in results
        for description in result.finding_descriptions
    ]
    return sorted(found, key=lambda f: _SEVERITY_ORDER.get(f.severity, len(_SEVERITY_ORDER)))


def lint_certificate(der: bytes, kind: LintKind) -> list[LintFinding]:
    """Lint ``der``; raise :class:`LintFailed` naming every ERROR or FATAL, else return the rest."""
    found = findings(der, kind)
    blocking = [f for f in found if f.severity in ("FATAL", "ERROR")]
    if blocking:
        raise LintFailed(
            "the certificate was not signed: pkilint found " + "; ".join(str(f) for f in blocking)
        )
    return found


@functools.cache
def _crl_validator() -> Any:
    """pkilint's RFC 5280 CRL linter, as its ``lint_crl -t CRL -p PKIX`` command builds it."""
    from pkilint import pkix
    from pkilint.pkix import crl, extension, name

    return crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([]),
            crl.create_extensions_validator_container([]),
        ],
    )


def lint_crl(der: bytes) -> None:
    """Lint the DER CRL ``der`` (its signature is not looked at); raise :class:`LintFailed` naming every
    ERROR or FATAL."""
    from pkilint import loader

    document = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl-lint-copy")
    with _lint_lock:
        results = _crl_validator().validate(document.root)
    blocking = [
        f"{description.finding.severity.name} {description.finding.code}"
        for result in results
        for description in result.finding_descriptions
        if description.finding.severity.name in ("FATAL", "ERROR")
    ]
    if blocking:
        raise LintFailed("the CRL was not signed: pkilint found " + "; ".join(blocking))


def warm_up(kinds: tuple[LintKind, ...] = tuple(LintKind)) -> None:
    """Build the validators now (about 280 ms each) instead of on the first issuance."""
    with _lint_lock:
        for kind in kinds:
            _validator(kind)
            _finding_filters(kind)
