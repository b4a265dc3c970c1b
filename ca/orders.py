"""Orders: what the CA is asked to sign, before any key, serial or HSM is involved.

A subscriber order turns a validated Decree 68 request (ca.profiles) into subject, extensions and validity
for the issuing CA; a service order does the same for the CA's own OCSP signer and TSA. The issuance
pipeline (ca.issuance) takes an order and a key and does the rest.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from ca.authority import Authority, CaKey
from ca.crl_partition import CrlPartition, crl_partition
from ca.lint import LintKind
from ca.profiles import (
    CertificateKind,
    Extension,
    IndividualRequest,
    OrganisationRequest,
    SubscriberRequest,
    ca_subject_name,
    extensions,
    subject_name,
    subscriber_email,
    subscriber_not_after,
)
from ca.store import utc_now

__all__ = ["CertificateOrder", "service_order", "subscriber_order"]

_LINT_KINDS = {
    CertificateKind.INDIVIDUAL: LintKind.NATURAL_PERSON,
    CertificateKind.ORGANISATION: LintKind.LEGAL_PERSON,
}


@dataclass(frozen=True)
class CertificateOrder:
    """Everything about the certificate to be signed except its key and serial."""

    kind: CertificateKind
    subject: x509.Name
    extensions: Sequence[Extension]
    not_before: dt.datetime
    not_after: dt.datetime
    requesting_agency: str
    request_ref: str
    request_json: str
    email: str | None = None
    personal_id: str | None = None
    tax_code: str | None = None
    renewal_of_id: int | None = None
    crl_partition: CrlPartition | None = None  # None: the CDP names the issuer's full CRL
    # The CA whose URLs the extensions name, which must sign it (None: the one issuing at preparation);
    # a rollover between the order and its preparation must not have the new CA sign the old one's URLs.
    issuer: CaKey | None = None

    def extensions_for(self, serial: int) -> Sequence[Extension]:
        """The extensions of the certificate with serial ``serial``: its CDP names its CRL shard."""
        if self.crl_partition is None:
            return self.extensions
        return self.crl_partition.extensions_for(self.extensions, serial)

    def crl_shard(self, serial: int) -> int | None:
        """The shard whose CRL lists the certificate with serial ``serial`` (None: no CDP, or no shards)."""
        has_cdp = any(isinstance(e.value, x509.CRLDistributionPoints) for e in self.extensions)
        return self.crl_partition.shard_of(serial) if self.crl_partition and has_cdp else None

    @property
    def lint_kind(self) -> LintKind:
        return _LINT_KINDS.get(self.kind, LintKind.PKIX)

    @property
    def common_name(self) -> str:
        names = self.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.subject.rfc4514_string()


def _now() -> dt.datetime:
    return utc_now().replace(microsecond=0)


def subscriber_order(
    authority: Authority,
    kind: CertificateKind,
    request: SubscriberRequest,
    *,
    key_in_hsm: bool,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    renewal_of_id: int | None = None,
) -> CertificateOrder:
    """Turn a validated Decree 68 request into an order for the issuing CA."""
    issuer = authority.issuing_ca()
    start = not_before or _now()
    end = not_after or subscriber_not_after(request, start, issuer.certificate.not_valid_after_utc)
    email = subscriber_email(request)
    return CertificateOrder(
        kind=kind,
        subject=subject_name(request, authority.options),
        extensions=extensions(
            kind, authority.options, issuer_name=issuer.name, key_in_hsm=key_in_hsm, email=email
        ),
        not_before=start,
        not_after=end,
        requesting_agency=request.requesting_agency,
        request_ref=request.request_ref,
        request_json=json.dumps(request.model_dump(exclude_none=True), ensure_ascii=False, sort_keys=True),
        email=email,
        personal_id=request.personal_id if isinstance(request, IndividualRequest) else None,
        tax_code=request.tax_code if isinstance(request, OrganisationRequest) else None,
        renewal_of_id=renewal_of_id,
        crl_partition=crl_partition(authority.options, issuer.name),
        issuer=issuer,
    )


def service_order(
    authority: Authority,
    kind: CertificateKind,
    common_name: str,
    not_after: dt.datetime,
    issuer: CaKey,
    *,
    request_ref: str,
) -> CertificateOrder:
    """An order for one of the CA's own service certificates (OCSP signer, TSA), in the issuer's organisation."""
    issuer_subject = issuer.certificate.subject
    organization = str(issuer_subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value)
    identifier = str(issuer_subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0].value)
    return CertificateOrder(
        kind=kind,
        subject=ca_subject_name(common_name, organization, identifier),
        extensions=extensions(kind, authority.options, issuer_name=issuer.name, key_in_hsm=True),
        not_before=_now(),
        not_after=min(not_after, issuer.certificate.not_valid_after_utc),
        requesting_agency=organization,
        request_ref=request_ref,
        request_json=json.dumps({"service": kind.value, "common_name": common_name}),
        crl_partition=crl_partition(authority.options, issuer.name),
        issuer=issuer,
    )
