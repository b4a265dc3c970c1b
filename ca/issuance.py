"""The issuance pipeline: request -> checks -> serial and intent -> TBS -> lint -> HSM signature -> store -> audit.

It runs in two phases, as Let's Encrypt's Boulder does. :func:`prepare_issuance` validates, writes the intent
row (serial, profile, subject, requesting agency, request reference) before anything else, builds the TBS
certificate, lints a copy signed with a throwaway key and records the exact TBS bytes. :func:`complete_issuance`
has the HSM sign exactly those bytes, splices the signature in, checks it, and stores the certificate with its
audit entry in one transaction. A crash between the two leaves an intent with its TBS and no certificate;
`govsign ca list --intents` shows such intents.

`cryptography`'s builders cannot sign with a PKCS#11 key, so the certificate is built and signed with a
throwaway key of the issuer's key family (the TBS then names the right signature algorithm), and the real
certificate is assembled with asn1crypto from the TBS bytes and the HSM's signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca import audit
from ca.authority import Authority, CaKey
from ca.certificate_building import assemble_certificate, build_tbs, random_serial, sign_tbs
from ca.errors import CaError, InvalidRequest, StateConflict
from ca.hsm import KeyAlgorithm, PublicKey
from ca.lint import LintFinding, lint_certificate
from ca.ocsp import presign_new
from ca.orders import CertificateOrder, service_order, subscriber_order
from ca.profiles import CertificateKind, SubscriberRequest
from ca.renewal import refuse_second_renewal
from ca.store import CertificateRecord, IssuanceIntent, utc_now

__all__ = [
    "CertificateOrder",
    "GenerateInHsm",
    "GenerateServiceKey",
    "IssuedCertificate",
    "KeySource",
    "PreparedIssuance",
    "SubjectKey",
    "assemble_certificate",
    "build_tbs",
    "complete_issuance",
    "issue_certificate",
    "prepare_issuance",
    "service_order",
    "sign_tbs",
    "subscriber_order",
    "unfinished_intents",
]

_SERIAL_ATTEMPTS = 5


@dataclass(frozen=True)
class GenerateInHsm:
    """Generate the subscriber's key pair in the HSM (remote signing; policy NCP+), through the signature
    activation module: wrapped, sealed under a one-time set-up code for the holder, never a token object."""

    algorithm: KeyAlgorithm


@dataclass(frozen=True)
class GenerateServiceKey:
    """Generate one of the CA's own keys (OCSP signer, TSA, service seal) as a persistent object of the
    service token: these sign for the service, with no holder to activate them."""

    algorithm: KeyAlgorithm


@dataclass(frozen=True)
class SubjectKey:
    """A public key already known: from a CSR (policy NCP), or a key pair already in our HSM (renewal)."""

    origin: Literal["hsm", "csr"]
    public_key: PublicKey
    key_id: bytes | None = None
    token_label: str | None = None  # where the key lives when not in the service token (the keys token)


KeySource = GenerateInHsm | GenerateServiceKey | SubjectKey


@dataclass(frozen=True)
class PreparedIssuance:
    """Phase one's result: an intent whose linted TBS waits for the HSM's signature."""

    intent_id: int
    serial: int
    tbs: bytes
    order: CertificateOrder
    key: SubjectKey
    findings: list[LintFinding]
    issuer: CaKey  # the CA the intent names: the one that signs, even if a rollover came in between
    setup_code: str | None = None  # a new subscriber key's one-time set-up code, for its holder


@dataclass(frozen=True)
class IssuedCertificate:
    """A stored certificate, with the non-blocking lint findings of its TBS and, for a key made here for
    a holder, the one-time set-up code with which the holder chooses the PIN (shown once, never stored)."""

    record_id: int
    certificate: x509.Certificate
    findings: list[LintFinding]
    setup_code: str | None = None

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")


# -- the two phases ---------------------------------------------------------------------------------------


def _record_intent(
    authority: Authority, issuer: CaKey, order: CertificateOrder, actor: str
) -> IssuanceIntent:
    for _ in range(_SERIAL_ATTEMPTS):
        serial = random_serial()
        try:
            with authority.database.transaction() as session:
                intent = IssuanceIntent(
                    issuer_id=issuer.id,
                    serial=format(serial, "x"),
                    profile=order.kind.value,
                    subject=order.subject.rfc4514_string(),
                    requesting_agency=order.requesting_agency,
                    request_ref=order.request_ref,
                    actor=actor,
                    state="pending",
                )
                session.add(intent)
            return intent
        except IntegrityError:
            continue  # a serial collision: astronomically rare, and the constraint caught it
    raise CaError("could not allocate a unique serial number; try again")


def _update_intent(session: Session, intent_id: int, **changes: object) -> None:
    """One UPDATE statement: loading the row first doubled the cost of this step."""
    session.execute(update(IssuanceIntent).where(IssuanceIntent.id == intent_id).values(**changes))


def _subject_key(
    authority: Authority, key: KeySource, label: str, actor: str
) -> tuple[SubjectKey, str | None]:
    """The certificate's key, and the set-up code when the activation module made it for a holder."""
    if isinstance(key, SubjectKey):
        return key, None
    if isinstance(key, GenerateServiceKey):
        pair = authority.token.generate_key_pair(key.algorithm, label)
        return SubjectKey("hsm", pair.public_key, pair.key_id), None
    activation = authority.activation_module()
    made = activation.create_credential(key.algorithm, actor=actor)
    return SubjectKey(
        "hsm", made.public_key, bytes.fromhex(made.key_id), activation.vault.label
    ), made.setup_code


