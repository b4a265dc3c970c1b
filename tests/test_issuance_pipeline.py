"""The pipeline's order of steps: intent first, lint before sign, a crash leaves a trace and nothing signed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from ca.errors import InvalidRequest, LintFailed, StateConflict
from ca.hsm import KeyAlgorithm
from ca.issuance import (
    CertificateOrder,
    GenerateInHsm,
    SubjectKey,
    complete_issuance,
    issue_certificate,
    prepare_issuance,
    subscriber_order,
)
from ca.profiles import CertificateKind, SubscriberRequest, add_years, parse_request
from ca.renewal import renewal_not_after
from ca.revocation import change_information, renew_certificate
from ca.signing_keys import service_seal_key
from ca.store import AuditEntry, CertificateRecord, IssuanceIntent
from tests.conftest import DEMO, Deployment, make_deployment
from tests.crashed_issuance import crash_after_phase_one

OFFICIAL = json.loads((DEMO / "official-nguyen-van-anh.json").read_text(encoding="utf-8"))


def _official(**changes: object) -> SubscriberRequest:
    return parse_request("individual", {**OFFICIAL, **changes})


def test_lint_failure_aborts_before_the_hsm_signs_and_marks_the_intent_failed(deployment: Deployment) -> None:
    order = subscriber_order(deployment.authority, CertificateKind.INDIVIDUAL, _official(), key_in_hsm=True)
    # The same order without its key usage and policies: ETSI EN 319 412-2 requires both.
    broken = CertificateOrder(
        **{
            **order.__dict__,
            "extensions": [
                e for e in order.extensions if isinstance(e.value, x509.AuthorityInformationAccess)
            ],
        }
    )
    with pytest.raises(LintFailed, match="pkilint found"):
        prepare_issuance(deployment.authority, broken, GenerateInHsm(KeyAlgorithm.EC_P256), actor="test")
    with deployment.authority.database.transaction() as session:
        intent = session.execute(select(IssuanceIntent).order_by(IssuanceIntent.id.desc())).scalars().first()
        assert intent is not None and intent.state == "failed" and "pkilint" in (intent.error or "")
        assert intent.tbs is None
        assert (
            session.execute(
                select(CertificateRecord).where(CertificateRecord.serial == intent.serial)
            ).first()
            is None
        )
        last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
        assert last is not None and last.result == "failure" and last.action == "certificate.issue"


def test_process_killed_between_intent_and_signature_leaves_intent_and_no_certificate(
    deployment: Deployment,
) -> None:
    serial, _ = crash_after_phase_one(deployment)
    with deployment.authority.database.transaction() as session:
        intent = session.execute(select(IssuanceIntent).where(IssuanceIntent.serial == serial)).scalar_one()
        assert intent.state == "linted" and intent.tbs is not None and intent.actor == "crash-test"
        assert (
            session.execute(select(CertificateRecord).where(CertificateRecord.serial == serial)).first()
            is None
        )
    listing = deployment.cli("ca", "list", "--intents")
    assert serial in listing.stdout and "linted" in listing.stdout


def test_a_prepared_issuance_is_redeemed_once_and_the_second_signs_nothing(deployment: Deployment) -> None:
    """Step 5 of docs/ISSUANCE-CYCLE.md: the claim comes before the HSM, so a second redemption is refused
    with the first one's certificate untouched (no second signature for the constraint to catch)."""
    from ca.issuance import complete_issuance, prepare_issuance, subscriber_order

    authority = deployment.authority
    request = parse_request(
        "individual", json.loads((DEMO / "official-nguyen-van-anh.json").read_text("utf-8"))
    )
    order = subscriber_order(authority, CertificateKind.INDIVIDUAL, request, key_in_hsm=True)
    prepared = prepare_issuance(authority, order, GenerateInHsm(KeyAlgorithm.EC_P256), actor="test")
    issued = complete_issuance(authority, prepared, actor="test")
    with deployment.authority.database.transaction() as session:
        entries_before = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(StateConflict, match="redeemed already"):
        complete_issuance(authority, prepared, actor="replay")
    with deployment.authority.database.transaction() as session:
        intent = session.execute(
            select(IssuanceIntent).where(IssuanceIntent.id == prepared.intent_id)
        ).scalar_one()
        stored = session.scalars(
            select(CertificateRecord).where(CertificateRecord.serial == issued.serial_hex)
        ).all()
        entries_after = session.scalar(select(func.count()).select_from(AuditEntry))
    assert intent.state == "done" and len(stored) == 1
    assert entries_after == entries_before  # nothing signed, nothing failed, nothing to audit


