"""The actions dual control can hold, one function each for every face (CLI, API, console).

:func:`issue`, :func:`revoke` and :func:`trust` check the request, then either act at once (no approval
needed) or store what the action needs and raise :class:`~govsign.access.errors.PendingApproval`.
:func:`executors` run an approved request from that stored payload, with the requester (and approvers) as
the actor, through the same code (and the one for a loosened approval policy, whose hold is in
:mod:`govsign.access.approval_policies`). The root CRL is signed with the root token, which only the
deployment's settings can open: the caller hands in that step, so this room never reads settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from asn1crypto import x509 as asn1_x509

from ca.activation import CredentialState
from ca.authority import Authority
from ca.crl import PublishedCrl
from ca.errors import StateConflict
from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, IssuedCertificate, KeySource, SubjectKey, issue_certificate
from ca.keycheck import public_key_from_csr
from ca.ocsp import OcspResponder
from ca.profiles import CertificateKind, parse_request
from ca.reasons import RevocationReason
from ca.revocation import find_certificate, revoke_certificate
from ca.store import CertificateRecord
from govsign.access.approval_payloads import (
    POLICY_CHANGE,
    ActionExecutor,
    Executor,
    InformationChangePayload,
    IssuancePayload,
    IssuedOutcome,
    PolicyChangePayload,
    RevocationOutcome,
    RevocationPayload,
    RootCrlOutcome,
    RootCrlPayload,
    TrustOutcome,
    TrustPayload,
    TrustRemovalPayload,
)
from govsign.access.approval_policies import apply_lowering
from govsign.access.approvals import hold_for_approval
from govsign.access.errors import PendingApproval
from govsign.access.holder_certificates import change_holder_information
from govsign.access.trust_anchors import (
    TrustedEntry,
    TrustRole,
    add_trusted_certificate,
    check_trustable,
    remove_trusted_certificate,
    trusted_certificate,
)

__all__ = ["RootCrlPublisher", "change_information", "executors", "issue", "revoke", "trust", "untrust"]

RootCrlPublisher = Callable[[str], PublishedCrl]
"""Signs and publishes the root's next CRL as the given actor (the deployment's root token)."""


def revoke(
    authority: Authority,
    serial: str,
    reason: RevocationReason,
    invalidity_date: dt.datetime | None,
    *,
    actor: str,
    responder: OcspResponder | None = None,
) -> CertificateRecord:
    """Revoke, unless it is an agency's seal certificate whose revocation waits for approvals (other
    revocations never wait). ``responder``: the server's OCSP responder, whose cache changes at once."""
    _hold_revocation(authority, serial, reason, invalidity_date, actor=actor)
    return revoke_certificate(
        authority, serial, reason, actor=actor, invalidity_date=invalidity_date, responder=responder
    )


def issue(
    authority: Authority,
    profile: str,
    request: Mapping[str, Any],
    *,
    csr: bytes | None,
    key_type: KeyAlgorithm,
    actor: str,
) -> IssuedCertificate:
    """Issue through the linted pipeline (a key from ``csr``, or made in the HSM), unless an organisation
    or device certificate waits for approvals. The request is checked first either way."""
    parse_request(profile, dict(request))
    kind = CertificateKind(profile)
    if kind is CertificateKind.INDIVIDUAL or csr is not None:
        _hold_issuance(authority, kind, request, csr=csr, key_type=key_type, key_id=None, actor=actor)
        return _issue_now(authority, kind, request, csr, key_type, actor)
    # An agency's or a device's key is made before the request may wait for approvals, so that its
    # set-up code reaches the requester now: an approval's stored outcome must never carry it.
    module = authority.activation_module()
    made = module.create_credential(key_type, actor=actor)
    try:
        _hold_issuance(authority, kind, request, csr=None, key_type=key_type, key_id=made.key_id, actor=actor)
        issued = _issue_with_made_key(authority, kind, request, made.key_id, actor)
    except PendingApproval as pending:
        pending.setup_code = made.setup_code
        raise
    except BaseException:
        with authority.database.transaction() as session:
            module.destroy(session, made.key_id, reason="issuance refused", actor=actor)
        raise
    return replace(issued, setup_code=made.setup_code)


