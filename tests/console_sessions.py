"""Signed-in console sessions for the tests of the console's pages: a person of a role (or an account's
holder) enrolled in-process, then signed in over HTTP with password and TOTP like anyone else."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pyotp

from govsign.access.administrators import Role, create_administrator
from govsign.access.console_auth import enrol
from tests.conftest import Deployment

__all__ = ["PASSWORD", "ConsoleSession", "enrol_login", "sign_in"]

PASSWORD = "mật khẩu quản trị đủ dài"


@dataclass
class ConsoleSession:
    """A browser-like client with the session cookie, and the session's CSRF token for form posts."""

    client: httpx.Client
    csrf: str

    def __enter__(self) -> ConsoleSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(
        self, path: str, data: dict[str, str] | None = None, **files: tuple[str, bytes]
    ) -> httpx.Response:
        """A form post carrying the CSRF token (and ``files`` as multipart)."""
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, files=files or None)


def enrol_login(
    deployment: Deployment, username: str, *, role: Role | None = None, account: int | None = None
) -> str:
    """A console login for a new administrator of ``role``, or for signing account ``account``'s holder;
    returns its TOTP secret."""
    admin_id = None
    if role is not None:
        admin_id = create_administrator(deployment.authority, f"Cán bộ {username}", role, actor="test").id
    enrolment = enrol(
        deployment.authority,
        admin_id=admin_id,
        account_id=account,
        username=username,
        password=PASSWORD,
        actor="test",
    )
    return enrolment.totp_secret


def sign_in(server: str, username: str, secret: str) -> ConsoleSession:
    """Sign in at ``server`` (the caller closes ``client``)."""
    client = httpx.Client(base_url=server, timeout=60)
    login = {"username": username, "password": PASSWORD, "code": pyotp.TOTP(secret).now()}
    answer = client.post("/console/login", data=login)
    assert answer.status_code == 303, answer.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console").text)
    assert csrf is not None
    return ConsoleSession(client, csrf.group(1))