def test_renewal_keeps_the_key_adds_three_years_and_leaves_the_old_certificate_valid(
    deployment: Deployment,
) -> None:
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.INDIVIDUAL,
        _official(validity_days=60),  # inside the 90-day renewal window
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="test",
    )
    renewed = renew_certificate(deployment.authority, issued.serial_hex, actor="test")
    old, new = issued.certificate, renewed.certificate
    assert new.serial_number != old.serial_number
    assert new.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == old.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert new.subject == old.subject
    assert new.not_valid_after_utc == add_years(old.not_valid_after_utc, 3)
    with deployment.authority.database.transaction() as session:
        old_record = session.execute(
            select(CertificateRecord).where(CertificateRecord.serial == issued.serial_hex)
        ).scalar_one()
        new_record = session.execute(
            select(CertificateRecord).where(CertificateRecord.serial == renewed.serial_hex)
        ).scalar_one()
        assert old_record.status == "valid" and new_record.renewal_of_id == old_record.id
        assert new_record.key_id == old_record.key_id


def test_renewal_never_adds_more_than_three_years(deployment: Deployment) -> None:
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.INDIVIDUAL,
        _official(validity_days=30),
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="test",
    )
    with pytest.raises(InvalidRequest, match="1 to 3 years"):
        renew_certificate(deployment.authority, issued.serial_hex, actor="test", years=4)


def _short_lived(deployment: Deployment, days: int = 30) -> str:
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.INDIVIDUAL,
        _official(validity_days=days),
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="test",
    )
    return issued.serial_hex


def _renewals_of(deployment: Deployment, serial: str) -> int:
    with deployment.authority.database.transaction() as session:
        old = session.execute(
            select(CertificateRecord).where(CertificateRecord.serial == serial)
        ).scalar_one()
        return len(
            session.execute(
                select(CertificateRecord.id).where(CertificateRecord.renewal_of_id == old.id)
            ).all()
        )


def test_renewal_outside_the_window_is_refused_and_says_when_it_opens(deployment: Deployment) -> None:
    serial = _short_lived(deployment, days=365)
    with pytest.raises(StateConflict, match="can be renewed in its last 90 days, from") as refused:
        renew_certificate(deployment.authority, serial, actor="test")
    assert "chỉ gia hạn được trong 90 ngày cuối" in str(refused.value)
    assert _renewals_of(deployment, serial) == 0
    result = deployment.cli("ca", "renew", serial, check=False)  # five years: far from its end
    assert result.returncode == 5 and result.stderr.startswith("error: certificate "), result.stderr
    assert "last 90 days" in result.stderr and "Traceback" not in result.stderr


def test_a_certificate_is_renewed_once(deployment: Deployment) -> None:
    serial = _short_lived(deployment)
    renewed = renew_certificate(deployment.authority, serial, actor="test", years=1)
    with pytest.raises(StateConflict, match=f"already renewed, by {renewed.serial_hex}"):
        renew_certificate(deployment.authority, serial, actor="test")
    result = deployment.cli("ca", "renew", serial, check=False)
    assert result.returncode == 5 and "a certificate is renewed once" in result.stderr, result.stderr
    assert _renewals_of(deployment, serial) == 1


def test_a_renewal_is_renewed_in_its_own_window_not_at_once(deployment: Deployment) -> None:
    serial = _short_lived(deployment)
    first = renew_certificate(deployment.authority, serial, actor="test", years=1)
    with pytest.raises(StateConflict, match="can be renewed in its last 90 days"):
        renew_certificate(deployment.authority, first.serial_hex, actor="test")
    # The same deployment with a window longer than the renewal's life: the renewal is in its window now.
    wide = dataclasses.replace(
        deployment.authority,
        options=dataclasses.replace(deployment.authority.options, renewal_window_days=800),
    )
    second = renew_certificate(wide, first.serial_hex, actor="test", years=1)
    assert second.certificate.not_valid_after_utc == add_years(first.certificate.not_valid_after_utc, 1)
    assert _renewals_of(deployment, first.serial_hex) == 1
    with pytest.raises(StateConflict, match="already renewed"):
        renew_certificate(wide, serial, actor="test")


def test_renewal_rules_move_with_the_clock(deployment: Deployment) -> None:
    """The window opens 90 days before notAfter, whatever the certificate's life."""
    serial = _short_lived(deployment, days=365)
    with deployment.authority.database.transaction() as session:
        record = session.execute(
            select(CertificateRecord).where(CertificateRecord.serial == serial)
        ).scalar_one()
        end = record.not_after
        far = end + dt.timedelta(days=3650)

        def renewal_end(now: dt.datetime) -> dt.datetime:
            return renewal_not_after(session, record, years=3, window_days=90, issuer_not_after=far, now=now)

        assert renewal_end(end - dt.timedelta(days=90)) == add_years(end, 3)
        with pytest.raises(StateConflict):
            renewal_end(end - dt.timedelta(days=91))


