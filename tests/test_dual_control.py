"""Dual control (EJBCA semantics) from the CLI and over HTTP: one approver is not enough, nobody approves
their own request, an expired request does nothing, one rejection rejects, the action runs once; requests
held by an older version still run. Who may vote, and lowering a policy: test_dual_control_voters.py.

The deployment, its staff and the helpers: tests/dual_control_fixtures.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from ca.activation import CredentialState
from ca.signing_keys import subscriber_key
from ca.store import utc_now
from govsign.access.approval_payloads import PAYLOADS, ActionExecutor
from govsign.access.approvals import ApprovalRequest
from govsign.access.controlled_actions import executors
from tests.conftest import DEMO, Deployment, administrator_token, issue_in_hsm, running_server
from tests.dual_control_fixtures import (
    Person,
    approval_audit_actions,
    audit_rows,
    certificate_status,
    issue_seal,
    pending_id,
    put_in_force,
)
from tests.pdf_corpus import foreign_ca


@pytest.fixture(scope="module")
def server(dual: Deployment) -> Iterator[str]:
    with running_server(dual) as base:
        yield base


def test_a_seal_revocation_waits_for_two_other_people_and_runs_once(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    dual.cli("approvals", "policy", "certificate.revoke.organisation", "--required", "2", user="lan")
    seal = issue_seal(dual)
    approval = pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
    assert certificate_status(dual, seal) == "valid"
    own = dual.cli("approvals", "approve", approval, check=False, user="hoa")
    assert own.returncode != 0 and "nobody approves or rejects their own request" in own.stderr
    first = dual.cli("approvals", "approve", approval, user="lan")
    assert "\tpending\t1/2\t" in first.stdout and certificate_status(dual, seal) == "valid"
    twice = dual.cli("approvals", "approve", approval, check=False, user="lan")
    assert twice.returncode != 0 and "already voted" in twice.stderr
    second = dual.cli("approvals", "approve", approval, user="minh")
    assert "\texecuted\t2/2\t" in second.stdout and certificate_status(dual, seal) == "revoked"
    late = dual.cli("approvals", "approve", approval, check=False, user="nam")
    assert late.returncode == 5 and "is executed; it takes no more votes" in late.stderr
    assert approval_audit_actions(dual, approval) == [
        "approval.request",
        "approval.approve",
        "approval.approve",
        "approval.execute",
    ]
    revocations = audit_rows(dual, "action = 'certificate.revoke' AND object = :o", o=f"certificate:{seal}")
    hoa, lan, minh = staff["hoa"].actor, staff["lan"].actor, staff["minh"].actor
    assert [actor for _, actor in revocations] == [f"{hoa} (approved by {lan}, {minh})"]


def test_an_individual_revocation_never_waits(dual: Deployment) -> None:
    official = issue_in_hsm(dual)
    dual.cli("ca", "revoke", official, "--reason", "retired")
    assert certificate_status(dual, official) == "revoked"


def test_an_expired_request_does_nothing(dual: Deployment, staff: dict[str, Person]) -> None:
    put_in_force(dual, "certificate.revoke.organisation", 1, 1)
    seal = issue_seal(dual)
    approval = pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
    with dual.authority.database.engine.begin() as connection:  # an hour and a minute later
        connection.execute(
            text("UPDATE approval_requests SET expires_at = :t WHERE id = :i"),
            {"t": "2000-01-01 00:00:00.000000+00:00", "i": approval},
        )
    late = dual.cli("approvals", "approve", approval, check=False, user="lan")
    assert late.returncode == 5 and "expired" in late.stderr
    assert certificate_status(dual, seal) == "valid"
    assert "expired" in dual.cli("approvals", "list", "--all").stdout


def test_one_rejection_rejects(dual: Deployment, staff: dict[str, Person]) -> None:
    put_in_force(dual, "certificate.revoke.organisation", 2)
    seal = issue_seal(dual)
    approval = pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
    dual.cli("approvals", "approve", approval, user="lan")
    rejected = dual.cli("approvals", "reject", approval, user="minh")
    assert "\trejected\t" in rejected.stdout
    after = dual.cli("approvals", "approve", approval, check=False, user="nam")
    assert after.returncode == 5 and certificate_status(dual, seal) == "valid"


def test_an_agency_certificate_is_issued_when_approved(dual: Deployment, staff: dict[str, Person]) -> None:
    put_in_force(dual, "certificate.issue.organisation", 1)
    request_file = str(DEMO / "seal-so-tu-phap-ha-noi.json")
    held = dual.cli(
        "ca", "issue", "--profile", "organisation", "--subject", request_file, check=False, user="hoa"
    )
    approval = pending_id(held)
    approved = dual.cli("approvals", "approve", approval, user="lan")
    outcome = json.loads(approved.stdout.split("outcome: ", 1)[1])
    assert "Sở Tư pháp" in outcome["subject"]
    assert certificate_status(dual, outcome["serial"]) == "valid"
    # the clerk chooses the seal's PIN with the set-up code the requester received while it was held
    setup_code = held.stdout.strip().splitlines()[-2].rsplit(" ", 1)[-1]
    key_id = subscriber_key(dual.authority, outcome["serial"]).key_id
    dual.authority.activation_module().take_control(key_id, setup_code, "246810 seal", actor="clerk")
    put_in_force(dual, "certificate.issue.organisation", 0)


def test_a_rejected_issuance_leaves_no_key_waiting_for_a_holder(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    """The key of a held seal issuance is made at the request (so that its set-up code reaches the
    requester); a rejection destroys it, so nothing is left that someone could take control of."""
    put_in_force(dual, "certificate.issue.organisation", 1)
    request_file = str(DEMO / "seal-so-tu-phap-ha-noi.json")
    held = dual.cli(
        "ca", "issue", "--profile", "organisation", "--subject", request_file, check=False, user="hoa"
    )
    approval = pending_id(held)
    assert "set-up code for the holder" in held.stdout
    with dual.authority.database.transaction() as session:
        payload = session.scalar(select(ApprovalRequest.payload).where(ApprovalRequest.id == approval))
    key_id = json.loads(payload or "{}")["key_id"]
    assert dual.authority.activation_module().status(key_id).state is CredentialState.AWAITING_HOLDER
    dual.cli("approvals", "reject", approval, user="lan")
    assert dual.authority.activation_module().status(key_id).state is CredentialState.DESTROYED
    put_in_force(dual, "certificate.issue.organisation", 0)


def test_a_seals_change_of_information_waits_then_its_clerk_signs_with_the_new_one(
    dual: Deployment, staff: dict[str, Person], tmp_path: Path
) -> None:
    """A change of information issues a new seal certificate: held like issuing one (`ca change-info`
    exits 3), and once approved the agency clerk's account is on the new certificate."""
    put_in_force(dual, "certificate.change.organisation", 1)
    seal = issue_seal(dual)
    clerk = dual.cli("account", "create-clerk", "--cert", seal).stdout.split(":")[0].split()[-1]
    changed = {**json.loads((DEMO / "seal-so-tu-phap-ha-noi.json").read_text("utf-8")), "request_ref": "9/QĐ"}
    request = tmp_path / "seal.json"
    request.write_text(json.dumps(changed, ensure_ascii=False), "utf-8")
    held = dual.cli("ca", "change-info", seal, "--subject", str(request), check=False, user="hoa")
    assert held.returncode == 3, held.stderr
    assert certificate_status(dual, seal) == "valid"
    dual.cli("approvals", "approve", pending_id(held), user="nam")
    assert certificate_status(dual, seal) == "revoked"
    with dual.authority.database.engine.begin() as connection:
        moved_to = connection.execute(
            text("SELECT certificate_serial FROM accounts WHERE id = :i"), {"i": int(clerk)}
        ).scalar_one()
    assert moved_to != seal and certificate_status(dual, moved_to) == "valid"
    put_in_force(dual, "certificate.change.organisation", 0)