def _discard_new_key(authority: Authority, key: KeySource, made: SubjectKey | None, actor: str) -> None:
    """A refused issuance leaves no key behind: a credential made for it is destroyed at once."""
    if made is None or not isinstance(key, GenerateInHsm) or made.key_id is None:
        return
    activation = authority.activation_module()
    with authority.database.transaction() as session:
        activation.destroy(session, made.key_id.hex(), reason="issuance refused", actor=actor)


def prepare_issuance(
    authority: Authority, order: CertificateOrder, key: KeySource, *, actor: str
) -> PreparedIssuance:
    """Phase one (steps 1-4 of docs/ISSUANCE-CYCLE.md): intent row, key, TBS, lint. Nothing is signed; a
    lint failure marks the intent failed and destroys a key made for it."""
    issuer = order.issuer or authority.issuing_ca()  # Step 1: the order fits its issuer
    if order.not_after > issuer.certificate.not_valid_after_utc:
        raise InvalidRequest(
            f"the certificate would outlive its issuer {issuer.name}, which expires on "
            f"{issuer.certificate.not_valid_after_utc:%Y-%m-%d}"
        )
    intent = _record_intent(authority, issuer, order, actor)  # Step 2: serial and intent, before anything
    serial = int(intent.serial, 16)
    subject_key: SubjectKey | None = None
    try:
        subject_key, setup_code = _subject_key(authority, key, f"{order.kind.value}-{intent.serial}", actor)
        lint_copy, tbs = build_tbs(  # Step 3: the TBS, and a copy signed by a throwaway key
            subject=order.subject,
            public_key=subject_key.public_key,
            serial=serial,
            not_before=order.not_before,
            not_after=order.not_after,
            extensions=order.extensions_for(serial),
            issuer_name=issuer.certificate.subject,
            issuer_key_identifier=issuer.subject_key_identifier,
            issuer_algorithm=issuer.algorithm,
        )
        found = lint_certificate(lint_copy, order.lint_kind)  # Step 4: lint; an error aborts here
    except ValueError as error:  # a value the builder cannot encode: refused, never a 500
        refusal = InvalidRequest(f"the certificate cannot be built from this request: {error}")
        _discard_new_key(authority, key, subject_key, actor)
        _fail(authority, intent.id, intent.serial, order, actor, refusal)
        raise refusal from None
    except CaError as error:
        _discard_new_key(authority, key, subject_key, actor)
        _fail(authority, intent.id, intent.serial, order, actor, error)
        raise
    key_id = subject_key.key_id.hex() if subject_key.key_id else None
    with authority.database.transaction() as session:
        _update_intent(session, intent.id, state="linted", tbs=tbs, key_id=key_id, updated_at=utc_now())
    return PreparedIssuance(intent.id, serial, tbs, order, subject_key, found, issuer, setup_code)


def complete_issuance(authority: Authority, prepared: PreparedIssuance, *, actor: str) -> IssuedCertificate:
    """Phase two: the HSM signs exactly the recorded TBS; certificate, intent and audit commit together.

    A renewal is signed inside the transaction that stores it, after the renewed certificate's row is
    locked and found not renewed yet: two officers renewing at once get one renewal, never two, and no
    signed certificate is thrown away. Other issuances sign first, so that the HSM never waits on the
    database's write lock.
    """
    issuer = prepared.issuer
    order = prepared.order
    with authority.database.transaction() as session:
        _claim(session, prepared, issuer)  # Step 5: single use, before the HSM signs anything
    try:
        if order.renewal_of_id is None:
            certificate = sign_tbs(issuer, prepared.tbs, issuer.certificate)  # Step 6
            with authority.database.transaction() as session:
                record = _store(session, authority, issuer, prepared, certificate, actor)  # Step 7
        else:
            with authority.database.transaction() as session:
                refuse_second_renewal(session, order.renewal_of_id)
                certificate = sign_tbs(issuer, prepared.tbs, issuer.certificate)
                record = _store(session, authority, issuer, prepared, certificate, actor)
    except CaError as error:
        _fail(authority, prepared.intent_id, format(prepared.serial, "x"), order, actor, error)
        raise
    presign_new(authority, record)  # Step 8: its OCSP answer exists before anyone asks
    return IssuedCertificate(record.id, certificate, prepared.findings, prepared.setup_code)


