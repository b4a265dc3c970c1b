"""Dual control (EJBCA semantics) from the CLI and over HTTP: one approver is not enough, nobody approves
their own request, an expired request does nothing, one rejection rejects, and the action runs once.

A deployment of its own: the policies set here would hold other tests' actions.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import (
    DEMO,
    Deployment,
    administrator_token,
    issue_in_hsm,
    make_deployment,
    running_server,
)
from tests.pdf_corpus import foreign_ca

EXIT_PENDING = 3


@pytest.fixture(scope="module")
def dual() -> Deployment:
    return make_deployment("dual", None)


@pytest.fixture(scope="module")
def server(dual: Deployment) -> Iterator[str]:
    with running_server(dual) as base:
        yield base


def _seal(deployment: Deployment) -> str:
    return issue_in_hsm(deployment, "organisation", "seal-so-tu-phap-ha-noi.json")


def _status(deployment: Deployment, serial: str) -> str:
    with deployment.authority.database.engine.begin() as connection:
        return str(
            connection.execute(
                text("SELECT status FROM certificates WHERE serial = :s"), {"s": serial}
            ).scalar()
        )


def _pending_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == EXIT_PENDING, result
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("pending "), result.stdout
    return last.removeprefix("pending ")


def _audit_actions(deployment: Deployment, approval_id: str) -> list[str]:
    with deployment.authority.database.engine.begin() as connection:
        rows = connection.execute(
            text("SELECT action FROM audit_log WHERE object = :o ORDER BY seq"),
            {"o": f"approval:{approval_id}"},
        )
        return list(rows.scalars())


def test_a_seal_revocation_waits_for_two_other_people_and_runs_once(dual: Deployment) -> None:
    dual.cli("approvals", "policy", "certificate.revoke.organisation", "--required", "2", user="hoa")
    seal = _seal(dual)
    approval = _pending_id(dual.cli("ca", "revoke", seal, "--reason", "retired", check=False, user="hoa"))
    assert _status(dual, seal) == "valid"
    own = dual.cli("approvals", "approve", approval, check=False, user="hoa")
    assert own.returncode != 0 and "nobody approves or rejects their own request" in own.stderr
    first = dual.cli("approvals", "approve", approval, user="lan")
    assert "\tpending\t1/2\t" in first.stdout and _status(dual, seal) == "valid"
    twice = dual.cli("approvals", "approve", approval, check=False, user="lan")
    assert twice.returncode != 0 and "already voted" in twice.stderr
    second = dual.cli("approvals", "approve", approval, user="minh")
    assert "\texecuted\t2/2\t" in second.stdout and _status(dual, seal) == "revoked"
    late = dual.cli("approvals", "approve", approval, check=False, user="nam")
    assert late.returncode == 5 and "is executed; it takes no more votes" in late.stderr
    assert _audit_actions(dual, approval) == [
        "approval.request",
        "approval.approve",
        "approval.approve",
        "approval.execute",
    ]
    with dual.authority.database.engine.begin() as connection:
        revocations = (
            connection.execute(
                text("SELECT actor FROM audit_log WHERE action = 'certificate.revoke' AND object = :o"),
                {"o": f"certificate:{seal}"},
            )
            .scalars()
            .all()
        )
    assert revocations == ["cli:hoa (approved by cli:lan, cli:minh)"]


def test_an_individual_revocation_never_waits(dual: Deployment) -> None:
    official = issue_in_hsm(dual)
    dual.cli("ca", "revoke", official, "--reason", "retired")
    assert _status(dual, official) == "revoked"


def test_an_expired_request_does_nothing(dual: Deployment) -> None:
    dual.cli("approvals", "policy", "certificate.revoke.organisation", "--required", "1", "--hours", "1")
    seal = _seal(dual)
    approval = _pending_id(dual.cli("ca", "revoke", seal, "--reason", "retired", check=False, user="hoa"))
    with dual.authority.database.engine.begin() as connection:  # an hour and a minute later
        connection.execute(
            text("UPDATE approval_requests SET expires_at = :t WHERE id = :i"),
            {"t": "2000-01-01 00:00:00.000000+00:00", "i": approval},
        )
    late = dual.cli("approvals", "approve", approval, check=False, user="lan")
    assert late.returncode == 5 and "expired" in late.stderr
    assert _status(dual, seal) == "valid"
    assert "expired" in dual.cli("approvals", "list", "--all").stdout


def test_one_rejection_rejects(dual: Deployment) -> None:
    dual.cli("approvals", "policy", "certificate.revoke.organisation", "--required", "2")
    seal = _seal(dual)
    approval = _pending_id(dual.cli("ca", "revoke", seal, "--reason", "retired", check=False, user="hoa"))
    dual.cli("approvals", "approve", approval, user="lan")
    rejected = dual.cli("approvals", "reject", approval, user="minh")
    assert "\trejected\t" in rejected.stdout
    after = dual.cli("approvals", "approve", approval, check=False, user="nam")
    assert after.returncode == 5 and _status(dual, seal) == "valid"


def test_an_agency_certificate_is_issued_when_approved(dual: Deployment) -> None:
    dual.cli("approvals", "policy", "certificate.issue.organisation", "--required", "1")
    request_file = str(DEMO / "seal-so-tu-phap-ha-noi.json")
    held = dual.cli(
        "ca", "issue", "--profile", "organisation", "--subject", request_file, check=False, user="hoa"
    )
    approval = _pending_id(held)
    approved = dual.cli("approvals", "approve", approval, user="lan")
    outcome = json.loads(approved.stdout.split("outcome: ", 1)[1])
    assert "Sở Tư pháp" in outcome["subject"]
    assert _status(dual, outcome["serial"]) == "valid"
    dual.cli("approvals", "policy", "certificate.issue.organisation", "--required", "0")


def test_over_http_officers_vote_and_the_action_runs_on_the_last_approval(
    dual: Deployment, server: str
) -> None:
    dual.cli("approvals", "policy", "certificate.revoke.organisation", "--required", "2")
    officers = [{"Authorization": f"Bearer {administrator_token(dual, 'ra_officer')}"} for _ in range(2)]
    admin = {"Authorization": f"Bearer {administrator_token(dual, 'ca_admin')}"}
    auditor = {"Authorization": f"Bearer {administrator_token(dual, 'auditor')}"}
    seal = _seal(dual)
    held = httpx.post(
        f"{server}/api/v1/certificates/{seal}/revoke", json={"reason": "retired"}, headers=officers[0]
    )
    assert held.status_code == 202 and held.json()["state"] == "pending", held.text
    approval = held.json()["approval_id"]
    url = f"{server}/api/v1/approvals/{approval}"
    assert httpx.post(f"{url}/approve", headers=officers[0]).status_code == 403  # their own
    assert httpx.post(f"{url}/approve", headers=auditor).status_code == 403
    assert httpx.post(f"{url}/approve", headers=officers[1]).json()["state"] == "pending"
    done = httpx.post(f"{url}/approve", headers=admin)
    assert done.status_code == 200 and done.json()["state"] == "executed", done.text
    assert _status(dual, seal) == "revoked"
    assert httpx.post(f"{url}/approve", headers=admin).status_code == 409
    listed = httpx.get(f"{server}/api/v1/approvals", params={"every": "true"}, headers=auditor).json()
    assert any(item["approval_id"] == approval and item["state"] == "executed" for item in listed)


def test_trust_anchors_wait_for_another_ca_admin(dual: Deployment, server: str, tmp_path: object) -> None:
    admins = [{"Authorization": f"Bearer {administrator_token(dual, 'ca_admin')}"} for _ in range(2)]
    officer = {"Authorization": f"Bearer {administrator_token(dual, 'ra_officer')}"}
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


def test_the_root_crl_is_a_ceremony_act_under_dual_control(dual: Deployment) -> None:
    dual.cli("approvals", "policy", "ca.root-crl", "--required", "1")
    approval = _pending_id(dual.cli("ca", "root-crl", check=False, user="hoa"))
    approved = dual.cli("approvals", "approve", approval, user="lan")
    outcome = json.loads(approved.stdout.split("outcome: ", 1)[1])
    assert outcome["crl_number"] >= 2 and "\texecuted\t" in approved.stdout
    dual.cli("approvals", "policy", "ca.root-crl", "--required", "0")
