"""The running CA: its database, its service token, its deployment options and its CA hierarchy.

The faces build one :class:`Authority` per process with :func:`open_authority` and pass it to the domain
functions (issuance, renewal, audit); nothing in `ca` reads environment variables itself. The hierarchy
(ca.hierarchy) may hold several generations of the issuing CA after a rollover: the newest issues, every
certificate's chain is its own issuer's, and the older ones are served until their certificates expire.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from sqlalchemy import select

from ca.activation import ActivationModule
from ca.errors import ConfigurationError, NotFound
from ca.hierarchy import (
    HIERARCHY_RELOAD,
    CaKey,
    Hierarchy,
    ca_key,
    has_unexpired_certificates,
    load_hierarchy,
)
from ca.hsm import KeyAlgorithm, Token
from ca.hsm.vault import KeyVault
from ca.profiles import ProfileOptions
from ca.store import CaRecord, CaSetting, CertificateRecord, Database, utc_now

__all__ = ["Authority", "CaKey", "ServiceKey", "ca_key", "newest_service_key", "open_authority"]

OPTIONS_SETTING = "profile_options"


@dataclass
class Authority:
    """What the CA's domain functions need at run time."""

    database: Database
    token: Token
    options: ProfileOptions
    activation: ActivationModule | None = field(default=None, repr=False)
    _hierarchy: Hierarchy | None = field(default=None, repr=False)

    def activation_module(self) -> ActivationModule:
        """The signature activation module; subscriber keys neither come to be nor sign without it."""
        if self.activation is None:
            raise ConfigurationError(
                "this deployment has no keys token for subscriber keys: run `govsign db upgrade`"
            )
        return self.activation

    def hierarchy(self) -> Hierarchy:
        """The CA hierarchy, read again once it is ``HIERARCHY_RELOAD`` old (ca.hierarchy)."""
        known = self._hierarchy
        if known is None or utc_now() >= known.loaded_at + HIERARCHY_RELOAD:
            known = self._hierarchy = load_hierarchy(self.database, self.token)
        return known

    def forget_hierarchy(self) -> None:
        """Read the hierarchy again on next use (after a rollover made in this process)."""
        self._hierarchy = None

    def issuing_ca(self) -> CaKey:
        """The issuing CA that issues now: the newest one (its key is in the service token)."""
        return self.hierarchy().newest_issuing()

    def issuing_cas(self) -> tuple[CaKey, ...]:
        """Every issuing CA, oldest first: the older ones still sign their certificates' CRLs."""
        return self.hierarchy().issuing

    def issuing_ca_by_id(self, ca_id: int) -> CaKey:
        """The issuing CA of record ``ca_id`` (a certificate's ``issuer_id``)."""
        found = self.hierarchy().issuing_by_id(ca_id)
        if found is None:
            self.forget_hierarchy()  # made by another process since this one last looked
            found = self.hierarchy().issuing_by_id(ca_id)
        if found is None:
            raise NotFound(f"no issuing CA with id {ca_id}")
        return found

    def serving_issuers(self) -> list[CaKey]:
        """The issuing CAs whose CRLs, OCSP answers and OCSP signer are kept up: the one that issues now and
        every older one that has a certificate not yet expired (its status must be told until then)."""
        newest = self.issuing_ca()
        older = self.hierarchy().issuing[:-1]
        return [ca for ca in older if has_unexpired_certificates(self.database, ca.id)] + [newest]

    def ca_certificate(self, name: str) -> bytes | None:
        """DER of the CA certificate published as /pki/ca/{name}.crt, if there is such a CA."""
        with self.database.reading() as session:
            record = session.execute(select(CaRecord).where(CaRecord.name == name)).scalar_one_or_none()
            return None if record is None else record.der

    def chain(self) -> list[x509.Certificate]:
        """The certificate of the issuing CA that issues now, followed by its root's."""
        return self.hierarchy().chain_from(self.issuing_ca().id)

    def chain_of(self, certificate: x509.Certificate) -> list[x509.Certificate]:
        """The chain of one of our certificates, from its own issuer (any generation) up to the root.

        Raises NotFound for a certificate none of our CAs issued."""
        issuer = self.hierarchy().issuer_of(certificate)
        if issuer is None:
            self.forget_hierarchy()
            issuer = self.hierarchy().issuer_of(certificate)
        if issuer is None:
            raise NotFound(f"{certificate.issuer.rfc4514_string()} is none of this CA's issuers")
        return self.hierarchy().chain_from(issuer)

    def root_certificate(self) -> x509.Certificate:
        """The root of the issuing CA that issues now: the trust anchor of everything we issue."""
        return self.chain()[-1]

    def intermediate_certificates(self) -> list[x509.Certificate]:
        """Every issuing CA's certificate, oldest first (what a path from any of our certificates needs)."""
        return [ca.certificate for ca in self.hierarchy().issuing]


@dataclass(frozen=True)
class ServiceKey:
    """One of the CA's service certificates (OCSP signer, TSA) and its key in the service token."""

    certificate: asn1_x509.Certificate
    key_id: bytes
    algorithm: KeyAlgorithm
    not_after: dt.datetime


def newest_service_key(authority: Authority, profile: str, *, issuer_id: int | None = None) -> ServiceKey:
    """The valid certificate of ``profile`` (issued by CA ``issuer_id``, if given) that expires last: a
    renewed one takes over at once."""
    now = utc_now()
    query = select(CertificateRecord).where(
        CertificateRecord.profile == profile,
        CertificateRecord.status == "valid",
        CertificateRecord.not_after > now,
    )
    if issuer_id is not None:
        query = query.where(CertificateRecord.issuer_id == issuer_id)
    with authority.database.transaction() as session:
        record = session.execute(query.order_by(CertificateRecord.not_after.desc())).scalars().first()
    if record is None or record.key_id is None:
        raise ConfigurationError(f"no valid {profile} certificate with a key in the HSM: run the ceremony")
    return ServiceKey(
        certificate=asn1_x509.Certificate.load(record.der),
        key_id=bytes.fromhex(record.key_id),
        algorithm=KeyAlgorithm.of(x509.load_der_x509_certificate(record.der).public_key()),
        not_after=record.not_after,
    )


def open_authority(
    database: Database, token: Token, public_url: str, vault: KeyVault | None = None
) -> Authority:
    """The Authority of an initialised deployment; the options fixed at the ceremony come from the database.

    ``vault`` is the keys token of the signature activation module (subscriber keys live nowhere else).
    """
    with database.transaction() as session:
        stored = session.get(CaSetting, OPTIONS_SETTING)
    if stored is None:
        raise ConfigurationError("govsign is not initialised here: run `govsign init` first")
    values = json.loads(stored.value)
    activation = ActivationModule(database, vault, token) if vault is not None else None
    return Authority(database, token, ProfileOptions(public_url=public_url, **values), activation)
