"""The verifier's side of the faces: which roots to trust and which URLs to fetch, from the deployment."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.authority import Authority
from ca.errors import InvalidRequest
from govsign.settings import Settings
from signing.fetch_policy import FetchPolicy
from signing.validation import TrustAnchor, TrustStore

__all__ = ["fetch_policy", "read_certificates", "trust_store"]


def read_certificates(path: Path) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM or DER file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidRequest(f"cannot read {path}: {error.strerror}") from None
    try:
        if pem.detect(data):
            return [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        return [asn1_x509.Certificate.load(data)]
    except ValueError as error:
        raise InvalidRequest(f"{path} holds no X.509 certificate ({error})") from None


def trust_store(authority: Authority, extra_roots: Iterable[Path] = ()) -> TrustStore:
    """Our root (and our issuing CA to help leaf-only paths), plus third-party roots from files."""
    chain = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in authority.chain()]
    anchors = [TrustAnchor("govsign root CA", chain[-1])]
    for path in extra_roots:
        anchors += [
            TrustAnchor(f"{path.name}: {c.subject.human_friendly}", c) for c in read_certificates(path)
        ]
    return TrustStore(anchors=tuple(anchors), intermediates=tuple(chain[:-1]))


def fetch_policy(settings: Settings, *, offline: bool = False) -> FetchPolicy:
    """Fetching allowed from public addresses on ports 80/443, and always from our own public URL."""
    own = urllib.parse.urlsplit(settings.public_url).hostname or ""
    return FetchPolicy(enabled=not offline, own_hosts=frozenset({own.lower()}))