def _claim(session: Session, prepared: PreparedIssuance, issuer: CaKey) -> None:
    """Redeem the prepared issuance once: the intent goes from linted to signing for this issuer in one
    conditional UPDATE, so a second redemption (or another issuer's) is refused before any HSM signature,
    instead of being caught by the serial's unique constraint after a second one."""
    claimed = session.execute(
        update(IssuanceIntent)
        .where(
            IssuanceIntent.id == prepared.intent_id,
            IssuanceIntent.state == "linted",
            IssuanceIntent.issuer_id == issuer.id,
        )
        .values(state="signing", updated_at=utc_now())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise StateConflict(
            f"issuance intent {prepared.intent_id} was redeemed already or belongs to another issuer; "
            "nothing was signed"
        )


def _store(
    session: Session,
    authority: Authority,
    issuer: CaKey,
    prepared: PreparedIssuance,
    certificate: x509.Certificate,
    actor: str,
) -> CertificateRecord:
    order = prepared.order
    record = CertificateRecord(
        issuer_id=issuer.id,
        serial=format(prepared.serial, "x"),
        profile=order.kind.value,
        status="valid",
        subject=order.subject.rfc4514_string(),
        common_name=order.common_name,
        personal_id=order.personal_id,
        tax_code=order.tax_code,
        email=order.email,
        requesting_agency=order.requesting_agency,
        request_ref=order.request_ref,
        request_json=order.request_json,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        der=certificate.public_bytes(serialization.Encoding.DER),
        key_origin=prepared.key.origin,
        token_label=prepared.key.token_label or (authority.token.label if prepared.key.key_id else None),
        key_id=prepared.key.key_id.hex() if prepared.key.key_id else None,
        renewal_of_id=order.renewal_of_id,
        crl_shard=order.crl_shard(prepared.serial),
    )
    session.add(record)
    session.flush()
    _update_intent(session, prepared.intent_id, state="done", certificate_id=record.id, updated_at=utc_now())
    audit.append(
        session,
        authority.token,
        audit.AuditEvent(
            actor=actor,
            action="certificate.issue",
            object=f"certificate:{record.serial}",
            details={
                "profile": order.kind.value,
                "subject": record.subject,
                "issuer": issuer.name,
                "requesting_agency": order.requesting_agency,
                "request_ref": order.request_ref,
                "key_origin": prepared.key.origin,
                "not_after": record.not_after.isoformat(),
                "renewal_of": order.renewal_of_id,
            },
        ),
    )
    return record


def _fail(
    authority: Authority, intent_id: int, serial: str, order: CertificateOrder, actor: str, error: CaError
) -> None:
    with authority.database.transaction() as session:
        _update_intent(session, intent_id, state="failed", error=str(error), updated_at=utc_now())
        audit.append(
            session,
            authority.token,
            audit.AuditEvent(
                actor=actor,
                action="certificate.issue",
                object=f"intent:{intent_id}",
                result="failure",
                details={"profile": order.kind.value, "serial": serial, "error": str(error)},
            ),
        )


def issue_certificate(
    authority: Authority, kind: CertificateKind, request: SubscriberRequest, key: KeySource, *, actor: str
) -> IssuedCertificate:
    """Issue a subscriber certificate for a validated request, both phases in one call."""
    key_in_hsm = not isinstance(key, SubjectKey) or key.origin == "hsm"
    order = subscriber_order(authority, kind, request, key_in_hsm=key_in_hsm)
    prepared = prepare_issuance(authority, order, key, actor=actor)
    return complete_issuance(authority, prepared, actor=actor)


def unfinished_intents(authority: Authority) -> list[IssuanceIntent]:
    """Intents that were started and neither completed nor failed: the trace of a crash."""
    with authority.database.transaction() as session:
        return list(
            session.execute(
                select(IssuanceIntent)
                .where(IssuanceIntent.state.in_(("pending", "linted", "signing")))
                .order_by(IssuanceIntent.id)
            ).scalars()
        )
