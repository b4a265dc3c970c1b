"""The people of the console's browser tests: logins with TOTP, officers and signing accounts made through
the CLI as an operator would, and signing in on the page (Playwright)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyotp

from tests.conftest import Deployment

if TYPE_CHECKING:  # types only: the tests import playwright themselves, when they run
    from playwright.sync_api import Page

PASSWORD = "mật khẩu đủ dài 2026"
PIN = "246810"


def enrol(deployment: Deployment, username: str, *subject: str) -> str:
    """A console login; returns its TOTP secret (printed once, last line)."""
    enrolled = deployment.cli("console", "enrol", "--username", username, *subject, stdin=PASSWORD + "\n")
    return enrolled.stdout.strip().splitlines()[-1]


def officer(deployment: Deployment, name: str, username: str, role: str = "ra_officer") -> str:
    """An administrator with a console login; returns its TOTP secret."""
    created = deployment.cli("admin", "create", "--name", name, "--role", role).stdout
    admin_id = created.splitlines()[0].split(":")[0].removeprefix("administrator ")
    return enrol(deployment, username, "--admin", admin_id)


def signing_account(
    deployment: Deployment,
    command: str,
    serial: str,
    image: Path,
    username: str,
    setup_code: str | None = None,
) -> str:
    """An account for the certificate's holder, who (given ``setup_code``) chooses the PIN with it."""
    created = deployment.cli("account", command, "--cert", serial).stdout.strip().splitlines()
    account_id = created[0].split(":")[0].removeprefix("account ")
    if setup_code is not None:
        deployment.cli("account", "set-pin", account_id, stdin=f"{setup_code}\n{PIN}\n")
    deployment.cli("account", "set-image", account_id, str(image))
    return enrol(deployment, username, "--account", account_id)


def sign_in(page: Page, base: str, username: str, secret: str, lang: str = "vi") -> None:
    page.goto(f"{base}/console/login?lang={lang}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
