"""Rolling a service key over: a new key and certificate take over; the old ones stay valid for what they
signed until they expire (issue 14, "Rollover").

* ``tsa``: a new TSA key pair in the service token and its certificate, for as long as the current one
  was issued for. Every process's time-stamping unit takes the newest valid TSA certificate within a minute
  (``ca.tsa.SIGNER_RELOAD``); tokens stamped by the old key keep validating with the old certificate, which
  the validator finds in the token itself.
* ``seal``: the service's own seal (it signs the validation reports) gets a new key pair and a certificate
  for the same organisation; the setting that names it moves to the new serial. The old certificate is not
  revoked: reports sealed with it stay valid.
* ``issuing``: a ceremony act, with the root token (:func:`roll_over_issuing_ca`). A new issuing CA key in
  the service token, its certificate linted, then signed by the root; it gets a name of its own (the
  ceremony file's ``[issuing]`` name with its generation, ``govsign-ca-2``), so its certificate at
  /pki/ca/{name}.crt, its CRLs at /pki/crl/{name}.crl and /pki/crl/{name}/{shard}.crl, and every CDP and AIA
  URL in the certificates it issues differ from the old CA's. It issues every new certificate from then
  on: every process reads the hierarchy again within a minute (ca.hierarchy), a new process at once. The
  ceremony also issues the new CA's delegated OCSP signer and publishes its first CRLs. The old CA stays
  for status and validation until its last certificate expires: its CRLs are published and its OCSP
  signer renewed as before (``Authority.serving_issuers``), the responder answers for both by the CertID's
  issuer hashes, and every certificate's chain is its own issuer's.

Each rollover is an issuance, so it is audited as one (``certificate.issue``, request reference
``ROLLOVER``; ``ca.create`` for a CA), plus a ``ca.rollover`` entry naming the old and the new certificate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from sqlalchemy.orm import Session

from ca import audit
from ca.authority import Authority, CaKey, ca_key, newest_service_key
from ca.ceremony import CaSection, create_ca
from ca.crl import publish_crl
from ca.crl_shards import publish_due_shards
from ca.errors import ConfigurationError, InvalidRequest, StateConflict
from ca.hsm import KeyAlgorithm, Token
from ca.issuance import GenerateServiceKey, IssuedCertificate, complete_issuance, prepare_issuance
from ca.lint import LintFinding
from ca.orders import CertificateOrder, service_order, subscriber_order
from ca.profiles import CertificateKind, parse_request
from ca.revocation import find_certificate
from ca.signing_keys import SERVICE_SEAL_SETTING
from ca.store import CaRecord, CaSetting, utc_now

__all__ = ["IssuingCaRollover", "RolledKey", "next_issuing_section", "roll_over", "roll_over_issuing_ca"]


class RolledKey(StrEnum):
    TSA = "tsa"
    SEAL = "seal"
    ISSUING = "issuing"


def roll_over(authority: Authority, which: RolledKey, *, actor: str) -> tuple[str, IssuedCertificate]:
    """A new key and certificate for the TSA or the seal; (the old certificate's serial, the new one)."""
    if which is RolledKey.ISSUING:
        raise InvalidRequest("the issuing CA rolls over only with the root token: roll_over_issuing_ca")
    old_serial, issued = _tsa(authority, actor) if which is RolledKey.TSA else _seal(authority, actor)
    with authority.database.transaction() as session:
        if which is RolledKey.SEAL:
            setting = session.get(CaSetting, SERVICE_SEAL_SETTING)
            assert setting is not None  # _seal refused a deployment without one
            setting.value = issued.serial_hex
        _audit_rollover(session, authority, which, actor, {"old": old_serial, "new": issued.serial_hex})
    return old_serial, issued


def _audit_rollover(
    session: Session, authority: Authority, which: RolledKey, actor: str, details: dict[str, str]
) -> None:
    event = audit.AuditEvent(
        actor=actor, action="ca.rollover", object=f"service:{which.value}", details=details
    )
    audit.append(session, authority.token, event)


@dataclass(frozen=True)
class IssuingCaRollover:
    """What an issuing CA's rollover made: the new CA (the old one stays), its OCSP signer, lint findings."""

    old: CaKey
    new: CaKey
    ocsp_signer: IssuedCertificate
    findings: list[LintFinding]


def next_issuing_section(
    authority: Authority, ceremony: CaSection, *, name: str | None = None, common_name: str | None = None
) -> CaSection:
    """The ceremony file's ``[issuing]`` section for the next generation: key type, organisation and
    validity as the file says now; name and common name given, or the file's with the generation number
    (``govsign-ca-2``, ``... G2``): a CA's name is its URLs', so no two generations share one."""
    generation = len(authority.issuing_cas()) + 1
    values = {
        **ceremony.model_dump(),
        "name": name or f"{ceremony.name}-{generation}",
        "common_name": common_name or f"{ceremony.common_name} G{generation}",
    }
    return CaSection.model_validate(values)


def roll_over_issuing_ca(
    authority: Authority, root_token: Token, section: CaSection, *, actor: str
) -> IssuingCaRollover:
    """A new issuing CA under the same root (its key in ``root_token``), which issues from now on; the old
    one keeps signing its own certificates' CRLs and answering OCSP for them (see the module docstring).

    Raises StateConflict when ``section`` names an existing CA, LintFailed when pkilint refuses the new
    CA certificate (nothing is signed then), HsmError when the root token does not hold the root key.
    """
    if authority.ca_certificate(section.name) is not None:  # before any key is made
        raise StateConflict(f"a CA named {section.name} exists already: give the new one another name")
    old = authority.issuing_ca()
    root = _root_of(authority, old, root_token)
    new, findings = create_ca(
        authority.database,
        section,
        CertificateKind.ISSUING_CA,
        authority.token,
        authority.options,
        root,
        authority.token,
        actor=actor,
    )
    authority.forget_hierarchy()  # this process issues from the new CA at once
    current = newest_service_key(authority, "ocsp-signer", issuer_id=old.id)
    old_signer = x509.load_der_x509_certificate(current.certificate.dump())
    common_name = str(old_signer.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)
    lifetime = old_signer.not_valid_after_utc - old_signer.not_valid_before_utc
    order = service_order(
        authority, CertificateKind.OCSP_SIGNER, common_name, utc_now() + lifetime, new, request_ref="ROLLOVER"
    )
    signer = _issue(authority, order, current.algorithm, actor)
    # The new CA's CDP URLs must resolve before its first certificate is out
    publish_crl(authority.database, new, audit_token=authority.token, actor=actor)
    publish_due_shards(authority, actor=actor)
    with authority.database.transaction() as session:
        details = {
            "old": format(old.certificate.serial_number, "x"),
            "new": format(new.certificate.serial_number, "x"),
            "old_ca": old.name,
            "new_ca": new.name,
            "ocsp_signer": signer.serial_hex,
        }
        _audit_rollover(session, authority, RolledKey.ISSUING, actor, details)
    return IssuingCaRollover(old, new, signer, findings)


def _root_of(authority: Authority, issuing: CaKey, root_token: Token) -> CaKey:
    """The root that signed ``issuing``, its key in ``root_token`` (the ceremony's token)."""
    with authority.database.reading() as session:
        record = session.get(CaRecord, issuing.id)
        assert record is not None and record.parent_id is not None, "an issuing CA has a parent"
        root = session.get(CaRecord, record.parent_id)
        assert root is not None
        return ca_key(root, root_token)


def _tsa(authority: Authority, actor: str) -> tuple[str, IssuedCertificate]:
    current = newest_service_key(authority, "tsa")
    old = x509.load_der_x509_certificate(current.certificate.dump())
    common_name = str(old.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)
    lifetime = old.not_valid_after_utc - old.not_valid_before_utc
    issuer = authority.issuing_ca()
    order = service_order(
        authority, CertificateKind.TSA, common_name, utc_now() + lifetime, issuer, request_ref="ROLLOVER"
    )
    return format(old.serial_number, "x"), _issue(authority, order, current.algorithm, actor)


def _seal(authority: Authority, actor: str) -> tuple[str, IssuedCertificate]:
    with authority.database.transaction() as session:
        setting = session.get(CaSetting, SERVICE_SEAL_SETTING)
        if setting is None or not setting.value:
            raise ConfigurationError(
                "this deployment has no service seal to roll over (made before the ceremony named one)"
            )
        old = find_certificate(session, setting.value)
        serial, request_json, der = old.serial, old.request_json, old.der
    request = parse_request(
        CertificateKind.ORGANISATION.value, {**json.loads(request_json), "request_ref": "ROLLOVER"}
    )
    order = subscriber_order(authority, CertificateKind.ORGANISATION, request, key_in_hsm=True)
    algorithm = KeyAlgorithm.of(x509.load_der_x509_certificate(der).public_key())
    return serial, _issue(authority, order, algorithm, actor)


def _issue(
    authority: Authority, order: CertificateOrder, algorithm: KeyAlgorithm, actor: str
) -> IssuedCertificate:
    prepared = prepare_issuance(authority, order, GenerateServiceKey(algorithm), actor=actor)
    return complete_issuance(authority, prepared, actor=actor)
