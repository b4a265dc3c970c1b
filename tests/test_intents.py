"""Issuance intents a crash left (issue 14): listed, resolved by hand or by `serve`'s maintenance, their
keys destroyed and the resolution audited; an intent young enough to belong to a live issuance is refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from ca import clock, revocation
from ca.activation.records import CredentialState
from ca.errors import HsmError
from ca.intents import MIN_AGE, STALE_AFTER, Resolution, resolve_intent
from ca.profiles import parse_request
from ca.signing_keys import subscriber_key
from ca.status import StatusServices
from ca.store import AuditEntry, IssuanceIntent
from tests.conftest import DEMO, Deployment, issue_in_hsm, make_deployment
from tests.crashed_issuance import crash_after_phase_one


def _intent(deployment: Deployment, serial: str) -> IssuanceIntent:
    with deployment.authority.database.transaction() as session:
        return session.execute(select(IssuanceIntent).where(IssuanceIntent.serial == serial)).scalar_one()


def test_a_young_intent_is_listed_and_refused_then_abandoned_with_its_credential(
    deployment: Deployment,
) -> None:
    serial, key_id = crash_after_phase_one(deployment)
    intent_id = _intent(deployment, serial).id
    listing = deployment.cli("ca", "intents")
    assert serial in listing.stdout and key_id in listing.stdout
    young = deployment.cli("ca", "intents", "resolve", str(intent_id), check=False)
    assert young.returncode == 5 and "may still be running" in young.stderr, young.stderr
    with clock.frozen() as now:
        now.advance(MIN_AGE + dt.timedelta(seconds=1))
        resolved = resolve_intent(deployment.authority, intent_id, actor="operator")
    assert resolved.resolution is Resolution.ABANDONED and resolved.key_destroyed
    assert _intent(deployment, serial).state == "failed"
    status = deployment.authority.activation_module().status(key_id)
    assert status.state is CredentialState.DESTROYED
    with deployment.authority.database.transaction() as session:
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.object == f"intent:{intent_id}")
        ).scalar_one()
        assert entry.action == "certificate.intent-resolve" and '"abandoned"' in entry.details
    again = deployment.cli("ca", "intents", "resolve", str(intent_id), check=False)
    assert again.returncode == 5 and "already failed" in again.stderr
    assert serial not in deployment.cli("ca", "intents").stdout


def test_an_abandoned_intents_service_key_leaves_the_token(deployment: Deployment) -> None:
    serial, key_id = crash_after_phase_one(deployment, service_key=True)
    token = deployment.authority.token
    token.public_key(bytes.fromhex(key_id))  # there, before
    with clock.frozen() as now:
        now.advance(MIN_AGE + dt.timedelta(seconds=1))
        resolve_intent(deployment.authority, _intent(deployment, serial).id, actor="operator")
    with pytest.raises(HsmError):
        token.public_key(bytes.fromhex(key_id))


def test_maintenance_resolves_intents_untouched_for_an_hour() -> None:
    """In a deployment of its own: the round resolves every stale intent it finds."""
    own = make_deployment("intents", None)
    serial, _ = crash_after_phase_one(own)
    services = StatusServices(own.authority)
    with clock.frozen() as now:
        now.advance(STALE_AFTER - dt.timedelta(minutes=1))
        assert services.run_maintenance("test-a").intents_resolved == 0
        now.advance(dt.timedelta(minutes=2))
        services.run_maintenance("test-a")  # the lease holder; one round at a time
        assert _intent(own, serial).state == "failed"


def test_an_unknown_intent_is_not_found(deployment: Deployment) -> None:
    missing = deployment.cli("ca", "intents", "resolve", "987654321", check=False)
    assert missing.returncode == 4 and "no issuance intent" in missing.stderr


def test_an_abandoned_change_of_information_keeps_the_key_its_valid_certificate_carries(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renewal's or a change of information's intent names the holder's existing key: abandoning the
    intent must not shred the key of the certificate that is still valid (nor the maintenance round do it
    an hour later), or one stuck issuance silently takes every official's signing key it touched."""
    serial = issue_in_hsm(deployment)
    key_id = subscriber_key(deployment.authority, serial).key_id

    def dies(*_: object, **__: object) -> None:
        raise RuntimeError("the process died between the two phases")

    monkeypatch.setattr(revocation, "complete_issuance", dies)
    request = parse_request(
        "individual",
        {
            **json.loads((DEMO / "official-nguyen-van-anh.json").read_text("utf-8")),
            "email": "moved@example.gov.vn",
        },
    )
    with pytest.raises(RuntimeError):
        revocation.change_information(deployment.authority, serial, request, actor="officer")
    with deployment.authority.database.transaction() as session:
        stuck = session.execute(
            select(IssuanceIntent).where(IssuanceIntent.key_id == key_id, IssuanceIntent.state == "linted")
        ).scalar_one()
    with clock.frozen() as now:
        now.advance(MIN_AGE + dt.timedelta(seconds=1))
        resolved = resolve_intent(deployment.authority, stuck.id, actor="operator")
    assert resolved.resolution is Resolution.ABANDONED and not resolved.key_destroyed
    status = deployment.authority.activation_module().status(key_id)
    assert status.state is CredentialState.ACTIVE