def test_two_renewals_prepared_at_once_store_one(deployment: Deployment) -> None:
    """Both pass the early check; the second is refused when it is stored, and nothing is signed for it."""
    serial = _short_lived(deployment)
    with deployment.authority.database.transaction() as session:
        old = session.execute(
            select(CertificateRecord).where(CertificateRecord.serial == serial)
        ).scalar_one()
    request = parse_request("individual", json.loads(old.request_json))
    certificate = x509.load_der_x509_certificate(old.der)
    key = SubjectKey("hsm", certificate.public_key(), bytes.fromhex(old.key_id or ""))  # type: ignore[arg-type]
    prepared = [
        prepare_issuance(
            deployment.authority,
            subscriber_order(
                deployment.authority,
                CertificateKind.INDIVIDUAL,
                request,
                key_in_hsm=True,
                not_after=add_years(old.not_after, 1),
                renewal_of_id=old.id,
            ),
            key,
            actor="test",
        )
        for _ in range(2)
    ]
    complete_issuance(deployment.authority, prepared[0], actor="test")
    with pytest.raises(StateConflict, match="already renewed"):
        complete_issuance(deployment.authority, prepared[1], actor="test")
    with deployment.authority.database.transaction() as session:
        intent = session.get(IssuanceIntent, prepared[1].intent_id)
        assert intent is not None and intent.state == "failed" and intent.certificate_id is None
    assert _renewals_of(deployment, serial) == 1


def test_change_of_information_issues_a_new_certificate_and_supersedes_the_old(
    deployment: Deployment,
) -> None:
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.INDIVIDUAL,
        _official(),
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="test",
    )
    moved = _official(
        organisation="Sở Tư pháp tỉnh Bắc Ninh",
        province="Bắc Ninh",
        email="nvanh@sotuphap.bacninh.gov.vn",
        requesting_agency="Sở Tư pháp tỉnh Bắc Ninh",
        request_ref="45/STP-TCCB",
    )
    successor = change_information(deployment.authority, issued.serial_hex, moved, actor="test")
    organisations = successor.certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert organisations[0].value == "Sở Tư pháp tỉnh Bắc Ninh"
    with deployment.authority.database.transaction() as session:
        old = session.execute(
            select(CertificateRecord).where(CertificateRecord.serial == issued.serial_hex)
        ).scalar_one()
        assert old.status == "revoked" and old.revocation_reason == "superseded"
        assert old.revoked_at is not None and old.revoked_at <= dt.datetime.now(dt.UTC)
        assert old.superseded_by_id is not None
        new = session.get(CertificateRecord, old.superseded_by_id)
        assert new is not None and new.serial == successor.serial_hex and new.request_ref == "45/STP-TCCB"
    with pytest.raises(StateConflict, match="revoked"):
        renew_certificate(deployment.authority, issued.serial_hex, actor="test")


def test_a_change_of_information_supersedes_every_valid_certificate_of_the_key(
    deployment: Deployment,
) -> None:
    """A renewal leaves the renewed certificate valid, with the same key and the same (old) information:
    changing the information of either one must not leave the other vouching for the old organisation
    with the holder's key until it expires (the official moved; the old agency's name still signs)."""
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.INDIVIDUAL,
        _official(validity_days=60),  # inside the renewal window
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="test",
    )
    renewed = renew_certificate(deployment.authority, issued.serial_hex, actor="test", years=1)
    moved = _official(organisation="Sở Tư pháp tỉnh Bắc Ninh", province="Bắc Ninh", request_ref="46/STP-TCCB")
    successor = change_information(deployment.authority, renewed.serial_hex, moved, actor="test")
    with deployment.authority.database.transaction() as session:
        key_id = session.execute(
            select(CertificateRecord.key_id).where(CertificateRecord.serial == successor.serial_hex)
        ).scalar_one()
        valid = (
            session.execute(
                select(CertificateRecord.serial).where(
                    CertificateRecord.key_id == key_id, CertificateRecord.status == "valid"
                )
            )
            .scalars()
            .all()
        )
    assert valid == [successor.serial_hex]


def test_the_service_seal_is_neither_renewed_nor_changed_as_an_agencys_seal() -> None:
    """The service's own seal is an organisation certificate, so the console offered its registration
    officers the change form: one officer (no approvals by default) could revoke it as superseded, which
    stops every validation report being sealed, and have the service's key certified under any
    organisation's name. It rolls over by `govsign ca rollover seal` only."""
    own = make_deployment("seal-change", None)
    seal = service_seal_key(own.authority)
    assert seal is not None
    request = parse_request(
        "organisation", {**json.loads(_seal_request(own, seal.serial)), "name": "Công ty giả mạo"}
    )
    with pytest.raises(StateConflict, match="rollover seal"):
        change_information(own.authority, seal.serial, request, actor="officer")
    with pytest.raises(StateConflict, match="rollover seal"):
        renew_certificate(own.authority, seal.serial, actor="officer")
    assert service_seal_key(own.authority) is not None


def _seal_request(deployment: Deployment, serial: str) -> str:
    with deployment.authority.database.transaction() as session:
        return session.execute(
            select(CertificateRecord.request_json).where(CertificateRecord.serial == serial)
        ).scalar_one()
