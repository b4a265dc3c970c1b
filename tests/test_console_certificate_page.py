"""The console's certificate page over HTTP, on a server of its own: the holder as people name them, the
distinguished names, validity, key, status, chain and history from the audit log; PEM and DER downloads
read back by openssl; renewal and change of information by an RA officer; and who may not."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from ca.store import CertificateRecord
from govsign.access.accounts import AccountKind, create_account
from govsign.access.administrators import Role
from tests.conftest import HOLDER_PIN, Deployment, issue_in_hsm, make_deployment, running_server
from tests.console_sessions import ConsoleSession, enrol_login, sign_in
from tests.dual_control_fixtures import put_in_force
from tests.pdf_samples import one_page_pdf

VIETNAM_TIME = re.compile(r"\d{2}:\d{2}:\d{2} ngày \d{2}/\d{2}/\d{4}")


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return make_deployment("console-certificate", None)


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[str]:
    with running_server(deployment) as base:
        yield base


@pytest.fixture(scope="module")
def officer(deployment: Deployment, server: str) -> Iterator[ConsoleSession]:
    with sign_in(server, "hoa", enrol_login(deployment, "hoa", role=Role.RA_OFFICER)) as session:
        yield session


def test_the_page_names_the_holder_and_shows_chain_key_status_and_history(
    deployment: Deployment, officer: ConsoleSession
) -> None:
    serial = issue_in_hsm(deployment)  # the holder has chosen a PIN: the key is active
    account = create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test")
    page = officer.get(f"/console/certificates/{serial}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Nguyễn Văn Ánh — Sở Tư pháp thành phố Hà Nội" in html  # the holder as people write it
    assert "CN=Nguyễn Văn Ánh" in html and deployment.issuing.subject.rfc4514_string() in html
    assert deployment.root.subject.rfc4514_string() in html  # the chain up to the root
    assert "còn hiệu lực" in html and "EC secp256r1" in html and "đang hoạt động" in html
    assert VIETNAM_TIME.search(html), "times are shown as people in Vietnam write them"
    history = html[html.index('id="history"') :]
    for action in ("certificate.issue", "credential.take-control", "account.create"):
        assert action in history, action
    assert f"Tài khoản {account.id}" in html
    english = officer.get(f"/console/certificates/{serial}", lang="en").text
    assert "Certificate chain" in english and "còn hiệu lực" not in english


def test_a_service_certificate_has_its_page_but_no_forms(
    deployment: Deployment, officer: ConsoleSession
) -> None:
    with deployment.authority.database.reading() as session:
        ocsp = session.scalars(
            select(CertificateRecord.serial).where(CertificateRecord.profile == "ocsp-signer")
        )
        serial = ocsp.one()
    html = officer.get(f"/console/certificates/{serial}").text
    assert "ký phản hồi trạng thái (OCSP)" in html and "Ban Cơ yếu Chính phủ" in html
    assert 'id="renew-form"' not in html and 'id="change-form"' not in html  # renewed by ceremony only


def test_pem_and_der_downloads_are_the_certificate(deployment: Deployment, officer: ConsoleSession) -> None:
    serial = issue_in_hsm(deployment)
    pem = officer.get(f"/console/certificates/{serial}/pem")
    assert pem.status_code == 200
    assert f'filename="chung-thu-{serial}.pem"' in pem.headers["content-disposition"]
    assert x509.load_pem_x509_certificate(pem.content).serial_number == int(serial, 16)
    der = officer.get(f"/console/certificates/{serial}/der")
    assert der.headers["content-type"] == "application/pkix-cert"
    read = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-serial"],
        input=der.content,
        capture_output=True,
        check=True,
    )
    assert int(read.stdout.decode().strip().removeprefix("serial="), 16) == int(serial, 16)
    assert officer.get(f"/console/certificates/{serial}/txt").status_code == 404


def test_an_officer_renews_once_in_the_window(deployment: Deployment, officer: ConsoleSession) -> None:
    serial = issue_in_hsm(deployment, demo="official-tran-thi-binh-60-days.json")  # in its window at once
    account = create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test")
    renewed = officer.client.post(
        f"/console/certificates/{serial}/renew", data={"csrf": officer.csrf, "years": "1"}
    )
    assert renewed.status_code == 303, renewed.text
    new_page = officer.client.get(renewed.headers["location"])
    new_serial = re.search(r"/console/certificates/([0-9a-f]+)\?", renewed.headers["location"])
    assert new_serial is not None and new_serial.group(1) != serial
    assert "Đã gia hạn" in new_page.text and f"/console/certificates/{serial}?" in new_page.text
    assert f"Tài khoản {account.id}" in new_page.text  # the holder signs with the renewal from now on
    assert "account.renew" in new_page.text[new_page.text.index('id="history"') :]
    again = officer.post(f"/console/certificates/{serial}/renew", {"years": "1"})
    assert again.status_code == 409, again.text  # renewed once already; the page says why


def test_an_officer_changes_information_and_the_holder_signs_on_under_the_new_certificate(
    deployment: Deployment, server: str, officer: ConsoleSession, tmp_path: Path
) -> None:
    serial = issue_in_hsm(deployment)
    account = create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test")
    form = officer.get(f"/console/certificates/{serial}").text
    assert 'value="nvanh@sotuphap.hanoi.gov.vn"' in form  # the form starts from the current request
    changed = officer.post(
        f"/console/certificates/{serial}/change",
        {
            "requesting_agency": "Sở Tư pháp thành phố Hà Nội",
            "request_ref": "130/STP-VP",
            "full_name": "Nguyễn Văn Ánh",
            "personal_id": "001085012345",
            "email": "anh.nguyen@sotuphap.hanoi.gov.vn",
            "organisation": "Sở Tư pháp thành phố Hà Nội",
            "unit": "Phòng Công chứng",
            "province": "Hà Nội",
        },
    )
    assert changed.status_code == 303, changed.text
    new_page = officer.client.get(changed.headers["location"]).text
    assert "anh.nguyen@sotuphap.hanoi.gov.vn" in new_page and "Phòng Công chứng" in new_page
    old_page = officer.get(f"/console/certificates/{serial}").text
    status = old_page[old_page.index('id="status"') :]
    assert status.startswith('id="status">đã thu hồi: đã được thay thế'), status[:200]
    assert "Được thay bằng chứng thư" in old_page and 'id="renew-form"' not in old_page
    new_serial = changed.headers["location"].split("/")[-1].split("?")[0]
    signed = httpx.post(  # the holder signs on with the same PIN, under the new certificate
        f"{server}/api/v1/sign",
        headers={"Authorization": f"Bearer {account.token}", "X-Activation-PIN": HOLDER_PIN},
        files={
            "file": ("ket-qua.pdf", one_page_pdf(tmp_path / "ket-qua.pdf").read_bytes(), "application/pdf")
        },
        data={"level": "B-B", "appearance": "none"},
        timeout=120,
    )
    assert signed.status_code == 200, signed.text
    signature = PdfFileReader(io.BytesIO(signed.content)).embedded_signatures[0]
    assert signature.signer_cert.serial_number == int(new_serial, 16)


def test_changing_a_seals_information_waits_for_a_second_officer_when_the_policy_says_so(
    deployment: Deployment, server: str, officer: ConsoleSession
) -> None:
    seal = issue_in_hsm(deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
    put_in_force(deployment, "certificate.change.organisation", 1)
    held = officer.post(
        f"/console/certificates/{seal}/change",
        {
            "requesting_agency": "UBND thành phố Hà Nội",
            "request_ref": "77/QĐ-UBND",
            "name": "Sở Tư pháp thành phố Hà Nội",
            "tax_code": "0101234565",
            "province": "Hà Nội",
            "email": "vanthu@sotuphap.hanoi.gov.vn",
        },
    )
    assert held.status_code == 202, held.text
    approval = re.search(r"yêu cầu ([0-9a-f]{16})", held.text)
    assert approval is not None and "còn hiệu lực" in officer.get(f"/console/certificates/{seal}").text
    with sign_in(server, "minh", enrol_login(deployment, "minh", role=Role.RA_OFFICER)) as second:
        approved = second.post(f"/console/approvals/{approval.group(1)}/approve", {})
        assert approved.status_code == 200 and "đã thực hiện" in approved.text, approved.text
    old_page = officer.get(f"/console/certificates/{seal}").text
    assert "đã thu hồi: đã được thay thế" in old_page and "Được thay bằng chứng thư" in old_page
    put_in_force(deployment, "certificate.change.organisation", 0)


def test_who_may_not(deployment: Deployment, server: str, officer: ConsoleSession) -> None:
    serial = issue_in_hsm(deployment)
    auditor = sign_in(server, "kiem-toan", enrol_login(deployment, "kiem-toan", role=Role.AUDITOR))
    with auditor:
        assert auditor.get(f"/console/certificates/{serial}").status_code == 200  # reads, as the API lets
        assert 'id="renew-form"' not in auditor.get(f"/console/certificates/{serial}").text
        refused = auditor.post(f"/console/certificates/{serial}/renew", {"years": "1"})
        assert refused.status_code == 403
    account = create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test")
    official = sign_in(server, "anh", enrol_login(deployment, "anh", account=account.id))
    with official:
        assert official.get(f"/console/certificates/{serial}").status_code == 403
        assert official.get(f"/console/certificates/{serial}/der").status_code == 403
    forged = officer.client.post(
        f"/console/certificates/{serial}/renew", data={"csrf": "forged", "years": "1"}
    )
    assert forged.status_code == 403
    anonymous = httpx.get(f"{server}/console/certificates/{serial}")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login")
