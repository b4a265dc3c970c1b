"""Certificate profiles as data: who gets which subject and which extensions.

Implements STANDARDS.md: Decree 68/2024 (three subscriber classes, validity), RFC 5280 and ETSI EN 319 412-1/2/3
(subject attribute types, organizationIdentifier and serialNumber semantics, NCP/NCP+ policies), and the
Vietnamese conventions read by local software (UID=CCCD:/MST:/MNS:). Requests are validated on construction
with messages an RA officer can act on; builders turn a valid request into `cryptography` objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ca.errors import InvalidRequest
from ca.identifiers import BudgetCode, CitizenId, Email, TaxCode, Text, check_visible_text

__all__ = [
    "CertificateKind",
    "DeviceRequest",
    "IndividualRequest",
    "OrganisationRequest",
    "ProfileOptions",
    "SubscriberRequest",
    "add_years",
    "parse_request",
]

NCP = "0.4.0.2042.1.1"
NCP_PLUS = "0.4.0.2042.1.2"
ANY_POLICY = "2.5.29.32.0"
MAX_NEW_YEARS = 5
MAX_RENEWAL_YEARS = 3
DEFAULT_RENEWAL_WINDOW_DAYS = 90  # a certificate is renewed in its last 90 days (ca.renewal)
# 1 million revoked over 128 shards: about 8,000 entries (400 KB) a shard, small enough for a PAdES-LT DSS
DEFAULT_CRL_SHARDS = 128


class CertificateKind(StrEnum):
    """Every kind of certificate govsign signs; the first three are the Decree 68 subscriber classes."""

    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"
    DEVICE = "device"
    ROOT_CA = "root-ca"
    ISSUING_CA = "issuing-ca"
    OCSP_SIGNER = "ocsp-signer"
    TSA = "tsa"

    @property
    def is_subscriber(self) -> bool:
        return self in (CertificateKind.INDIVIDUAL, CertificateKind.ORGANISATION, CertificateKind.DEVICE)


# -- request validation --------------------------------------------------------------------------------


class _Request(BaseModel):
    """Fields every Decree 68 request carries: who asked, in which written request."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    requesting_agency: Text
    request_ref: Text
    validity_days: int | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _visible(cls, value: object) -> object:
        """Every text field, before whitespace is stripped or collapsed: nothing hidden reaches a subject DN."""
        return check_visible_text(value) if isinstance(value, str) else value


class IndividualRequest(_Request):
    """An official's signing certificate."""

    full_name: Text
    surname: Text | None = None
    given_name: Text | None = None
    personal_id: CitizenId
    email: Email
    organisation: Text
    unit: Text | None = None
    province: Text

    def name_parts(self) -> tuple[str, str]:
        """(surname, given name); by default the first word is the surname, as in Vietnamese names."""
        first, _, rest = self.full_name.partition(" ")
        return self.surname or first, self.given_name or rest or first


class OrganisationRequest(_Request):
    """An agency's seal certificate, held by its clerk."""

    name: Text
    parent: Text | None = None
    tax_code: TaxCode
    budget_code: BudgetCode | None = None
    province: Text
    email: Email


class DeviceRequest(_Request):
    """A device, service or software certificate."""

    name: Text
    version: Text
    organisation: Text
    province: Text


SubscriberRequest = IndividualRequest | OrganisationRequest | DeviceRequest
_REQUEST_MODELS: dict[CertificateKind, type[_Request]] = {
    CertificateKind.INDIVIDUAL: IndividualRequest,
    CertificateKind.ORGANISATION: OrganisationRequest,
    CertificateKind.DEVICE: DeviceRequest,
}
_FIELD_HINTS = {
    "request_ref": "the reference of the agency's written request is required (Decree 68/2024)",
    "requesting_agency": "the directly managing agency that requested the certificate is required",
}


def parse_request(kind: str, data: Any) -> SubscriberRequest:
    """Validate request data for the subscriber profile ``kind``; raise InvalidRequest naming each problem."""
    try:
        profile = CertificateKind(kind)
    except ValueError:
        raise InvalidRequest(f"unknown profile {kind!r}; choose individual, organisation or device") from None
    model = _REQUEST_MODELS.get(profile)
    if model is None:
        raise InvalidRequest(f"profile {kind!r} is not issued on request")
    if not isinstance(data, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        request = model.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest("; ".join(_describe(e) for e in error.errors())) from None
    assert isinstance(request, IndividualRequest | OrganisationRequest | DeviceRequest)
    return request


def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "request"
    if error["type"] == "missing":
        return f"{field}: " + _FIELD_HINTS.get(field, "is required")
    if error["type"] == "extra_forbidden":
        return f"{field}: is not a field of this profile"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}"


