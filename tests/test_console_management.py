"""The console's management pages over HTTP, on a server of their own: accounts (ca_admin creates,
unlocks and reissues or revokes tokens; ra_officer uploads images), trust anchors (ca_admin, held when
the policy says so), the audit log (auditor: filter, signed export checked by openssl, verify) and the
approval policies (raising at once, lowering held); each page refused to a role that must not use it."""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ca.activation import CredentialLocked, WrongActivation
from ca.audit import canonical_json
from ca.revocation import find_certificate
from govsign.access.accounts import AccountKind, create_account
from govsign.access.administrators import Role
from govsign.web.console_management_texts import MANAGEMENT_TEXTS
from tests.conftest import Deployment, issue_in_hsm, make_deployment, running_server
from tests.console_sessions import ConsoleSession, enrol_login, sign_in
from tests.dual_control_fixtures import put_in_force
from tests.pdf_corpus.foreign import foreign_ca
from tests.pdf_samples import signature_png


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return make_deployment("console-management", None)


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[str]:
    with running_server(deployment) as base:
        yield base


@pytest.fixture(scope="module")
def people(deployment: Deployment, server: str) -> Iterator[dict[Role, ConsoleSession]]:
    """One signed-in administrator of each role."""
    sessions = {
        role: sign_in(server, f"{role.value}-1", enrol_login(deployment, f"{role.value}-1", role=role))
        for role in Role
    }
    yield sessions
    for session in sessions.values():
        session.client.close()


def test_a_ca_admin_creates_an_account_and_reissues_and_revokes_its_token(
    deployment: Deployment, server: str, people: dict[Role, ConsoleSession]
) -> None:
    admin, officer = people[Role.CA_ADMIN], people[Role.RA_OFFICER]
    serial = issue_in_hsm(deployment)
    created = admin.post("/console/accounts", {"kind": "official", "certificate_serial": serial})
    assert created.status_code == 200, created.text
    token = _secret(created.text)
    listed = admin.get("/console/accounts", q=serial).text
    assert "Nguyễn Văn Ánh" in listed and "đang hoạt động" in listed and "công chức" in listed
    account_id = re.search(r'id="account-(\d+)"', listed)
    assert account_id is not None
    account = account_id.group(1)
    assert _credentials(server, token) == 200  # the token shown once works

    reissued = admin.post(f"/console/accounts/{account}/token", {"days": "30"})
    new_token = _secret(reissued.text)
    assert _credentials(server, token) == 401 and _credentials(server, new_token) == 200
    revoked = admin.post(f"/console/accounts/{account}/token", {"revoke": "true"})
    assert revoked.status_code == 200 and 'id="secret"' not in revoked.text
    assert _credentials(server, new_token) == 401

    assert (
        officer.post("/console/accounts", {"kind": "official", "certificate_serial": serial}).status_code
        == 403
    )
    assert officer.post(f"/console/accounts/{account}/token", {}).status_code == 403
    assert people[Role.AUDITOR].get("/console/accounts").status_code == 403


def test_an_officer_uploads_the_image_and_a_ca_admin_unlocks_the_key(
    deployment: Deployment, people: dict[Role, ConsoleSession], tmp_path: Path
) -> None:
    admin, officer = people[Role.CA_ADMIN], people[Role.RA_OFFICER]
    serial = issue_in_hsm(deployment, demo="official-tran-thi-binh-60-days.json")
    account = create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test").id
    png = signature_png(tmp_path / "chu-ky.png").read_bytes()
    stored = officer.post(f"/console/accounts/{account}/image", image=("chu-ky.png", png))
    assert stored.status_code == 200 and "Đã lưu ảnh" in stored.text, stored.text
    assert officer.post(f"/console/accounts/{account}/image", image=("x.png", b"GIF89a")).status_code == 422
    assert admin.post(f"/console/accounts/{account}/image", image=("chu-ky.png", png)).status_code == 403

    module = deployment.authority.activation_module()
    key_id = _key_id(deployment, serial)
    for _ in range(5):  # five wrong PINs lock the key
        with pytest.raises((WrongActivation, CredentialLocked)):
            module.change_pin(key_id, "000000", "999999", actor="holder", client="test")
    assert module.status(key_id).locked
    assert "bị khóa" in admin.get("/console/accounts", q=serial).text
    assert officer.post(f"/console/accounts/{account}/unlock", {}).status_code == 403
    unlocked = admin.post(f"/console/accounts/{account}/unlock", {})
    assert unlocked.status_code == 200 and not module.status(key_id).locked


