"""The key ceremony: create the CA hierarchy described by ``hsm_config/ceremony.toml``.

The root CA's key is generated in its own token, whose PIN only ceremony commands hold; the issuing CA, the
OCSP signer, the TSA and the service seal have their keys in the service token. Every certificate, the root's
included, is linted before its key signs it. The ceremony refuses to run where a hierarchy already exists.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Annotated

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from ca import audit
from ca.authority import OPTIONS_SETTING, Authority, CaKey, ca_key
from ca.crl import ROOT_CRL_VALIDITY, publish_crl
from ca.crl_shards import publish_due_shards
from ca.errors import ConfigurationError, StateConflict
from ca.hsm import KeyAlgorithm, Token
from ca.issuance import (
    CertificateOrder,
    GenerateServiceKey,
    IssuedCertificate,
    assemble_certificate,
    build_tbs,
    complete_issuance,
    prepare_issuance,
    service_order,
    sign_tbs,
    subscriber_order,
)
from ca.lint import LintFinding, LintKind, lint_certificate
from ca.ocsp import OcspResponder
from ca.ocsp_refresh import OcspRefresher
from ca.profiles import (
    DEFAULT_CRL_SHARDS,
    DEFAULT_RENEWAL_WINDOW_DAYS,
    CertificateKind,
    OrganisationRequest,
    ProfileOptions,
    add_years,
    ca_subject_name,
    extensions,
)
from ca.signing_keys import SERVICE_SEAL_SETTING
from ca.store import CaRecord, CaSetting, Database, utc_now
from ca.tsa import DEFAULT_TSA_POLICY, TSA_POLICY_SETTING

__all__ = ["CaSection", "CeremonyConfig", "CeremonyResult", "create_ca", "load_ceremony", "run_ceremony"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicySection(_Section):
    national_policy_oid: str
    citizen_id_in_serial_number: bool = True
    citizen_id_in_uid: bool = True
    # A certificate's last N days, in which it may be renewed (once). More than a year would let a
    # certificate be renewed soon after issuance, stacking years (ca.renewal).
    renewal_window_days: Annotated[int, Field(ge=1, le=365)] = DEFAULT_RENEWAL_WINDOW_DAYS
    # Subscriber certificates name one of N small CRLs (their serial modulo N) in their CDP; 0: the full CRL.
    crl_shards: Annotated[int, Field(ge=0, le=4096)] = DEFAULT_CRL_SHARDS


Name64 = Annotated[str, Field(min_length=1, max_length=64)]


class CaSection(_Section):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    common_name: Name64
    organization: Name64
    organization_identifier: Name64
    key_type: KeyAlgorithm
    validity_years: int
    token_label: str | None = None


class ServiceCertificateSection(_Section):
    common_name: Name64
    key_type: KeyAlgorithm
    validity_days: int | None = None
    validity_years: int | None = None
    policy_oid: str | None = None


class SealSection(_Section):
    name: str
    tax_code: str
    province: str
    email: str
    requesting_agency: str
    request_ref: str
    key_type: KeyAlgorithm


class CeremonyConfig(_Section):
    """The parsed ceremony file."""

    policy: PolicySection
    root: CaSection
    issuing: CaSection
    ocsp_signer: ServiceCertificateSection
    tsa: ServiceCertificateSection
    service_seal: SealSection


def load_ceremony(path: Path) -> CeremonyConfig:
    """Read and validate the ceremony file; every problem is reported with its TOML path."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return CeremonyConfig.model_validate(data)
    except FileNotFoundError:
        raise ConfigurationError(f"ceremony file {path} not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"ceremony file {path} is not valid TOML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"ceremony file {path}: {problems}") from None


