"""Who votes in dual control: nobody switches it off alone (a policy in force is lowered only with other
people's votes, raised at once), an OS user votes only when mapped to an administrator whose role the
action allows, and a requester cannot approve their own request through another face (CLI, API, console).

The deployment, its staff and the helpers: tests/dual_control_fixtures.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pyotp
import pytest

from tests.conftest import Deployment, running_server
from tests.dual_control_fixtures import (
    EXIT_NOT_AUTHORISED,
    Person,
    approval_audit_actions,
    audit_rows,
    certificate_status,
    issue_seal,
    pending_id,
    policy_in_force,
    put_in_force,
)

PASSWORD = "một mật khẩu đủ dài"


@pytest.fixture(scope="module")
def server(dual: Deployment) -> Iterator[str]:
    with running_server(dual) as base:
        yield base


def test_lowering_a_policy_waits_for_other_ca_admins_and_raising_is_immediate(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    action = "ca.root-crl"
    put_in_force(dual, action, 0)
    dual.cli("approvals", "policy", action, "--required", "1", user="lan")  # raising from off: at once
    dual.cli("approvals", "policy", action, "--required", "2", "--hours", "48", user="lan")
    assert policy_in_force(dual, action) == (2, 48)
    approval = pending_id(dual.cli("approvals", "policy", action, "--required", "0", check=False, user="lan"))
    shorter = dual.cli(
        "approvals", "policy", action, "--required", "2", "--hours", "1", check=False, user="lan"
    )
    pending_id(shorter)  # a shorter window is a lowering too
    assert policy_in_force(dual, action) == (2, 48)
    own = dual.cli("approvals", "approve", approval, check=False, user="lan")
    assert own.returncode == EXIT_NOT_AUTHORISED and "their own request" in own.stderr
    officer = dual.cli("approvals", "approve", approval, check=False, user="hoa")
    assert officer.returncode == EXIT_NOT_AUTHORISED and "only ca_admin" in officer.stderr
    first = dual.cli("approvals", "approve", approval, user="minh")
    assert "\tpending\t1/2\t" in first.stdout and policy_in_force(dual, action) == (2, 48)
    second = httpx.post(f"{server}/api/v1/approvals/{approval}/approve", headers=staff["tuan"].headers)
    assert second.status_code == 200 and second.json()["state"] == "executed", second.text
    assert policy_in_force(dual, action) == (0, 24)
    assert approval_audit_actions(dual, approval) == [
        "approval.request",
        "approval.approve",
        "approval.approve",
        "approval.execute",
    ]
    changes = audit_rows(dual, "action = 'config.approval_policy' AND object = :o", o=action)
    lan, minh, tuan = staff["lan"].actor, staff["minh"].actor, staff["tuan"].actor
    assert [actor for _, actor in changes] == ["cli:lan", "cli:lan", f"{lan} (approved by {minh}, {tuan})"]


def test_over_http_a_lowering_answers_202_and_a_raise_200(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    url = f"{server}/api/v1/approvals/policies/trust.add"
    put_in_force(dual, "trust.add", 1)
    raised = httpx.put(url, json={"required": 2, "valid_hours": 24}, headers=staff["lan"].headers)
    assert raised.status_code == 200 and policy_in_force(dual, "trust.add") == (2, 24)
    held = httpx.put(url, json={"required": 0}, headers=staff["lan"].headers)
    assert held.status_code == 202 and held.json()["state"] == "pending", held.text
    assert held.json()["required"] == 2 and policy_in_force(dual, "trust.add") == (2, 24)
    approval = held.json()["approval_id"]
    own = dual.cli("approvals", "approve", approval, check=False, user="lan")  # the same person on the CLI
    assert own.returncode == EXIT_NOT_AUTHORISED and "their own request" in own.stderr
    dual.cli("approvals", "approve", approval, user="minh")
    dual.cli("approvals", "approve", approval, user="tuan")
    assert policy_in_force(dual, "trust.add") == (0, 24)


def test_an_unmapped_os_user_cannot_vote_on_the_cli(dual: Deployment, staff: dict[str, Person]) -> None:
    put_in_force(dual, "ca.root-crl", 1)
    approval = pending_id(dual.cli("ca", "root-crl", check=False, user="hoa"))
    stranger = dual.cli("approvals", "approve", approval, check=False, user="khach")
    assert stranger.returncode == EXIT_NOT_AUTHORISED and "--os-user khach" in stranger.stderr
    rejecting = dual.cli("approvals", "reject", approval, check=False, user="khach")
    assert rejecting.returncode == EXIT_NOT_AUTHORISED
    assert f"{approval}\tpending\t0/1\t" in dual.cli("approvals", "list").stdout
    dual.cli("approvals", "reject", approval, user="minh")
    put_in_force(dual, "ca.root-crl", 0)


def test_a_mapped_os_user_votes_only_with_a_role_the_action_allows(
    dual: Deployment, staff: dict[str, Person]
) -> None:
    put_in_force(dual, "ca.root-crl", 1)
    approval = pending_id(dual.cli("ca", "root-crl", check=False, user="lan"))
    officer = dual.cli("approvals", "approve", approval, check=False, user="nam")
    assert officer.returncode == EXIT_NOT_AUTHORISED and "only ca_admin" in officer.stderr
    assert "\texecuted\t1/1\t" in dual.cli("approvals", "approve", approval, user="minh").stdout
    put_in_force(dual, "ca.root-crl", 0)


def test_a_requester_on_the_cli_cannot_approve_over_the_api_nor_the_other_way(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    put_in_force(dual, "certificate.revoke.organisation", 1)
    seal = issue_seal(dual)
    on_cli = pending_id(
        dual.cli("ca", "revoke", seal, "--reason", "agency-dissolved", check=False, user="hoa")
    )
    over_api = httpx.post(f"{server}/api/v1/approvals/{on_cli}/approve", headers=staff["hoa"].headers)
    assert over_api.status_code == 403 and "their own request" in over_api.json()["detail"]
    assert certificate_status(dual, seal) == "valid"
    requests = httpx.get(f"{server}/api/v1/approvals", headers=staff["hoa"].headers).json()
    assert {item["requested_by"] for item in requests if item["approval_id"] == on_cli} == {
        staff["hoa"].actor
    }
    other = issue_seal(dual)
    held = httpx.post(
        f"{server}/api/v1/certificates/{other}/revoke",
        json={"reason": "agency-dissolved"},
        headers=staff["nam"].headers,
    )
    assert held.status_code == 202, held.text
    on_cli_vote = dual.cli("approvals", "approve", held.json()["approval_id"], check=False, user="nam")
    assert on_cli_vote.returncode == EXIT_NOT_AUTHORISED and "their own request" in on_cli_vote.stderr
    assert certificate_status(dual, other) == "valid"
    put_in_force(dual, "certificate.revoke.organisation", 0)


def test_a_requester_on_the_cli_cannot_approve_in_the_console(
    dual: Deployment, server: str, staff: dict[str, Person]
) -> None:
    put_in_force(dual, "ca.root-crl", 1)
    approval = pending_id(dual.cli("ca", "root-crl", check=False, user="minh"))
    admin_id = staff["minh"].actor.split(":")[1]
    enrolled = dual.cli("console", "enrol", "--username", "minh", "--admin", admin_id, stdin=PASSWORD + "\n")
    secret = enrolled.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=server, timeout=30) as browser:
        login = {"username": "minh", "password": PASSWORD, "code": pyotp.TOTP(secret).now()}
        assert browser.post("/console/login", data=login).status_code == 303
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/console/approvals").text)
        assert csrf is not None
        own = browser.post(f"/console/approvals/{approval}/approve?lang=en", data={"csrf": csrf.group(1)})
        assert own.status_code == 403 and "their own request" in own.text, own.text
    assert f"{approval}\tpending\t0/1\t" in dual.cli("approvals", "list").stdout
    dual.cli("approvals", "reject", approval, user="lan")
    put_in_force(dual, "ca.root-crl", 0)