def test_a_ca_admin_trusts_a_root_for_a_window_then_the_policy_holds_the_next(
    deployment: Deployment, server: str, people: dict[Role, ConsoleSession]
) -> None:
    admin = people[Role.CA_ADMIN]
    root_pem = foreign_ca().root.public_bytes(Encoding.PEM)
    added = admin.post(
        "/console/trust",
        {"name": "CA đối tác (gốc)", "role": "anchor", "trusted_from": "2025-01-01T00:00"},
        certificate=("root.pem", root_pem),
    )
    assert added.status_code == 200, added.text
    listed = admin.get("/console/trust").text
    assert "CA đối tác (gốc)" in listed and "00:00:00 ngày 01/01/2025" in listed  # Vietnam time, as typed
    public = httpx.get(f"{server}/api/v1/trust-anchors").json()
    entry = next(e for e in public if e["name"] == "CA đối tác (gốc)")
    assert entry["trusted_from"] == "2024-12-31T17:00:00+00:00"

    put_in_force(deployment, "trust.add", 1)
    held = admin.post(
        "/console/trust",
        {"name": "CA chờ duyệt"},
        certificate=("root.pem", foreign_ca().root.public_bytes(Encoding.PEM)),
    )
    assert held.status_code == 202 and "yêu cầu" in held.text, held.text
    assert "CA chờ duyệt" not in admin.get("/console/trust").text
    assert "CA chờ duyệt" in admin.get("/console/approvals").text

    put_in_force(deployment, "trust.remove", 1)  # removing trust is held too, and a second ca_admin frees it
    held_removal = admin.post(f"/console/trust/{entry['id']}/remove", {})
    assert held_removal.status_code == 202, held_removal.text
    approval = re.search(r"yêu cầu ([0-9a-f]{16})", held_removal.text)
    assert approval is not None and "CA đối tác (gốc)" in admin.get("/console/trust").text
    with sign_in(server, "minh", enrol_login(deployment, "minh", role=Role.CA_ADMIN)) as second:
        assert "stop trusting &#39;CA đối tác (gốc)&#39;" in second.get("/console/approvals").text
        approved = second.post(f"/console/approvals/{approval.group(1)}/approve", {})
        assert approved.status_code == 200 and "đã thực hiện" in approved.text, approved.text
    assert all(e["name"] != "CA đối tác (gốc)" for e in httpx.get(f"{server}/api/v1/trust-anchors").json())
    assert people[Role.RA_OFFICER].get("/console/trust").status_code == 403
    assert people[Role.AUDITOR].post("/console/trust/1/remove", {}).status_code == 403


def test_an_auditor_filters_exports_a_signed_range_and_verifies_the_log(
    deployment: Deployment, people: dict[Role, ConsoleSession], tmp_path: Path
) -> None:
    auditor = people[Role.AUDITOR]
    issue_in_hsm(deployment)
    filtered = auditor.get("/console/audit", action="certificate.", actor="test").text
    rows = re.findall(r"<code>(certificate\.[a-z-]+)</code>", filtered)
    assert rows and set(rows) <= {"certificate.issue", "certificate.revoke"}
    assert "console.login" not in filtered
    future = auditor.get("/console/audit", since="2999-01-01T00:00").text
    assert "Không có bản ghi nào khớp." in future

    exported = auditor.post("/console/audit/export", {"first": "1"})
    assert exported.status_code == 200 and "nhat-ky-kiem-toan-1-" in exported.headers["content-disposition"]
    document = exported.json()
    (tmp_path / "key.pem").write_text(document["public_key"])
    (tmp_path / "signed").write_bytes(canonical_json(document["export"]).encode("utf-8"))
    (tmp_path / "signature").write_bytes(base64.b64decode(document["signature"]))
    checked = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", tmp_path / "key.pem", "-signature", tmp_path / "signature"],
        input=(tmp_path / "signed").read_bytes(),
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0 and b"Verified OK" in checked.stdout, checked

    verified = auditor.post("/console/audit/verify", {})
    assert verified.status_code == 200 and "Nhật ký toàn vẹn" in verified.text, verified.text
    assert (
        "audit.export" in auditor.get("/console/audit", action="audit.export").text
    )  # the export is audited
    assert people[Role.RA_OFFICER].get("/console/audit").status_code == 403
    assert people[Role.CA_ADMIN].post("/console/audit/export", {"first": "1"}).status_code == 403