class CeremonyResult(BaseModel):
    """What the ceremony made: CA names and the service certificates' serials, with lint findings."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    root: str
    issuing: str
    service_certificates: dict[str, str]
    findings: dict[str, list[LintFinding]]


def create_ca(
    database: Database,
    section: CaSection,
    kind: CertificateKind,
    token: Token,
    options: ProfileOptions,
    parent: CaKey | None,
    audit_token: Token,
    *,
    actor: str = "ceremony",
) -> tuple[CaKey, list[LintFinding]]:
    """Generate the CA's key in ``token`` and have ``parent`` (or the key itself, for the root) sign it
    (at the ceremony, and for an issuing CA's rollover, ca.rollover)."""
    pair = token.generate_key_pair(section.key_type, f"{kind.value}-{section.name}")
    subject = ca_subject_name(section.common_name, section.organization, section.organization_identifier)
    now = utc_now().replace(microsecond=0)
    not_after = add_years(now, section.validity_years)
    if parent is not None:
        not_after = min(not_after, parent.certificate.not_valid_after_utc)
    serial = x509.random_serial_number()
    lint_copy, tbs = build_tbs(
        subject=subject,
        public_key=pair.public_key,
        serial=serial,
        not_before=now,
        not_after=not_after,
        extensions=extensions(kind, options, issuer_name=parent.name if parent else None, key_in_hsm=True),
        issuer_name=parent.certificate.subject if parent else subject,
        issuer_key_identifier=parent.subject_key_identifier if parent else None,
        issuer_algorithm=parent.algorithm if parent else section.key_type,
    )
    if parent is None:
        # pkilint recognises a root only by its self-signature, which the throwaway-signed copy cannot
        # carry; so the root alone is linted once signed, and stored or published only if it passes.
        certificate = assemble_certificate(
            tbs, token.sign(pair.key_id, tbs, section.key_type.default_signature)
        )
        certificate.verify_directly_issued_by(certificate)
        found = lint_certificate(certificate.public_bytes(serialization.Encoding.DER), LintKind.PKIX)
    else:
        found = lint_certificate(lint_copy, LintKind.PKIX)
        certificate = sign_tbs(parent, tbs, parent.certificate)
    with database.transaction() as session:
        record = CaRecord(
            name=section.name,
            kind=kind.value,
            token_label=token.label,
            key_id=pair.key_id.hex(),
            key_type=section.key_type.value,
            subject=subject.rfc4514_string(),
            serial=format(serial, "x"),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            der=certificate.public_bytes(serialization.Encoding.DER),
            parent_id=parent.id if parent else None,
        )
        session.add(record)
        session.flush()
        audit.append(
            session,
            audit_token,
            audit.AuditEvent(
                actor=actor,
                action="ca.create",
                object=f"ca:{section.name}",
                details={"kind": kind.value, "subject": record.subject, "not_after": not_after.isoformat()},
            ),
        )
    return ca_key(record, token), found


def _service_order(
    authority: Authority, kind: CertificateKind, section: ServiceCertificateSection, issuer: CaKey
) -> CertificateOrder:
    now = utc_now().replace(microsecond=0)
    if section.validity_days is not None:
        not_after = now + dt.timedelta(days=section.validity_days)
    else:
        not_after = add_years(now, section.validity_years or 1)
    return service_order(authority, kind, section.common_name, not_after, issuer, request_ref="CEREMONY")


def _issue(authority: Authority, order: CertificateOrder, algorithm: KeyAlgorithm) -> IssuedCertificate:
    prepared = prepare_issuance(authority, order, GenerateServiceKey(algorithm), actor="ceremony")
    return complete_issuance(authority, prepared, actor="ceremony")


def run_ceremony(
    database: Database, root_token: Token, service_token: Token, config: CeremonyConfig, public_url: str
) -> CeremonyResult:
    """Create root, issuing CA, OCSP signer, TSA and service seal, publish the first CRLs and pre-sign OCSP
    responses; refuse if a hierarchy exists."""
    with database.transaction() as session:
        if session.execute(select(CaRecord.id)).first() is not None:
            raise StateConflict(
                "a CA hierarchy already exists in this database; init refuses to overwrite it"
            )
        if session.get(CaSetting, OPTIONS_SETTING) is not None:
            raise StateConflict(
                "an earlier init stopped half-way in this database; start again with an empty data folder"
            )
        options = config.policy.model_dump()
        session.add(CaSetting(key=OPTIONS_SETTING, value=json.dumps(options)))
        audit.initialise_head(session, service_token)
    profile_options = ProfileOptions(public_url=public_url, **options)
    root, root_findings = create_ca(
        database, config.root, CertificateKind.ROOT_CA, root_token, profile_options, None, service_token
    )
    issuing, issuing_findings = create_ca(
        database,
        config.issuing,
        CertificateKind.ISSUING_CA,
        service_token,
        profile_options,
        root,
        service_token,
    )
    authority = Authority(database, service_token, profile_options)
    ocsp = _issue(
        authority,
        _service_order(authority, CertificateKind.OCSP_SIGNER, config.ocsp_signer, issuing),
        config.ocsp_signer.key_type,
    )
    tsa = _issue(
        authority, _service_order(authority, CertificateKind.TSA, config.tsa, issuing), config.tsa.key_type
    )
    seal_section = config.service_seal
    seal_request = OrganisationRequest(
        name=seal_section.name,
        tax_code=seal_section.tax_code,
        province=seal_section.province,
        email=seal_section.email,
        requesting_agency=seal_section.requesting_agency,
        request_ref=seal_section.request_ref,
    )
    seal = _issue(
        authority,
        subscriber_order(authority, CertificateKind.ORGANISATION, seal_request, key_in_hsm=True),
        seal_section.key_type,
    )
    with database.transaction() as session:
        session.add(CaSetting(key=TSA_POLICY_SETTING, value=config.tsa.policy_oid or DEFAULT_TSA_POLICY))
        session.add(CaSetting(key=SERVICE_SEAL_SETTING, value=seal.serial_hex))
    # The CDP of every certificate must resolve from the first minute, and OCSP must answer for all of them.
    publish_crl(database, root, audit_token=service_token, validity=ROOT_CRL_VALIDITY, actor="ceremony")
    publish_crl(database, issuing, audit_token=service_token, actor="ceremony")
    publish_due_shards(authority, actor="ceremony")
    OcspRefresher(OcspResponder(authority)).refresh_due()
    return CeremonyResult(
        root=root.name,
        issuing=issuing.name,
        service_certificates={
            "ocsp-signer": ocsp.serial_hex,
            "tsa": tsa.serial_hex,
            "service-seal": seal.serial_hex,
        },
        findings={
            "root-ca": root_findings,
            "issuing-ca": issuing_findings,
            "ocsp-signer": ocsp.findings,
            "tsa": tsa.findings,
            "service-seal": seal.findings,
        },
    )
