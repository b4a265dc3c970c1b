"""The actions dual control can hold: how each face asks for one, and how an approved one runs.

A face calls the ``hold_*`` function first: it returns when no approval is needed (the face then acts as
it always did) or raises :class:`~govsign.approvals.PendingApproval` after storing what the action needs.
:data:`EXECUTORS` run an approved request from that stored payload, with the requester (and approvers) as
the actor, through the same domain functions the faces use.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

from asn1crypto import x509 as asn1_x509

from ca.authority import Authority
from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, KeySource, SubjectKey, issue_certificate
from ca.keycheck import public_key_from_csr
from ca.profiles import CertificateKind, parse_request
from ca.reasons import RevocationReason, parse_reason
from ca.revocation import find_certificate, revoke_certificate
from govsign import runtime
from govsign.approvals import Executor, hold_for_approval
from govsign.settings import load_settings
from govsign.trust_anchors import TrustRole, add_trusted_certificate, check_trustable

__all__ = ["EXECUTORS", "hold_issuance", "hold_revocation", "hold_trust"]


def hold_revocation(
    authority: Authority,
    serial: str,
    reason: RevocationReason,
    invalidity_date: dt.datetime | None,
    *,
    actor: str,
) -> None:
    """Revoking an agency's seal certificate may need approvals; other revocations never wait."""
    with authority.database.transaction() as session:
        record = find_certificate(session, serial)
        profile, subject, normalised = record.profile, record.subject, record.serial
    if profile != CertificateKind.ORGANISATION.value:
        return
    payload = {
        "serial": normalised,
        "reason": reason.name,
        "invalidity_date": invalidity_date.isoformat() if invalidity_date else None,
    }
    summary = f"revoke {normalised} ({subject}) for {reason.name}"
    hold_for_approval(authority, "certificate.revoke.organisation", payload, summary, actor=actor)


def hold_issuance(
    authority: Authority,
    kind: CertificateKind,
    request: Mapping[str, Any],
    *,
    csr: bytes | None,
    key_type: KeyAlgorithm,
    actor: str,
) -> None:
    """Issuing an organisation or device certificate may need approvals; the request is checked first,
    so approvers never vote on one that cannot be issued."""
    if kind is CertificateKind.INDIVIDUAL:
        return
    parse_request(kind.value, dict(request))
    if csr is not None:
        public_key_from_csr(csr)
    payload = {
        "profile": kind.value,
        "request": dict(request),
        "csr": base64.b64encode(csr).decode("ascii") if csr else None,
        "key_type": key_type.value,
    }
    name = request.get("name", "?")
    summary = f"issue a {kind.value} certificate for {name} ({request.get('requesting_agency', '?')})"
    hold_for_approval(authority, f"certificate.issue.{kind.value}", payload, summary, actor=actor)


def hold_trust(
    authority: Authority,
    certificate: asn1_x509.Certificate,
    *,
    name: str,
    role: TrustRole,
    trusted_from: dt.datetime | None,
    trusted_until: dt.datetime | None,
    actor: str,
) -> None:
    """Trusting another CA may need approvals; the certificate is checked first."""
    name = check_trustable(certificate, name, trusted_from, trusted_until)
    payload = {
        "certificate": base64.b64encode(certificate.dump()).decode("ascii"),
        "name": name,
        "role": role.value,
        "trusted_from": trusted_from.isoformat() if trusted_from else None,
        "trusted_until": trusted_until.isoformat() if trusted_until else None,
    }
    summary = f"trust {certificate.subject.human_friendly} as {role.value} {name!r}"
    hold_for_approval(authority, "trust.add", payload, summary, actor=actor)


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _revoke(authority: Authority, payload: Mapping[str, Any], actor: str) -> dict[str, Any]:
    record = revoke_certificate(
        authority,
        payload["serial"],
        parse_reason(payload["reason"]),
        actor=actor,
        invalidity_date=_instant(payload["invalidity_date"]),
    )
    return {"serial": record.serial, "status": record.status, "reason": record.revocation_reason}


def _issue(authority: Authority, payload: Mapping[str, Any], actor: str) -> dict[str, Any]:
    kind = CertificateKind(payload["profile"])
    key: KeySource = (
        SubjectKey("csr", public_key_from_csr(base64.b64decode(payload["csr"])))
        if payload["csr"]
        else GenerateInHsm(KeyAlgorithm(payload["key_type"]))
    )
    issued = issue_certificate(
        authority, kind, parse_request(kind.value, payload["request"]), key, actor=actor
    )
    return {"serial": issued.serial_hex, "subject": issued.certificate.subject.rfc4514_string()}


def _trust(authority: Authority, payload: Mapping[str, Any], actor: str) -> dict[str, Any]:
    entry = add_trusted_certificate(
        authority,
        asn1_x509.Certificate.load(base64.b64decode(payload["certificate"])),
        name=payload["name"],
        role=TrustRole(payload["role"]),
        trusted_from=_instant(payload["trusted_from"]),
        trusted_until=_instant(payload["trusted_until"]),
        actor=actor,
    )
    return entry.to_json()


def _root_crl(authority: Authority, payload: Mapping[str, Any], actor: str) -> dict[str, Any]:
    published = runtime.publish_root_crl(load_settings(), actor=actor)
    return {"crl_number": published.number, "next_update": published.next_update.isoformat()}


EXECUTORS: dict[str, Executor] = {
    "certificate.revoke.organisation": _revoke,
    "certificate.issue.organisation": _issue,
    "certificate.issue.device": _issue,
    "trust.add": _trust,
    "ca.root-crl": _root_crl,
}