# -- options and builders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileOptions:
    """Deployment choices from the ceremony file that shape every certificate."""

    public_url: str
    national_policy_oid: str
    citizen_id_in_serial_number: bool = True
    citizen_id_in_uid: bool = True
    renewal_window_days: int = DEFAULT_RENEWAL_WINDOW_DAYS
    crl_shards: int = DEFAULT_CRL_SHARDS  # 0: subscriber certificates name the full CRL only

    def ca_certificate_url(self, ca_name: str) -> str:
        return f"{self.public_url.rstrip('/')}/pki/ca/{ca_name}.crt"

    def crl_url(self, ca_name: str) -> str:
        return f"{self.public_url.rstrip('/')}/pki/crl/{ca_name}.crl"

    def crl_shard_url(self, ca_name: str, shard: int) -> str:
        return f"{self.public_url.rstrip('/')}/pki/crl/{ca_name}/{shard}.crl"

    def ocsp_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/pki/ocsp"


def _attribute(oid: ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    return x509.NameAttribute(oid, value)


def subject_name(request: SubscriberRequest, options: ProfileOptions) -> x509.Name:
    """The subject DN of a subscriber certificate, attribute types as ETSI EN 319 412-2/3 and RFC 5280 want."""
    attributes: list[x509.NameAttribute[str]] = [_attribute(NameOID.COUNTRY_NAME, "VN")]
    if isinstance(request, IndividualRequest):
        surname, given_name = request.name_parts()
        attributes += [
            _attribute(NameOID.STATE_OR_PROVINCE_NAME, request.province),
            _attribute(NameOID.ORGANIZATION_NAME, request.organisation),
        ]
        if request.unit:
            attributes.append(_attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, request.unit))
        attributes += [
            _attribute(NameOID.SURNAME, surname),
            _attribute(NameOID.GIVEN_NAME, given_name),
        ]
        if options.citizen_id_in_serial_number:
            attributes.append(_attribute(NameOID.SERIAL_NUMBER, f"IDCVN-{request.personal_id}"))
        if options.citizen_id_in_uid:
            attributes.append(_attribute(NameOID.USER_ID, f"CCCD:{request.personal_id}"))
        attributes.append(_attribute(NameOID.COMMON_NAME, request.full_name))
    elif isinstance(request, OrganisationRequest):
        attributes += [
            _attribute(NameOID.STATE_OR_PROVINCE_NAME, request.province),
            _attribute(NameOID.ORGANIZATION_NAME, request.name),
            _attribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRVN-{request.tax_code}"),
            _attribute(NameOID.USER_ID, f"MST:{request.tax_code}"),
        ]
        if request.budget_code:
            attributes.append(_attribute(NameOID.USER_ID, f"MNS:{request.budget_code}"))
        attributes.append(_attribute(NameOID.COMMON_NAME, request.name))
    else:
        attributes += [
            _attribute(NameOID.STATE_OR_PROVINCE_NAME, request.province),
            _attribute(NameOID.ORGANIZATION_NAME, request.organisation),
            _attribute(NameOID.COMMON_NAME, f"{request.name} {request.version}"),
        ]
    return x509.Name(attributes)


def ca_subject_name(common_name: str, organization: str, organization_identifier: str) -> x509.Name:
    """The subject of a CA certificate: C, O, organizationIdentifier (EN 319 412-2 §4.2.3.1), CN."""
    return x509.Name(
        [
            _attribute(NameOID.COUNTRY_NAME, "VN"),
            _attribute(NameOID.ORGANIZATION_NAME, organization),
            _attribute(NameOID.ORGANIZATION_IDENTIFIER, organization_identifier),
            _attribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class Extension:
    """One extension and its criticality, ready for CertificateBuilder.add_extension."""

    value: x509.ExtensionType
    critical: bool


def _key_usage(*, signing: bool = False, ca: bool = False, non_repudiation: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _policies(*oids: str) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(oid), None) for oid in oids])


