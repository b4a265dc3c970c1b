"""The holder's activation for documents: PIN and, where enrolled, the TOTP code, for every face alike.

It sits above both accounts and the second factor (whose console login belongs to an account), and is
the one call by which the API, the batches and the console open a holder's key for documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ca.authority import Authority
from ca.signing_keys import DocumentActivation, activate_for_documents, subscriber_key
from govsign.access.accounts import Account, authorise_certificate
from govsign.access.second_factor import check_otp

__all__ = ["HolderProof", "authorise_documents"]


@dataclass(frozen=True)
class HolderProof:
    """What the holder gave for this request, kept in memory for it alone."""

    pin: str = field(repr=False)
    otp: str | None = field(default=None, repr=False)
    signed_in_with_second_factor: bool = False  # a console session was opened with the holder's TOTP


def authorise_documents(
    authority: Authority,
    account: Account,
    serial: str,
    proof: HolderProof,
    documents: Sequence[bytes],
    *,
    client: str,
) -> DocumentActivation:
    """The holder's PIN (and, where they enrolled one, their current TOTP code) opens the account's key
    for exactly these documents (SHA-256 of each), once each, for five minutes: the grant every face
    (API, console, batches) signs through."""
    key = subscriber_key(authority, authorise_certificate(account, serial))
    if not proof.signed_in_with_second_factor:
        check_otp(authority, account, proof.otp, actor=account.actor)
    return activate_for_documents(authority, key, proof.pin, documents, actor=account.actor, client=client)
