"""OCSP at national scale (issue 14): an answer pre-signed at issuance, re-signed from its half-life by
index walks, expired certificates left out, a missing answer found by the sweep, a revocation that leaves no
stored "good" behind, and a cache of bounded size."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from asn1crypto import ocsp as asn1_ocsp
from sqlalchemy import delete, func, select

from ca import clock, ocsp
from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, issue_certificate
from ca.ocsp import RESPONSE_VALIDITY, OcspResponder
from ca.ocsp_refresh import OcspRefresher
from ca.profiles import CertificateKind, parse_request
from ca.reasons import RevocationReason
from ca.revocation import revoke_certificate
from ca.store import CertificateRecord, OcspChange, OcspResponse
from tests.conftest import DEMO, Deployment, make_deployment

OFFICIAL = json.loads((DEMO / "official-nguyen-van-anh.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def own() -> Deployment:
    """A deployment of this module's own: its tests move the clock past every certificate's expiry."""
    return make_deployment("ocsp-freshness", None)


def _issue(deployment: Deployment) -> str:
    issued = issue_certificate(
        deployment.authority,
        CertificateKind.INDIVIDUAL,
        parse_request("individual", OFFICIAL),
        GenerateInHsm(KeyAlgorithm.EC_P256),
        actor="ocsp-test",
    )
    return issued.serial_hex


def _stored(deployment: Deployment, serial: str) -> OcspResponse | None:
    with deployment.authority.database.transaction() as session:
        return session.execute(select(OcspResponse).where(OcspResponse.serial == serial)).scalar_one_or_none()


def _status(stored: OcspResponse) -> str:
    single = asn1_ocsp.OCSPResponse.load(stored.der).basic_ocsp_response["tbs_response_data"]["responses"][0]
    return str(single["cert_status"].name)


def test_issuance_pre_signs_the_new_certificates_answer(deployment: Deployment) -> None:
    """No refresh round ran: the answer exists because issuance signed it, valid four days."""
    serial = _issue(deployment)
    stored = _stored(deployment, serial)
    assert stored is not None and stored.status == "valid" and _status(stored) == "good"
    assert stored.next_update - stored.this_update == RESPONSE_VALIDITY


def test_a_revocation_leaves_the_revoked_answer_stored_and_announced(deployment: Deployment) -> None:
    serial = _issue(deployment)
    revoke_certificate(
        deployment.authority, serial, RevocationReason.CESSATION_OF_OPERATION, actor="ocsp-test"
    )
    stored = _stored(deployment, serial)
    assert stored is not None and stored.status == "revoked" and _status(stored) == "revoked"
    with deployment.authority.database.transaction() as session:
        changes = session.scalar(select(func.count()).where(OcspChange.serial == serial))
    assert changes == 2  # one in the revocation's own transaction (the "good" deleted), one re-signed


def test_refresh_re_signs_from_half_life_on_and_sweeps_up_a_missing_answer(own: Deployment) -> None:
    serial = _issue(own)
    first = _stored(own, serial)
    assert first is not None
    refresher = OcspRefresher(OcspResponder(own.authority))
    with clock.frozen() as now:
        now.advance(RESPONSE_VALIDITY / 2 - dt.timedelta(hours=1))
        refresher.refresh_due()
        unchanged = _stored(own, serial)
        assert unchanged is not None and unchanged.this_update == first.this_update
        now.advance(dt.timedelta(hours=2))
        assert refresher.refresh_due() >= 1
        renewed = _stored(own, serial)
        assert renewed is not None and renewed.this_update > first.this_update
        with own.authority.database.transaction() as session:  # an HSM outage at issuance left none
            session.execute(delete(OcspResponse).where(OcspResponse.serial == serial))
        refresher.refresh_due()
        swept = _stored(own, serial)
        assert swept is not None and _status(swept) == "good"


def test_refresh_leaves_expired_certificates_out(own: Deployment) -> None:
    serial = _issue(own)
    with own.authority.database.transaction() as session:
        last_expiry = session.scalar(select(func.max(CertificateRecord.not_after)))
    assert last_expiry is not None
    refresher = OcspRefresher(OcspResponder(own.authority))
    with clock.frozen(last_expiry + dt.timedelta(days=1)):
        assert refresher.refresh_due() == 0
    assert _stored(own, serial) is None
    with own.authority.database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OcspResponse)) == 0


def test_the_cache_keeps_a_bounded_number_of_answers(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocsp, "CACHED_RESPONSES", 3)
    responder = OcspResponder(deployment.authority)
    serials = [_issue(deployment) for _ in range(5)]
    issuer = deployment.authority.issuing_ca().id
    for serial in serials:
        assert responder.response_for_serial(serial).next_update is not None
    assert [serial for serial in serials if responder.cached(issuer, serial)] == serials[-3:]


def test_a_refresh_signed_before_a_revocation_does_not_store_good_over_it(deployment: Deployment) -> None:
    """The refresh reads a chunk of certificates, signs their answers (seconds for 200 in an HSM), then
    stores them: a revocation committed meanwhile must not be overwritten by the "good" signed from what it
    read, or every process serves "good" for the revoked certificate until the next refresh, two days on."""
    serial = _issue(deployment)
    responder = OcspResponder(deployment.authority)
    with deployment.authority.database.transaction() as session:
        read_before = session.execute(
            select(CertificateRecord).where(CertificateRecord.serial == serial)
        ).scalar_one()
    revoke_certificate(deployment.authority, serial, RevocationReason.KEY_COMPROMISE, actor="ocsp-test")
    responder.presign([read_before])  # the chunk, signed from the rows read before the revocation
    stored = _stored(deployment, serial)
    assert stored is not None and stored.status == "revoked" and _status(stored) == "revoked"
    served = OcspResponder(deployment.authority).response_for_serial(serial)  # any other process
    single = asn1_ocsp.OCSPResponse.load(served.der).basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "revoked"
    cached = responder.cached(deployment.authority.issuing_ca().id, serial)
    assert cached is None or cached == served