def _aia(options: ProfileOptions, issuer_name: str, *, with_ocsp: bool) -> x509.AuthorityInformationAccess:
    descriptions = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(options.ca_certificate_url(issuer_name)),
        )
    ]
    if with_ocsp:
        descriptions.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(options.ocsp_url())
            )
        )
    return x509.AuthorityInformationAccess(descriptions)


def _cdp(options: ProfileOptions, issuer_name: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                [x509.UniformResourceIdentifier(options.crl_url(issuer_name))], None, None, None
            )
        ]
    )


def extensions(
    kind: CertificateKind,
    options: ProfileOptions,
    *,
    issuer_name: str | None,
    key_in_hsm: bool,
    email: str | None = None,
) -> Sequence[Extension]:
    """The extensions of ``kind`` except the key identifiers, which the issuance pipeline adds.

    ``issuer_name`` is the issuing CA's short name (None for the self-signed root); ``key_in_hsm`` selects
    NCP+ (key generated in our HSM) or NCP (key brought as a CSR) for subscriber certificates.
    """
    found: list[Extension] = []
    if kind is CertificateKind.ROOT_CA:
        return [
            Extension(x509.BasicConstraints(ca=True, path_length=None), True),
            Extension(_key_usage(ca=True), True),
        ]
    assert issuer_name is not None, "only the root is self-issued"
    if kind is CertificateKind.ISSUING_CA:
        return [
            Extension(x509.BasicConstraints(ca=True, path_length=0), True),
            Extension(_key_usage(ca=True), True),
            Extension(_policies(ANY_POLICY), False),
            Extension(_aia(options, issuer_name, with_ocsp=False), False),
            Extension(_cdp(options, issuer_name), False),
        ]
    if kind is CertificateKind.OCSP_SIGNER:
        return [
            Extension(_key_usage(signing=True), True),
            Extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
            Extension(x509.OCSPNoCheck(), False),
            Extension(_policies(options.national_policy_oid), False),
            Extension(_aia(options, issuer_name, with_ocsp=False), False),
        ]
    if kind is CertificateKind.TSA:
        return [
            Extension(_key_usage(signing=True), True),
            Extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
            Extension(_policies(options.national_policy_oid), False),
            Extension(_aia(options, issuer_name, with_ocsp=True), False),
            Extension(_cdp(options, issuer_name), False),
        ]
    found.append(Extension(_key_usage(signing=True, non_repudiation=True), True))
    found.append(Extension(_policies(options.national_policy_oid, NCP_PLUS if key_in_hsm else NCP), False))
    if email:
        found.append(Extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), False))
    found.append(Extension(_aia(options, issuer_name, with_ocsp=True), False))
    found.append(Extension(_cdp(options, issuer_name), False))
    return found


def subscriber_email(request: SubscriberRequest) -> str | None:
    return request.email if isinstance(request, IndividualRequest | OrganisationRequest) else None


def add_years(moment: dt.datetime, years: int) -> dt.datetime:
    """``moment`` plus whole calendar years (29 February becomes 28 February in a common year)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def subscriber_not_after(
    request: SubscriberRequest, not_before: dt.datetime, issuer_not_after: dt.datetime
) -> dt.datetime:
    """notAfter of a new subscriber certificate: the requested days or 5 years, never past the issuer.

    Asking for more than 5 years, or for more than the issuer has left, is refused rather than shortened
    in silence: the written request said what it wanted.
    """
    limit = add_years(not_before, MAX_NEW_YEARS)
    if request.validity_days is None:
        return min(limit, issuer_not_after)
    if request.validity_days < 1:
        raise InvalidRequest("validity_days: must be at least 1")
    wanted = not_before + dt.timedelta(days=request.validity_days)
    if wanted > limit:
        raise InvalidRequest(
            f"validity_days: {request.validity_days} days is beyond the 5 years Decree 68/2024 allows "
            f"for a new certificate (at most {(limit - not_before).days} days from today)"
        )
    if wanted > issuer_not_after:
        raise InvalidRequest(
            f"validity_days: the certificate would outlive its issuing CA, which expires on "
            f"{issuer_not_after:%Y-%m-%d}"
        )
    return wanted