def change_information(
    authority: Authority, serial: str, request: Mapping[str, Any], *, csr: bytes | None, actor: str
) -> IssuedCertificate:
    """Change of information: a new certificate with ``request``'s subject data (a new key when ``csr``
    is given), the old one revoked as superseded, the holder's accounts moved to it; for an agency's seal
    or a device, unless that waits for approvals as issuing one does. The request is checked first."""
    with authority.database.transaction() as session:
        record = find_certificate(session, serial)
        profile, normalised, subject = record.profile, record.serial, record.subject
    parse_request(profile, dict(request))
    if csr is not None:
        public_key_from_csr(csr)
    if profile in (CertificateKind.ORGANISATION.value, CertificateKind.DEVICE.value):
        payload = InformationChangePayload(serial=normalised, request=dict(request), csr=csr)
        summary = f"change the information of {normalised} ({subject})"
        hold_for_approval(authority, f"certificate.change.{profile}", payload, summary, actor=actor)
    return _change_now(authority, serial, request, csr, actor)


def trust(
    authority: Authority,
    certificate: asn1_x509.Certificate,
    *,
    name: str,
    role: TrustRole,
    trusted_from: dt.datetime | None,
    trusted_until: dt.datetime | None,
    actor: str,
) -> TrustedEntry:
    """Trust another CA's certificate, unless that waits for approvals (the certificate is checked first
    either way)."""
    checked = check_trustable(certificate, name, trusted_from, trusted_until)
    window = {"trusted_from": trusted_from, "trusted_until": trusted_until}
    payload = TrustPayload(certificate=certificate.dump(), name=checked, role=role, **window)
    summary = f"trust {certificate.subject.human_friendly} as {role.value} {checked!r}"
    hold_for_approval(authority, "trust.add", payload, summary, actor=actor)
    return add_trusted_certificate(authority, certificate, name=name, role=role, actor=actor, **window)


def untrust(authority: Authority, entry_id: int, *, actor: str) -> TrustedEntry:
    """Stop trusting a certificate, unless that waits for approvals (``trust.remove``): signatures that
    needed it stop validating, which a lone administrator should not decide where the policy says so."""
    entry = trusted_certificate(authority, entry_id)
    payload = TrustRemovalPayload(entry_id=entry.id, sha256=entry.sha256, name=entry.name)
    summary = f"stop trusting {entry.name!r} ({entry.subject})"
    hold_for_approval(authority, "trust.remove", payload, summary, actor=actor)
    return remove_trusted_certificate(authority, entry_id, actor=actor, sha256=entry.sha256)


def _hold_revocation(
    authority: Authority,
    serial: str,
    reason: RevocationReason,
    invalidity_date: dt.datetime | None,
    *,
    actor: str,
) -> None:
    with authority.database.transaction() as session:
        record = find_certificate(session, serial)
        profile, subject, normalised = record.profile, record.subject, record.serial
    if profile != CertificateKind.ORGANISATION.value:
        return
    payload = RevocationPayload(serial=normalised, reason=reason, invalidity_date=invalidity_date)
    summary = f"revoke {normalised} ({subject}) for {reason.name}"
    hold_for_approval(authority, "certificate.revoke.organisation", payload, summary, actor=actor)


def _hold_issuance(
    authority: Authority,
    kind: CertificateKind,
    request: Mapping[str, Any],
    *,
    csr: bytes | None,
    key_type: KeyAlgorithm,
    key_id: str | None,
    actor: str,
) -> None:
    """Approvers never vote on a request that cannot be issued: the caller checked it, and the CSR here.
    ``key_id``: the key already made for the holder (its set-up code went to the requester)."""
    if kind is CertificateKind.INDIVIDUAL:
        return
    if csr is not None:
        public_key_from_csr(csr)
    payload = IssuancePayload(profile=kind, request=dict(request), csr=csr, key_type=key_type, key_id=key_id)
    name = request.get("name", "?")
    summary = f"issue a {kind.value} certificate for {name} ({request.get('requesting_agency', '?')})"
    hold_for_approval(authority, f"certificate.issue.{kind.value}", payload, summary, actor=actor)


def _revoke(authority: Authority, payload: RevocationPayload, actor: str) -> RevocationOutcome:
    # the approved revocation itself; the serving processes' OCSP change poll picks it up within a second
    record = revoke_certificate(
        authority, payload.serial, payload.reason, actor=actor, invalidity_date=payload.invalidity_date
    )
    return RevocationOutcome(serial=record.serial, status=record.status, reason=record.revocation_reason)


