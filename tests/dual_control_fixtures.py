"""The deployment the dual-control modules share, its staff, and the helpers that read its state.

A deployment of its own: the policies set there would hold other tests' actions. Session-wide (registered in
tests/conftest.py's ``pytest_plugins``), so the two modules see one set of people mapped to OS users: the
CLI runs as them (``user=``), so the same person is the same record on every face.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from govsign.access.approvals import ApprovalPolicy
from tests.conftest import Deployment, issue_in_hsm, make_deployment

__all__ = [
    "EXIT_NOT_AUTHORISED",
    "EXIT_PENDING",
    "Person",
    "approval_audit_actions",
    "audit_rows",
    "certificate_status",
    "dual",
    "issue_seal",
    "pending_id",
    "policy_in_force",
    "put_in_force",
    "staff",
]


EXIT_PENDING = 3
EXIT_NOT_AUTHORISED = 8


@dataclass(frozen=True)
class Person:
    """An administrator mapped to an OS user: the actor the audit log names, and their API token."""

    os_user: str
    actor: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def dual() -> Deployment:
    return make_deployment("dual", None)


@pytest.fixture(scope="session")
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


def put_in_force(deployment: Deployment, action: str, required: int, hours: int = 24) -> None:
    """The policy an earlier (approved) change left in force: set up directly, not the subject here."""
    with deployment.authority.database.transaction() as session:
        session.merge(ApprovalPolicy(action=action, required=required, valid_hours=hours, updated_by="setup"))


def policy_in_force(deployment: Deployment, action: str) -> tuple[int, int]:
    with deployment.authority.database.engine.begin() as connection:
        row = connection.execute(
            text("SELECT required, valid_hours FROM approval_policies WHERE action = :a"), {"a": action}
        ).one()
        return int(row[0]), int(row[1])


def issue_seal(deployment: Deployment) -> str:
    return issue_in_hsm(deployment, "organisation", "seal-so-tu-phap-ha-noi.json")


def certificate_status(deployment: Deployment, serial: str) -> str:
    with deployment.authority.database.engine.begin() as connection:
        return str(
            connection.execute(
                text("SELECT status FROM certificates WHERE serial = :s"), {"s": serial}
            ).scalar()
        )


def pending_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == EXIT_PENDING, result
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("pending "), result.stdout
    return last.removeprefix("pending ")


def audit_rows(deployment: Deployment, where: str, **values: str) -> list[tuple[str, str]]:
    with deployment.authority.database.engine.begin() as connection:
        rows = connection.execute(
            text(f"SELECT action, actor FROM audit_log WHERE {where} ORDER BY seq"), values
        )
        return [(str(action), str(actor)) for action, actor in rows]


def approval_audit_actions(deployment: Deployment, approval_id: str) -> list[str]:
    return [action for action, _ in audit_rows(deployment, "object = :o", o=f"approval:{approval_id}")]