def test_over_http_officers_vote_and_the_action_runs_on_the_last_approval(
    dual: Deployment, server: str
) -> None:
    put_in_force(dual, "certificate.revoke.organisation", 2)
    officers = [{"Authorization": f"Bearer {administrator_token(dual, 'ra_officer')}"} for _ in range(2)]
    admin = {"Authorization": f"Bearer {administrator_token(dual, 'ca_admin')}"}
    auditor = {"Authorization": f"Bearer {administrator_token(dual, 'auditor')}"}
    seal = issue_seal(dual)
    held = httpx.post(
        f"{server}/api/v1/certificates/{seal}/revoke",
        json={"reason": "agency-dissolved"},
        headers=officers[0],
    )
    assert held.status_code == 202 and held.json()["state"] == "pending", held.text
    approval = held.json()["approval_id"]
    url = f"{server}/api/v1/approvals/{approval}"
    assert httpx.post(f"{url}/approve", headers=officers[0]).status_code == 403  # their own
    assert httpx.post(f"{url}/approve", headers=auditor).status_code == 403
    assert httpx.post(f"{url}/approve", headers=officers[1]).json()["state"] == "pending"
    done = httpx.post(f"{url}/approve", headers=admin)
    assert done.status_code == 200 and done.json()["state"] == "executed", done.text
    assert certificate_status(dual, seal) == "revoked"
    assert httpx.post(f"{url}/approve", headers=admin).status_code == 409
    listed = httpx.get(f"{server}/api/v1/approvals", params={"every": "true"}, headers=auditor).json()
    assert any(item["approval_id"] == approval and item["state"] == "executed" for item in listed)


