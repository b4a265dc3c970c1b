"""The CA hierarchy as one process knows it: every CA certificate we hold, the issuing CA that issues now,
and the chain of any of our certificates by its own issuer (issue 14, "Rollover").

An issuing CA that was rolled over (:mod:`ca.rollover`) stays in the hierarchy: its certificates keep their
chain, their OCSP answers and their CRLs for as long as they live, while the newest issuing CA issues every
new certificate. A process reads the hierarchy again every ``HIERARCHY_RELOAD``, so a rollover made by the
ceremony's process reaches every server within a minute (as a TSA rollover does), and at once when it meets
a certificate whose issuer it does not know yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select

from ca.errors import ConfigurationError
from ca.hsm import KeyAlgorithm, Token
from ca.store import CaRecord, CertificateRecord, Database, utc_now

__all__ = ["HIERARCHY_RELOAD", "CaKey", "Hierarchy", "ca_key", "has_unexpired_certificates", "load_hierarchy"]

HIERARCHY_RELOAD = dt.timedelta(minutes=1)
_ISSUING = "issuing-ca"


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


def ca_key(record: CaRecord, token: Token) -> CaKey:
    return CaKey(
        id=record.id,
        name=record.name,
        certificate=x509.load_der_x509_certificate(record.der),
        token=token,
        key_id=bytes.fromhex(record.key_id),
        algorithm=KeyAlgorithm(record.key_type),
    )


def _key_identifier(certificate: x509.Certificate, extension: type[x509.ExtensionType]) -> bytes | None:
    try:
        value = certificate.extensions.get_extension_for_class(extension).value
    except x509.ExtensionNotFound:
        return None
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest
    assert isinstance(value, x509.AuthorityKeyIdentifier)
    return value.key_identifier


@dataclass(frozen=True)
class Hierarchy:
    """Every CA of the database as read at ``loaded_at``; ``issuing`` oldest first, the last one issues."""

    certificates: Mapping[int, x509.Certificate]
    parents: Mapping[int, int | None]
    issuing: tuple[CaKey, ...]
    loaded_at: dt.datetime

    def newest_issuing(self) -> CaKey:
        if not self.issuing:
            raise ConfigurationError("no issuing CA in the database: run `govsign init` first")
        return self.issuing[-1]

    def issuing_by_id(self, ca_id: int) -> CaKey | None:
        return next((ca for ca in self.issuing if ca.id == ca_id), None)

    def issuer_of(self, certificate: x509.Certificate) -> int | None:
        """The id of the CA that issued ``certificate``: its subject is the certificate's issuer and, when
        the certificate names one, its key identifier the certificate's authority key identifier (two
        generations of a CA may share a name; they never share a key)."""
        wanted_key = _key_identifier(certificate, x509.AuthorityKeyIdentifier)
        for ca_id, ca in self.certificates.items():
            if ca.subject != certificate.issuer:
                continue
            if wanted_key is None or _key_identifier(ca, x509.SubjectKeyIdentifier) == wanted_key:
                return ca_id
        return None

    def chain_from(self, ca_id: int) -> list[x509.Certificate]:
        """The certificate of CA ``ca_id``, then its parent's, up to the root's."""
        chain: list[x509.Certificate] = []
        current: int | None = ca_id
        while current is not None:
            chain.append(self.certificates[current])
            current = self.parents[current]
        return chain


def load_hierarchy(database: Database, token: Token) -> Hierarchy:
    """Every CA record, read once; the issuing CAs' keys are in ``token`` (the service token)."""
    with database.reading() as session:
        records = session.execute(select(CaRecord).order_by(CaRecord.id)).scalars().all()
        return Hierarchy(
            certificates={record.id: x509.load_der_x509_certificate(record.der) for record in records},
            parents={record.id: record.parent_id for record in records},
            issuing=tuple(ca_key(record, token) for record in records if record.kind == _ISSUING),
            loaded_at=utc_now(),
        )


def has_unexpired_certificates(database: Database, ca_id: int) -> bool:
    """Whether CA ``ca_id`` issued a certificate that has not expired yet (two probes of the
    (issuer, status, expiry) index, whatever the number of certificates)."""
    now = utc_now()
    with database.reading() as session:
        for status in ("valid", "revoked"):
            found = session.execute(
                select(CertificateRecord.id)
                .where(
                    CertificateRecord.issuer_id == ca_id,
                    CertificateRecord.status == status,
                    CertificateRecord.not_after > now,
                )
                .limit(1)
            ).first()
            if found is not None:
                return True
    return False
