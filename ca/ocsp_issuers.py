"""The issuers an OCSP responder answers for (RFC 6960 §4.1.1): every issuing CA of the hierarchy, the one
that issues now and those rolled over (ca.rollover), each found by the hashes of a request's CertID.

Each issuer has a delegated signer of its own (an OCSP signer certificate it issued, RFC 6960 §4.2.2.2;
:class:`OcspSigners`), and its responses carry its own notBefore as ArchiveCutoff.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from ca.authority import Authority, ServiceKey, newest_service_key
from ca.hierarchy import CaKey, Hierarchy
from ca.store import utc_now

__all__ = ["SIGNER_RELOAD_SECONDS", "OcspIssuer", "OcspIssuers", "OcspSigners"]

SIGNER_RELOAD_SECONDS = 3600

CertIdHashes = tuple[str, bytes, bytes]  # hash algorithm, issuer name hash, issuer key hash


@dataclass(frozen=True)
class OcspIssuer:
    """An issuing CA as the responder sees it: its CertID hashes and its responses' ArchiveCutoff."""

    ca: CaKey
    sha1_hashes: tuple[bytes, bytes]  # issuerNameHash, issuerKeyHash: what pre-signed responses carry
    sha256_hashes: tuple[bytes, bytes]

    @classmethod
    def of(cls, ca: CaKey) -> OcspIssuer:
        certificate = asn1_x509.Certificate.load(ca.certificate.public_bytes(serialization.Encoding.DER))
        return cls(
            ca,
            (certificate.subject.sha1, certificate.public_key.sha1),
            (certificate.subject.sha256, certificate.public_key.sha256),
        )

    @property
    def id(self) -> int:
        return self.ca.id

    @property
    def archive_cutoff(self) -> dt.datetime:
        return self.ca.certificate.not_valid_before_utc

    def cert_id(self, serial: int) -> asn1_ocsp.CertId:
        """The SHA-1 CertID of one of this issuer's serials (RFC 5019 §2.1.1), as pre-signed responses
        carry it."""
        name_hash, key_hash = self.sha1_hashes
        return asn1_ocsp.CertId(
            {
                "hash_algorithm": {"algorithm": "sha1"},
                "issuer_name_hash": name_hash,
                "issuer_key_hash": key_hash,
                "serial_number": serial,
            }
        )


@dataclass(frozen=True)
class OcspIssuers:
    """The issuers of one reading of the hierarchy, by CertID hashes and by record id."""

    hierarchy: Hierarchy
    by_hashes: Mapping[CertIdHashes, OcspIssuer]
    by_id: Mapping[int, OcspIssuer]

    @classmethod
    def of(cls, hierarchy: Hierarchy) -> OcspIssuers:
        issuers = [OcspIssuer.of(ca) for ca in hierarchy.issuing]
        by_hashes = {
            (algorithm, *hashes): issuer
            for issuer in issuers
            for algorithm, hashes in (("sha1", issuer.sha1_hashes), ("sha256", issuer.sha256_hashes))
        }
        return cls(hierarchy, by_hashes, {issuer.id: issuer for issuer in issuers})

    def find(self, algorithm: str, name_hash: bytes, key_hash: bytes) -> OcspIssuer | None:
        """The issuer a CertID names, or None when we are not authoritative for it (RFC 6960 §2.3)."""
        return self.by_hashes.get((algorithm, name_hash, key_hash))


class OcspSigners:
    """Each issuer's newest valid OCSP signer, looked up again every hour so that a renewal made by any
    process reaches every process (the old signer stays valid meanwhile), and a day before it expires."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self._loaded: dict[int, tuple[ServiceKey, float]] = {}  # by issuer id, with when it was looked up

    def of(self, issuer: OcspIssuer) -> ServiceKey:
        loaded = self._loaded.get(issuer.id)
        if (
            loaded is None
            or time.monotonic() - loaded[1] > SIGNER_RELOAD_SECONDS
            or loaded[0].not_after - utc_now() < dt.timedelta(days=1)
        ):
            key = newest_service_key(self.authority, "ocsp-signer", issuer_id=issuer.id)
            loaded = self._loaded[issuer.id] = (key, time.monotonic())
        return loaded[0]

    def forget(self) -> None:
        """Look every signer up again on next use (after a renewal)."""
        self._loaded.clear()