def test_policies_rise_at_once_and_a_lowering_waits(
    deployment: Deployment, server: str, people: dict[Role, ConsoleSession]
) -> None:
    admin = people[Role.CA_ADMIN]
    listed = people[Role.AUDITOR].get("/console/policies").text
    assert "Cấp chứng thư thiết bị, dịch vụ" in listed and "<code>certificate.issue.device</code>" in listed
    raised = admin.post("/console/policies/certificate.issue.device", {"required": "2", "valid_hours": "48"})
    assert raised.status_code == 200, raised.text
    lowered = admin.post("/console/policies/certificate.issue.device", {"required": "1", "valid_hours": "48"})
    assert lowered.status_code == 202, lowered.text
    assert "certificate.issue.device" in admin.get("/console/approvals").text
    assert people[Role.RA_OFFICER].post("/console/policies/trust.add", {"required": "3"}).status_code == 403
    assert people[Role.AUDITOR].get("/console/approvals").status_code == 200
    account = create_account(
        deployment.authority, AccountKind.OFFICIAL, issue_in_hsm(deployment), actor="test"
    )
    with sign_in(server, "anh", enrol_login(deployment, "anh", account=account.id)) as official:
        for path in ("/console/policies", "/console/accounts", "/console/trust", "/console/audit"):
            assert official.get(path).status_code == 403, path  # officials sign; they manage nothing


def _secret(html: str) -> str:
    found = re.search(r'<code id="secret">([^<]+)</code>', html)
    assert found is not None, html
    return found.group(1)


def _credentials(server: str, token: str) -> int:
    """What the CSC API answers an account's token: 200 for a working token, 401 otherwise."""
    answer = httpx.post(
        f"{server}/csc/v2/credentials/list", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code


def _key_id(deployment: Deployment, serial: str) -> str:
    with deployment.authority.database.reading() as session:
        key_id = find_certificate(session, serial).key_id
    assert key_id is not None
    return key_id


def test_each_page_speaks_one_language(deployment: Deployment, people: dict[Role, ConsoleSession]) -> None:
    """No phrase of the English catalogue on a Vietnamese page, and none of the Vietnamese on an English one
    (phrases of two words or more: a lone word may be a name in both). Audit records are data, kept in the
    words they were written in (the ceremony's "govsign OCSP responder"), so they are left out."""
    serial = issue_in_hsm(deployment)
    pages = {
        Role.RA_OFFICER: [f"/console/certificates/{serial}", "/console/accounts", "/console/policies"],
        Role.CA_ADMIN: ["/console/trust", "/console/accounts", "/console/policies"],
        Role.AUDITOR: ["/console/audit"],
    }
    for lang, other in (("vi", "en"), ("en", "vi")):
        foreign = [text for text in MANAGEMENT_TEXTS[other].values() if " " in text]
        for role, paths in pages.items():
            for path in paths:
                html = _without_records(people[role].get(path, lang=lang).text)
                found = [text for text in foreign if text in html]
                assert not found, (lang, path, found)


def _without_records(html: str) -> str:
    return re.sub(r'<table id="(entries|history)">.*?</table>', "", html, flags=re.S)
