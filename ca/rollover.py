"""Rolling a service key over: a new key and certificate take over; the old ones stay valid for what they
signed until they expire (issue 14, "Rollover").

* ``tsa``: a new TSA key pair in the service token and its certificate, for as long as the current one
  was issued for. Every process's time-stamping unit takes the newest valid TSA certificate within a minute
  (``ca.tsa.SIGNER_RELOAD``); tokens stamped by the old key keep validating with the old certificate, which
  the validator finds in the token itself.
* ``seal``: the service's own seal (it signs the validation reports) gets a new key pair and a certificate
  for the same organisation; the setting that names it moves to the new serial. The old certificate is not
  revoked: reports sealed with it stay valid.

The issuing CA's own rollover (a ceremony with the root token, OCSP and CRLs for two issuers) is not done
here yet. Each rollover is an issuance, so it is audited as one (``certificate.issue``, request reference
``ROLLOVER``), plus a ``ca.rollover`` entry naming the old and the new certificate.
"""

from __future__ import annotations

import json
from enum import StrEnum

from cryptography import x509

from ca import audit
from ca.authority import Authority, newest_service_key
from ca.errors import ConfigurationError
from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateServiceKey, IssuedCertificate, complete_issuance, prepare_issuance
from ca.orders import CertificateOrder, service_order, subscriber_order
from ca.profiles import CertificateKind, parse_request
from ca.revocation import find_certificate
from ca.signing_keys import SERVICE_SEAL_SETTING
from ca.store import CaSetting, utc_now

__all__ = ["RolledKey", "roll_over"]


class RolledKey(StrEnum):
    TSA = "tsa"
    SEAL = "seal"


def roll_over(authority: Authority, which: RolledKey, *, actor: str) -> tuple[str, IssuedCertificate]:
    """A new key and certificate for ``which``; (the old certificate's serial, the new one)."""
    old_serial, issued = _tsa(authority, actor) if which is RolledKey.TSA else _seal(authority, actor)
    with authority.database.transaction() as session:
        if which is RolledKey.SEAL:
            setting = session.get(CaSetting, SERVICE_SEAL_SETTING)
            assert setting is not None  # _seal refused a deployment without one
            setting.value = issued.serial_hex
        audit.append(
            session,
            authority.token,
            audit.AuditEvent(
                actor=actor,
                action="ca.rollover",
                object=f"service:{which.value}",
                details={"old": old_serial, "new": issued.serial_hex},
            ),
        )
    return old_serial, issued


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
