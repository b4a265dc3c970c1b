"""Console sign-in over HTTP: password and TOTP, a code used once, lock-out at the fifth failure, cookie
flags, CSRF on every form post, roles on every page, and each attempt in the audit log."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import text

from tests.conftest import DEMO, HOLDER_PIN, Deployment, issue_in_hsm, make_deployment, running_server
from tests.pdf_samples import one_page_pdf
from tests.validation_fixtures import pdfsig_integrity

PASSWORD = "một mật khẩu đủ dài"


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return make_deployment("console-auth", None)


@pytest.fixture(scope="module")
def server(deployment: Deployment) -> Iterator[str]:
    with running_server(deployment) as base:
        yield base


def _officer(deployment: Deployment, username: str, role: str = "ra_officer") -> str:
    created = deployment.cli("admin", "create", "--name", username, "--role", role).stdout
    admin_id = created.splitlines()[0].split(":")[0].removeprefix("administrator ")
    enrolled = deployment.cli(
        "console", "enrol", "--username", username, "--admin", admin_id, stdin=PASSWORD + "\n"
    )
    return enrolled.stdout.strip().splitlines()[-1]


def _sign_in(base: str, username: str, password: str, code: str) -> httpx.Response:
    return httpx.post(
        f"{base}/console/login?lang=en",
        data={"username": username, "password": password, "code": code},
        timeout=30,
    )


def signed_in_csrf(browser: httpx.Client, username: str, password: str, secret: str) -> str:
    """Sign ``browser`` in with the password and the current TOTP code; the session's CSRF token."""
    login = {"username": username, "password": password, "code": pyotp.TOTP(secret).now()}
    assert browser.post("/console/login", data=login).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/console").text)
    assert csrf is not None
    return csrf.group(1)


def test_a_code_signs_in_once_and_the_cookie_is_strict(deployment: Deployment, server: str) -> None:
    secret = _officer(deployment, "hoa")
    code = pyotp.TOTP(secret).now()
    first = _sign_in(server, "hoa", PASSWORD, code)
    assert first.status_code == 303 and first.headers["location"].startswith("/console")
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    replayed = _sign_in(server, "hoa", PASSWORD, code)
    assert replayed.status_code == 401 and "wrong user name, password or code" in replayed.text
    assert _sign_in(server, "nobody", PASSWORD, code).status_code == 401
    with deployment.authority.database.engine.begin() as connection:
        results = (
            connection.execute(
                text(
                    "SELECT result FROM audit_log WHERE action = 'console.login' AND actor = 'console:hoa' ORDER BY seq"
                )
            )
            .scalars()
            .all()
        )
    assert results == ["success", "refused"]


def test_five_failures_lock_the_login_without_saying_so(deployment: Deployment, server: str) -> None:
    """Locked for 15 minutes; the answer is the same as for any refusal (nobody learns which logins exist
    or are locked), the audit log tells the administrators."""
    secret = _officer(deployment, "lan")
    statuses = [_sign_in(server, "lan", "wrong password!!", "000000").status_code for _ in range(5)]
    assert statuses == [401] * 5
    locked = _sign_in(server, "lan", PASSWORD, pyotp.TOTP(secret).now())
    assert locked.status_code == 401 and "too many attempts" in locked.text
    assert _sign_in(server, "lan", PASSWORD, "١٢٣٤٥٦").status_code == 401  # non-ASCII digits: no 500
    with deployment.authority.database.engine.begin() as connection:
        reasons = (
            connection.execute(
                text(
                    "SELECT details FROM audit_log WHERE action = 'console.login' AND actor = 'console:lan'"
                    " ORDER BY seq"
                )
            )
            .scalars()
            .all()
        )
    assert "failure 5, now locked" in reasons[4] and '"locked"' in reasons[5]


def test_forms_need_the_session_and_its_csrf_token_and_pages_their_role(
    deployment: Deployment, server: str
) -> None:
    secret = _officer(deployment, "minh")
    auditor_secret = _officer(deployment, "kiem-toan", "auditor")
    with httpx.Client(base_url=server, timeout=30) as browser:
        anonymous = browser.post("/console/certificates/ab/revoke", data={"reason": "retired", "csrf": "x"})
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login")
        browser.post(
            "/console/login",
            data={"username": "minh", "password": PASSWORD, "code": pyotp.TOTP(secret).now()},
        )
        page = browser.get("/console/issue")
        assert page.status_code == 200 and 'name="csrf"' in page.text
        forged = browser.post("/console/issue", data={"profile": "individual", "csrf": "forged"})
        assert forged.status_code == 403 and "CSRF" in forged.text
    with httpx.Client(base_url=server, timeout=30) as browser:
        browser.post(
            "/console/login",
            data={"username": "kiem-toan", "password": PASSWORD, "code": pyotp.TOTP(auditor_secret).now()},
        )
        assert browser.get("/console/certificates").status_code == 200
        assert browser.get("/console/issue").status_code == 403


