"""Dual control (EJBCA semantics) from the CLI and over HTTP: one approver is not enough, nobody approves
their own request (whichever face they asked and voted through), an expired request does nothing, one
rejection rejects, the action runs once, and a policy in force is lowered only with other people's votes.

A deployment of its own: the policies set here would hold other tests' actions. Its administrators are
mapped to the OS users the CLI runs as (``user=``), so the same person is the same record on every face.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest
from sqlalchemy import select, text

from ca.activation import CredentialState
from ca.signing_keys import subscriber_key
from ca.store import utc_now
from govsign.access.approval_payloads import PAYLOADS, ActionExecutor
from govsign.access.approvals import ApprovalPolicy, ApprovalRequest
from govsign.access.controlled_actions import executors
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
EXIT_NOT_AUTHORISED = 8
PASSWORD = "một mật khẩu đủ dài"


@dataclass(frozen=True)
class Person:
    """An administrator mapped to an OS user: the actor the audit log names, and their API token."""

    os_user: str
    actor: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def dual() -> Deployment:
    return make_deployment("dual", None)


@pytest.fixture(scope="module")
def server(dual: Deployment) -> Iterator[str]:
    with running_server(dual) as base:
        yield base


@pytest.fixture(scope="module")
def staff(dual: Deployment) -> dict[str, Person]:
    """Hoa and Nam are RA officers, Lan, Minh and Tuan ca_admins, each on the CLI as their OS user."""
    roles = {
        "hoa": "ra_officer",
        "lan": "ca_admin",
        "minh": "ca_admin",
        "nam": "ra_officer",
        "tuan": "ca_admin",
    }
    people = {}
    for user, role in roles.items():
        created = dual.cli("admin", "create", "--name", user.title(), "--role", role, "--os-user", user)
        first, *_, token = created.stdout.strip().splitlines()
        admin_id = first.split(":")[0].removeprefix("administrator ")
        people[user] = Person(user, f"admin:{admin_id}:{user.title()}", token)
    return people


def _in_force(deployment: Deployment, action: str, required: int, hours: int = 24) -> None:
    """The policy an earlier (approved) change left in force: set up directly, not the subject here."""
    with deployment.authority.database.transaction() as session:
        session.merge(ApprovalPolicy(action=action, required=required, valid_hours=hours, updated_by="setup"))


def _policy(deployment: Deployment, action: str) -> tuple[int, int]:
    with deployment.authority.database.engine.begin() as connection:
        row = connection.execute(
            text("SELECT required, valid_hours FROM approval_policies WHERE action = :a"), {"a": action}
        ).one()
        return int(row[0]), int(row[1])


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


def _audit(deployment: Deployment, where: str, **values: str) -> list[tuple[str, str]]:
    with deployment.authority.database.engine.begin() as connection:
        rows = connection.execute(
            text(f"SELECT action, actor FROM audit_log WHERE {where} ORDER BY seq"), values
        )
        return [(str(action), str(actor)) for action, actor in rows]


def _audit_actions(deployment: Deployment, approval_id: str) -> list[str]:
    return [action for action, _ in _audit(deployment, "object = :o", o=f"approval:{approval_id}")]


def test_a_seal_revocation_waits_for_two_other_people_and_runs_once(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    dual.cli("approvals", "policy", "certificate.revoke.organisation", "--required", "2", user="lan")
    seal = _seal(dual)
    approval = _pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
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
    revocations = _audit(dual, "action = 'certificate.revoke' AND object = :o", o=f"certificate:{seal}")
    hoa, lan, minh = staff["hoa"].actor, staff["lan"].actor, staff["minh"].actor
    assert [actor for _, actor in revocations] == [f"{hoa} (approved by {lan}, {minh})"]


def test_an_individual_revocation_never_waits(dual: Deployment) -> None:
    official = issue_in_hsm(dual)
    dual.cli("ca", "revoke", official, "--reason", "retired")
    assert _status(dual, official) == "revoked"


def test_an_expired_request_does_nothing(dual: Deployment, staff: dict[str, Person]) -> None:
    _in_force(dual, "certificate.revoke.organisation", 1, 1)
    seal = _seal(dual)
    approval = _pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
    with dual.authority.database.engine.begin() as connection:  # an hour and a minute later
        connection.execute(
            text("UPDATE approval_requests SET expires_at = :t WHERE id = :i"),
            {"t": "2000-01-01 00:00:00.000000+00:00", "i": approval},
        )
    late = dual.cli("approvals", "approve", approval, check=False, user="lan")
    assert late.returncode == 5 and "expired" in late.stderr
    assert _status(dual, seal) == "valid"
    assert "expired" in dual.cli("approvals", "list", "--all").stdout


def test_one_rejection_rejects(dual: Deployment, staff: dict[str, Person]) -> None:
    _in_force(dual, "certificate.revoke.organisation", 2)
    seal = _seal(dual)
    approval = _pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
    dual.cli("approvals", "approve", approval, user="lan")
    rejected = dual.cli("approvals", "reject", approval, user="minh")
    assert "\trejected\t" in rejected.stdout
    after = dual.cli("approvals", "approve", approval, check=False, user="nam")
    assert after.returncode == 5 and _status(dual, seal) == "valid"


def test_an_agency_certificate_is_issued_when_approved(dual: Deployment, staff: dict[str, Person]) -> None:
    _in_force(dual, "certificate.issue.organisation", 1)
    request_file = str(DEMO / "seal-so-tu-phap-ha-noi.json")
    held = dual.cli(
        "ca", "issue", "--profile", "organisation", "--subject", request_file, check=False, user="hoa"
    )
    approval = _pending_id(held)
    approved = dual.cli("approvals", "approve", approval, user="lan")
    outcome = json.loads(approved.stdout.split("outcome: ", 1)[1])
    assert "Sở Tư pháp" in outcome["subject"]
    assert _status(dual, outcome["serial"]) == "valid"
    # the clerk chooses the seal's PIN with the set-up code the requester received while it was held
    setup_code = held.stdout.strip().splitlines()[-2].rsplit(" ", 1)[-1]
    key_id = subscriber_key(dual.authority, outcome["serial"]).key_id
    dual.authority.activation_module().take_control(key_id, setup_code, "246810 seal", actor="clerk")
    _in_force(dual, "certificate.issue.organisation", 0)


def test_a_rejected_issuance_leaves_no_key_waiting_for_a_holder(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    """The key of a held seal issuance is made at the request (so that its set-up code reaches the
    requester); a rejection destroys it, so nothing is left that someone could take control of."""
    _in_force(dual, "certificate.issue.organisation", 1)
    request_file = str(DEMO / "seal-so-tu-phap-ha-noi.json")
    held = dual.cli(
        "ca", "issue", "--profile", "organisation", "--subject", request_file, check=False, user="hoa"
    )
    approval = _pending_id(held)
    assert "set-up code for the holder" in held.stdout
    with dual.authority.database.transaction() as session:
        payload = session.scalar(select(ApprovalRequest.payload).where(ApprovalRequest.id == approval))
    key_id = json.loads(payload or "{}")["key_id"]
    assert dual.authority.activation_module().status(key_id).state is CredentialState.AWAITING_HOLDER
    dual.cli("approvals", "reject", approval, user="lan")
    assert dual.authority.activation_module().status(key_id).state is CredentialState.DESTROYED
    _in_force(dual, "certificate.issue.organisation", 0)


def test_over_http_officers_vote_and_the_action_runs_on_the_last_approval(
    dual: Deployment, server: str
) -> None:
    _in_force(dual, "certificate.revoke.organisation", 2)
    officers = [{"Authorization": f"Bearer {administrator_token(dual, 'ra_officer')}"} for _ in range(2)]
    admin = {"Authorization": f"Bearer {administrator_token(dual, 'ca_admin')}"}
    auditor = {"Authorization": f"Bearer {administrator_token(dual, 'auditor')}"}
    seal = _seal(dual)
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
    assert _status(dual, seal) == "revoked"
    assert httpx.post(f"{url}/approve", headers=admin).status_code == 409
    listed = httpx.get(f"{server}/api/v1/approvals", params={"every": "true"}, headers=auditor).json()
    assert any(item["approval_id"] == approval and item["state"] == "executed" for item in listed)


def test_trust_anchors_wait_for_another_ca_admin(dual: Deployment, server: str, tmp_path: object) -> None:
    admins = [{"Authorization": f"Bearer {administrator_token(dual, 'ca_admin')}"} for _ in range(2)]
    officer = {"Authorization": f"Bearer {administrator_token(dual, 'ra_officer')}"}
    _in_force(dual, "trust.add", 0)
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
    _in_force(dual, "ca.root-crl", 1)
    approval = _pending_id(dual.cli("ca", "root-crl", check=False, user="hoa"))
    approved = dual.cli("approvals", "approve", approval, user="lan")
    outcome = json.loads(approved.stdout.split("outcome: ", 1)[1])
    assert outcome["crl_number"] >= 2 and "\texecuted\t" in approved.stdout
    _in_force(dual, "ca.root-crl", 0)


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
    seal, now = _seal(dual), utc_now()
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
    assert _status(dual, seal) == "revoked"


# -- nobody switches dual control off alone (issue 9, item 4) --------------------------------------------


def test_lowering_a_policy_waits_for_other_ca_admins_and_raising_is_immediate(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    action = "ca.root-crl"
    _in_force(dual, action, 0)
    dual.cli("approvals", "policy", action, "--required", "1", user="lan")  # raising from off: at once
    dual.cli("approvals", "policy", action, "--required", "2", "--hours", "48", user="lan")
    assert _policy(dual, action) == (2, 48)
    approval = _pending_id(
        dual.cli("approvals", "policy", action, "--required", "0", check=False, user="lan")
    )
    shorter = dual.cli(
        "approvals", "policy", action, "--required", "2", "--hours", "1", check=False, user="lan"
    )
    _pending_id(shorter)  # a shorter window is a lowering too
    assert _policy(dual, action) == (2, 48)
    own = dual.cli("approvals", "approve", approval, check=False, user="lan")
    assert own.returncode == EXIT_NOT_AUTHORISED and "their own request" in own.stderr
    officer = dual.cli("approvals", "approve", approval, check=False, user="hoa")
    assert officer.returncode == EXIT_NOT_AUTHORISED and "only ca_admin" in officer.stderr
    first = dual.cli("approvals", "approve", approval, user="minh")
    assert "\tpending\t1/2\t" in first.stdout and _policy(dual, action) == (2, 48)
    second = httpx.post(f"{server}/api/v1/approvals/{approval}/approve", headers=staff["tuan"].headers)
    assert second.status_code == 200 and second.json()["state"] == "executed", second.text
    assert _policy(dual, action) == (0, 24)
    assert _audit_actions(dual, approval) == [
        "approval.request",
        "approval.approve",
        "approval.approve",
        "approval.execute",
    ]
    changes = _audit(dual, "action = 'config.approval_policy' AND object = :o", o=action)
    lan, minh, tuan = staff["lan"].actor, staff["minh"].actor, staff["tuan"].actor
    assert [actor for _, actor in changes] == ["cli:lan", "cli:lan", f"{lan} (approved by {minh}, {tuan})"]


def test_over_http_a_lowering_answers_202_and_a_raise_200(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    url = f"{server}/api/v1/approvals/policies/trust.add"
    _in_force(dual, "trust.add", 1)
    raised = httpx.put(url, json={"required": 2, "valid_hours": 24}, headers=staff["lan"].headers)
    assert raised.status_code == 200 and _policy(dual, "trust.add") == (2, 24)
    held = httpx.put(url, json={"required": 0}, headers=staff["lan"].headers)
    assert held.status_code == 202 and held.json()["state"] == "pending", held.text
    assert held.json()["required"] == 2 and _policy(dual, "trust.add") == (2, 24)
    approval = held.json()["approval_id"]
    own = dual.cli("approvals", "approve", approval, check=False, user="lan")  # the same person on the CLI
    assert own.returncode == EXIT_NOT_AUTHORISED and "their own request" in own.stderr
    dual.cli("approvals", "approve", approval, user="minh")
    dual.cli("approvals", "approve", approval, user="tuan")
    assert _policy(dual, "trust.add") == (0, 24)


def test_an_unmapped_os_user_cannot_vote_on_the_cli(dual: Deployment, staff: dict[str, Person]) -> None:
    _in_force(dual, "ca.root-crl", 1)
    approval = _pending_id(dual.cli("ca", "root-crl", check=False, user="hoa"))
    stranger = dual.cli("approvals", "approve", approval, check=False, user="khach")
    assert stranger.returncode == EXIT_NOT_AUTHORISED and "--os-user khach" in stranger.stderr
    rejecting = dual.cli("approvals", "reject", approval, check=False, user="khach")
    assert rejecting.returncode == EXIT_NOT_AUTHORISED
    assert f"{approval}\tpending\t0/1\t" in dual.cli("approvals", "list").stdout
    dual.cli("approvals", "reject", approval, user="minh")
    _in_force(dual, "ca.root-crl", 0)


def test_a_mapped_os_user_votes_only_with_a_role_the_action_allows(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    _in_force(dual, "ca.root-crl", 1)
    approval = _pending_id(dual.cli("ca", "root-crl", check=False, user="lan"))
    officer = dual.cli("approvals", "approve", approval, check=False, user="nam")
    assert officer.returncode == EXIT_NOT_AUTHORISED and "only ca_admin" in officer.stderr
    assert "\texecuted\t1/1\t" in dual.cli("approvals", "approve", approval, user="minh").stdout
    _in_force(dual, "ca.root-crl", 0)


def test_a_requester_on_the_cli_cannot_approve_over_the_api_nor_the_other_way(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    _in_force(dual, "certificate.revoke.organisation", 1)
    seal = _seal(dual)
    on_cli = _pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
    over_api = httpx.post(f"{server}/api/v1/approvals/{on_cli}/approve", headers=staff["hoa"].headers)
    assert over_api.status_code == 403 and "their own request" in over_api.json()["detail"]
    assert _status(dual, seal) == "valid"
    requests = httpx.get(f"{server}/api/v1/approvals", headers=staff["hoa"].headers).json()
    assert {item["requested_by"] for item in requests if item["approval_id"] == on_cli} == {
        staff["hoa"].actor
    }
    other = _seal(dual)
    held = httpx.post(
        f"{server}/api/v1/certificates/{other}/revoke",
        json={"reason": "agency-dissolved"},
        headers=staff["nam"].headers,
    )
    assert held.status_code == 202, held.text
    on_cli_vote = dual.cli("approvals", "approve", held.json()["approval_id"], check=False, user="nam")
    assert on_cli_vote.returncode == EXIT_NOT_AUTHORISED and "their own request" in on_cli_vote.stderr
    assert _status(dual, other) == "valid"
    _in_force(dual, "certificate.revoke.organisation", 0)


def test_a_requester_on_the_cli_cannot_approve_in_the_console(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    _in_force(dual, "ca.root-crl", 1)
    approval = _pending_id(dual.cli("ca", "root-crl", check=False, user="minh"))
    admin_id = staff["minh"].actor.split(":")[1]
    enrolled = dual.cli("console", "enrol", "--username", "minh", "--admin", admin_id, stdin=PASSWORD + "\n")
    secret = enrolled.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=server, timeout=30) as browser:
        login = {"username": "minh", "password": PASSWORD, "code": pyotp.TOTP(secret).now()}
        assert browser.post("/console/login", data=login).status_code == 303
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/console/approvals").text)
        assert csrf is not None
        own = browser.post(f"/console/approvals/{approval}/approve", data={"csrf": csrf.group(1)})
        assert own.status_code == 403 and "their own request" in own.text, own.text
    assert f"{approval}\tpending\t0/1\t" in dual.cli("approvals", "list").stdout
    dual.cli("approvals", "reject", approval, user="lan")
    _in_force(dual, "ca.root-crl", 0)