def test_trust_anchors_wait_for_another_ca_admin(dual: Deployment, server: str, tmp_path: object) -> None:
    admins = [{"Authorization": f"Bearer {administrator_token(dual, 'ca_admin')}"} for _ in range(2)]
    officer = {"Authorization": f"Bearer {administrator_token(dual, 'ra_officer')}"}
    put_in_force(dual, "trust.add", 0)
    policy = httpx.put(
        f"{server}/api/v1/approvals/policies/trust.add", json={"required": 1}, headers=admins[0]
    )
    assert policy.status_code == 200
    held = httpx.post(
        f"{server}/api/v1/trust-anchors",
        data={"name": "CA nước ngoài (chờ duyệt)"},
        files={"certificate": ("root.pem", foreign_ca().root_pem)},
        headers=admins[0],
    )
    assert held.status_code == 202, held.text
    url = f"{server}/api/v1/approvals/{held.json()['approval_id']}"
    refused = httpx.post(f"{url}/approve", headers=officer)
    assert refused.status_code == 403 and "only ca_admin" in refused.json()["detail"]
    assert not any(
        e["name"] == "CA nước ngoài (chờ duyệt)" for e in httpx.get(f"{server}/api/v1/trust-anchors").json()
    )
    assert httpx.post(f"{url}/approve", headers=admins[1]).json()["state"] == "executed"
    assert any(
        e["name"] == "CA nước ngoài (chờ duyệt)" for e in httpx.get(f"{server}/api/v1/trust-anchors").json()
    )


def test_the_root_crl_is_a_ceremony_act_under_dual_control(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    put_in_force(dual, "ca.root-crl", 1)
    approval = pending_id(dual.cli("ca", "root-crl", check=False, user="hoa"))
    approved = dual.cli("approvals", "approve", approval, user="lan")
    outcome = json.loads(approved.stdout.split("outcome: ", 1)[1])
    assert outcome["crl_number"] >= 2 and "\texecuted\t" in approved.stdout
    put_in_force(dual, "ca.root-crl", 0)


# -- rows held by an older version still run (issue 10, item 3) -----------------------------------------


# Payloads as govsign wrote them by hand before they had models (json.dumps of a dict).
OLD_PAYLOADS: dict[str, dict[str, object]] = {
    "certificate.revoke.organisation": {
        "serial": "1f2e",
        "reason": "CESSATION_OF_OPERATION",
        "invalidity_date": "2025-03-01T08:00:00+00:00",
    },
    "certificate.issue.organisation": {
        "profile": "organisation",
        "request": {"name": "Sở Tư pháp", "requesting_agency": "UBND"},
        "csr": None,
        "key_type": "ec-p256",
    },  # before keys were made at the request: no key_id
    "certificate.issue.device": {
        "profile": "device",
        "request": {"name": "máy chủ"},
        "csr": "MIIBAQ==",
        "key_type": "rsa3072",
        "key_id": None,
    },
    "trust.add": {
        "certificate": "MIIBAQ==",
        "name": "CA khác",
        "role": "anchor",
        "trusted_from": "2024-01-01T00:00:00+00:00",
        "trusted_until": None,
    },
    "certificate.change.organisation": {"serial": "1f", "request": {"name": "Sở Tư pháp"}, "csr": None},
    "certificate.change.device": {"serial": "2e", "request": {"name": "máy chủ"}, "csr": "MIIBAQ=="},
    "trust.remove": {"entry_id": 3, "sha256": "ab" * 32, "name": "CA khác"},
    "ca.root-crl": {},
    "approval.policy": {"action": "trust.add", "required": 0, "valid_hours": 24, "from": [2, 48]},
}


def test_every_old_payload_reads_and_is_stored_again_in_the_same_shape() -> None:
    assert set(OLD_PAYLOADS) == set(PAYLOADS)
    for action, old in OLD_PAYLOADS.items():
        stored = PAYLOADS[action].model_validate_json(json.dumps(old, ensure_ascii=False))
        expected = {**old, "key_id": old.get("key_id")} if action.startswith("certificate.issue") else old
        assert json.loads(stored.model_dump_json()) == expected, action


def test_each_executor_reads_the_payload_its_action_stores() -> None:
    runners = executors(lambda actor: pytest.fail("not run"))
    models = {action: run.payload for action, run in runners.items() if isinstance(run, ActionExecutor)}
    assert models == PAYLOADS


def test_a_revocation_held_by_an_older_version_runs_when_approved(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    seal, now = issue_seal(dual), utc_now()
    old = {"serial": seal, "reason": "CESSATION_OF_OPERATION", "invalidity_date": now.isoformat()}
    with dual.authority.database.transaction() as session:
        session.add(
            ApprovalRequest(
                id="0ld5hape0ld5hape",
                action="certificate.revoke.organisation",
                summary=f"revoke {seal}",
                payload=json.dumps(old, ensure_ascii=False),
                requested_by=staff["nam"].actor,
                required=1,
                created_at=now,
                expires_at=now + dt.timedelta(hours=1),
                state="pending",
            )
        )
    approved = dual.cli("approvals", "approve", "0ld5hape0ld5hape", user="hoa")
    assert "\texecuted\t" in approved.stdout, approved.stdout
    outcome = json.loads(approved.stdout.split("outcome: ", 1)[1])
    assert outcome == {"serial": seal, "status": "revoked", "reason": "cessationOfOperation"}
    assert certificate_status(dual, seal) == "revoked"
