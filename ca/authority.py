"""The running CA: its database, its service token, its deployment options and the issuing CA's key.

The faces build one :class:`Authority` per process with :func:`open_authority` and pass it to the domain
functions (issuance, renewal, audit); nothing in `ca` reads environment variables itself.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from sqlalchemy import select

from ca.activation import ActivationModule
from ca.errors import ConfigurationError
from ca.hsm import KeyAlgorithm, Token
from ca.hsm.vault import KeyVault
from ca.profiles import ProfileOptions
from ca.store import CaRecord, CaSetting, CertificateRecord, Database, utc_now

__all__ = ["Authority", "CaKey", "ServiceKey", "newest_service_key", "open_authority"]

OPTIONS_SETTING = "profile_options"


@dataclass(frozen=True)
class CaKey:
    """A CA as a signer: its record id, short name, certificate and where its private key lives."""

    id: int
    name: str
    certificate: x509.Certificate
    token: Token
    key_id: bytes
    algorithm: KeyAlgorithm

    @property
    def subject_key_identifier(self) -> bytes:
        ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return ski.value.digest


@dataclass
class Authority:
    """What the CA's domain functions need at run time."""

    database: Database
    token: Token
    options: ProfileOptions
    activation: ActivationModule | None = field(default=None, repr=False)
    _issuing: CaKey | None = field(default=None, repr=False)
    _chain: tuple[x509.Certificate, ...] | None = field(default=None, repr=False)

    def activation_module(self) -> ActivationModule:
        """The signature activation module; subscriber keys neither come to be nor sign without it."""
        if self.activation is None:
            raise ConfigurationError(
                "this deployment has no keys token for subscriber keys: run `govsign db upgrade`"
            )
        return self.activation

    def issuing_ca(self) -> CaKey:
        """The issuing CA whose key is in the service token (cached for the process)."""
        if self._issuing is None:
            with self.database.reading() as session:
                record = (
                    session.execute(
                        select(CaRecord).where(CaRecord.kind == "issuing-ca").order_by(CaRecord.id.desc())
                    )
                    .scalars()
                    .first()
                )
            if record is None:
                raise ConfigurationError("no issuing CA in the database: run `govsign init` first")
            self._issuing = ca_key(record, self.token)
        return self._issuing

    def ca_certificate(self, name: str) -> bytes | None:
        """DER of the CA certificate published as /pki/ca/{name}.crt, if there is such a CA."""
        with self.database.reading() as session:
            record = session.execute(select(CaRecord).where(CaRecord.name == name)).scalar_one_or_none()
            return None if record is None else record.der

    def chain(self) -> list[x509.Certificate]:
        """The issuing CA's certificate followed by its root's (cached with the issuing CA: a CA record
        never changes once written, and every signature's chain needs it)."""
        if self._chain is None:
            with self.database.reading() as session:
                records = session.execute(select(CaRecord).order_by(CaRecord.id)).scalars().all()
            by_id = {record.id: record for record in records}
            issuing = self.issuing_ca()
            chain = [issuing.certificate]
            parent_id = by_id[issuing.id].parent_id
            while parent_id is not None:
                chain.append(x509.load_der_x509_certificate(by_id[parent_id].der))
                parent_id = by_id[parent_id].parent_id
            self._chain = tuple(chain)
        return list(self._chain)


@dataclass(frozen=True)
class ServiceKey:
    """One of the CA's service certificates (OCSP signer, TSA) and its key in the service token."""

    certificate: asn1_x509.Certificate
    key_id: bytes
    algorithm: KeyAlgorithm
    not_after: dt.datetime


def newest_service_key(authority: Authority, profile: str) -> ServiceKey:
    """The valid certificate of ``profile`` that expires last (a renewed one takes over at once)."""
    now = utc_now()
    with authority.database.transaction() as session:
        record = (
            session.execute(
                select(CertificateRecord)
                .where(
                    CertificateRecord.profile == profile,
                    CertificateRecord.status == "valid",
                    CertificateRecord.not_after > now,
                )
                .order_by(CertificateRecord.not_after.desc())
            )
            .scalars()
            .first()
        )
    if record is None or record.key_id is None:
        raise ConfigurationError(f"no valid {profile} certificate with a key in the HSM: run the ceremony")
    return ServiceKey(
        certificate=asn1_x509.Certificate.load(record.der),
        key_id=bytes.fromhex(record.key_id),
        algorithm=KeyAlgorithm.of(x509.load_der_x509_certificate(record.der).public_key()),
        not_after=record.not_after,
    )


def ca_key(record: CaRecord, token: Token) -> CaKey:
    return CaKey(
        id=record.id,
        name=record.name,
        certificate=x509.load_der_x509_certificate(record.der),
        token=token,
        key_id=bytes.fromhex(record.key_id),
        algorithm=KeyAlgorithm(record.key_type),
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
