"""A holder's certificate changes, and their signing accounts follow it.

An account signs with one certificate, and a key has one account (:mod:`govsign.access.accounts`). When
the CA gives the same holder a new certificate for the same key — a renewal (:func:`ca.revocation.renew_certificate`)
or a change of information (:func:`ca.revocation.change_information`, the old one revoked as superseded) —
the accounts move to the new certificate at once, so the holder goes on signing with the same PIN under
the newest certificate and name; otherwise the account would stay on a certificate that is revoked now or
expires later, and no second account could be made for the key. Each move is audited with the account.
"""

from __future__ import annotations

from ca.authority import Authority
from ca.issuance import IssuedCertificate, KeySource
from ca.profiles import MAX_RENEWAL_YEARS, SubscriberRequest
from ca.revocation import certificates_sharing_the_key, change_information, renew_certificate
from govsign.access.accounts import move_to_certificate

__all__ = ["change_holder_information", "renew_holder_certificate"]


def renew_holder_certificate(
    authority: Authority, serial: str, *, actor: str, years: int = MAX_RENEWAL_YEARS
) -> IssuedCertificate:
    """Renew certificate ``serial`` (same key and subject; the old one stays valid) and move its holder's
    accounts to the renewal."""
    issued = renew_certificate(authority, serial, actor=actor, years=years)
    move_to_certificate(authority, serial, issued.serial_hex, actor=actor, action="account.renew")
    return issued


def change_holder_information(
    authority: Authority,
    serial: str,
    request: SubscriberRequest,
    *,
    actor: str,
    key: KeySource | None = None,
) -> IssuedCertificate:
    """Change of information (Decree 68): a certificate with the new subject data (the same key unless
    ``key`` says otherwise), the old one revoked as superseded, and the holder's accounts moved to it."""
    superseded = [serial, *certificates_sharing_the_key(authority, serial)]  # all go (ca.revocation)
    issued = change_information(authority, serial, request, actor=actor, key=key)
    for old in superseded:
        move_to_certificate(authority, old, issued.serial_hex, actor=actor, action="account.change-info")
    return issued