def test_the_official_sets_and_changes_their_own_pin(deployment: Deployment, server: str) -> None:
    """The first PIN with the set-up code from registration, then changes; nobody else sees either."""
    issued = (
        deployment.cli(
            "ca", "issue", "--profile", "individual", "--subject", str(DEMO / "official-nguyen-van-anh.json")
        )
        .stdout.strip()
        .splitlines()
    )
    serial, setup_code = issued[-1], issued[-2].rsplit(" ", 1)[-1]
    account_id = (
        deployment.cli("account", "create-official", "--cert", serial).stdout.split(":")[0].split()[-1]
    )
    enrolled = deployment.cli(
        "console", "enrol", "--username", "anh", "--account", account_id, stdin=PASSWORD + "\n"
    )
    secret = enrolled.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=server, timeout=30) as browser:
        browser.post(
            "/console/login", data={"username": "anh", "password": PASSWORD, "code": pyotp.TOTP(secret).now()}
        )
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/console/pin").text)
        assert csrf is not None

        def change(current: str, new: str) -> httpx.Response:
            return browser.post(
                "/console/pin", data={"current": current, "new": new, "again": new, "csrf": csrf.group(1)}
            )

        assert change("135790", "246802").status_code == 403  # no PIN yet: the set-up code comes first
        assert change(setup_code, "135790").status_code == 200
        assert change(setup_code, "111111").status_code == 403  # the code is spent: it is no PIN
        wrong = change("000000", "246802")
        # in the page's language (Vietnamese by default), with the attempts left
        assert wrong.status_code == 403 and "Sai mã PIN kích hoạt (còn " in wrong.text, wrong.text
        assert change("135790", "246802").status_code == 200
    with deployment.authority.database.engine.begin() as connection:
        changes = connection.execute(
            text(
                "SELECT action, actor, result FROM audit_log WHERE action IN "
                "('credential.take-control', 'credential.change-pin') AND actor LIKE :actor ORDER BY seq"
            ),
            {"actor": f"account:{account_id}:%"},
        ).all()
    holder = f"account:{account_id}:Nguyễn Văn Ánh"
    assert [tuple(row) for row in changes] == [
        ("credential.take-control", holder, "refused"),
        ("credential.take-control", holder, "success"),
        ("credential.change-pin", holder, "refused"),
        ("credential.change-pin", holder, "refused"),
        ("credential.change-pin", holder, "success"),
    ]


def test_several_files_become_a_batch_with_a_progress_page(
    deployment: Deployment, server: str, tmp_path: Path
) -> None:
    serial = issue_in_hsm(deployment)
    account_id = (
        deployment.cli("account", "create-official", "--cert", serial).stdout.split(":")[0].split()[-1]
    )
    enrolled = deployment.cli(
        "console", "enrol", "--username", "tung", "--account", account_id, stdin=PASSWORD + "\n"
    )
    secret = enrolled.stdout.strip().splitlines()[-1]
    documents = [one_page_pdf(tmp_path / f"ban-{n}.pdf", text=f"Ban {n}").read_bytes() for n in range(3)]
    with httpx.Client(base_url=server, timeout=60) as browser:
        csrf = signed_in_csrf(browser, "tung", PASSWORD, secret)
        started = browser.post(
            "/console/sign/preview",
            data={"csrf": csrf, "appearance": "none", "pin": HOLDER_PIN},
            files=[("files", (f"ban-{n}.pdf", data, "application/pdf")) for n, data in enumerate(documents)],
        )
        assert started.status_code == 303, started.text
        progress_url = started.headers["location"]
        deadline = time.monotonic() + 180
        while (
            "status-finished" not in (page := browser.get(progress_url).text) and time.monotonic() < deadline
        ):
            assert 'http-equiv="refresh"' in page
            time.sleep(1)
        assert "3/3" in page and 'http-equiv="refresh"' not in page
        link = re.search(r'href="(/console/batches/[^"]+/documents/[^"]+)"', page)
        assert link is not None
        signed = tmp_path / "signed.pdf"
        signed.write_bytes(browser.get(link.group(1)).content)
    assert pdfsig_integrity(signed) == [True]  # poppler's own check of the signature