def _issue_now(
    authority: Authority,
    kind: CertificateKind,
    request: Mapping[str, Any],
    csr: bytes | None,
    key_type: KeyAlgorithm,
    actor: str,
) -> IssuedCertificate:
    key: KeySource = (
        SubjectKey("csr", public_key_from_csr(csr)) if csr is not None else GenerateInHsm(key_type)
    )
    return issue_certificate(authority, kind, parse_request(kind.value, dict(request)), key, actor=actor)


def _issue_with_made_key(
    authority: Authority, kind: CertificateKind, request: Mapping[str, Any], key_id: str, actor: str
) -> IssuedCertificate:
    """Issue for a key the activation module made earlier for the holder (who has its set-up code)."""
    module = authority.activation_module()
    if module.status(key_id).state is CredentialState.DESTROYED:
        raise StateConflict("the key made for this request was destroyed; request the certificate again")
    key = SubjectKey("hsm", module.public_key(key_id), bytes.fromhex(key_id), module.vault.label)
    return issue_certificate(authority, kind, parse_request(kind.value, dict(request)), key, actor=actor)


def _issue(authority: Authority, payload: IssuancePayload, actor: str) -> IssuedOutcome:
    kind = payload.profile
    if payload.key_id:
        issued = _issue_with_made_key(authority, kind, payload.request, payload.key_id, actor)
    else:
        issued = _issue_now(authority, kind, payload.request, payload.csr, payload.key_type, actor)
    return IssuedOutcome(serial=issued.serial_hex, subject=issued.certificate.subject.rfc4514_string())


def _change_now(
    authority: Authority, serial: str, request: Mapping[str, Any], csr: bytes | None, actor: str
) -> IssuedCertificate:
    with authority.database.transaction() as session:
        profile = find_certificate(session, serial).profile
    key = SubjectKey("csr", public_key_from_csr(csr)) if csr is not None else None
    return change_holder_information(
        authority, serial, parse_request(profile, dict(request)), actor=actor, key=key
    )


def _change(authority: Authority, payload: InformationChangePayload, actor: str) -> IssuedOutcome:
    issued = _change_now(authority, payload.serial, payload.request, payload.csr, actor)
    return IssuedOutcome(serial=issued.serial_hex, subject=issued.certificate.subject.rfc4514_string())


def _trust(authority: Authority, payload: TrustPayload, actor: str) -> TrustOutcome:
    entry = add_trusted_certificate(
        authority,
        asn1_x509.Certificate.load(payload.certificate),
        name=payload.name,
        role=payload.role,
        trusted_from=payload.trusted_from,
        trusted_until=payload.trusted_until,
        actor=actor,
    )
    return TrustOutcome.model_validate(entry)


def _untrust(authority: Authority, payload: TrustRemovalPayload, actor: str) -> TrustOutcome:
    entry = remove_trusted_certificate(authority, payload.entry_id, actor=actor, sha256=payload.sha256)
    return TrustOutcome.model_validate(entry)


def executors(publish_root_crl: RootCrlPublisher) -> dict[str, Executor]:
    """What runs each approved action; ``publish_root_crl`` is the ceremony step the root CRL needs."""

    def root_crl(authority: Authority, payload: RootCrlPayload, actor: str) -> RootCrlOutcome:
        published = publish_root_crl(actor)
        return RootCrlOutcome(crl_number=published.number, next_update=published.next_update)

    issue = ActionExecutor(IssuancePayload, _issue)
    return {
        "certificate.revoke.organisation": ActionExecutor(RevocationPayload, _revoke),
        "certificate.issue.organisation": issue,
        "certificate.issue.device": issue,
        "certificate.change.organisation": ActionExecutor(InformationChangePayload, _change),
        "certificate.change.device": ActionExecutor(InformationChangePayload, _change),
        "trust.add": ActionExecutor(TrustPayload, _trust),
        "trust.remove": ActionExecutor(TrustRemovalPayload, _untrust),
        "ca.root-crl": ActionExecutor(RootCrlPayload, root_crl),
        POLICY_CHANGE: ActionExecutor(PolicyChangePayload, apply_lowering),
    }
