"""API tokens expire, are reissued and revoked on the server; every refused request is audited."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.conftest import Deployment, running_server


def _admin(deployment: Deployment) -> tuple[str, str]:
    created = deployment.cli(
        "admin", "create", "--name", "Phạm Văn Tùng", "--role", "auditor"
    ).stdout.splitlines()
    return created[0].split(":")[0].removeprefix("administrator "), created[-1]


def test_a_reissued_token_replaces_the_old_one_and_a_revoked_or_expired_one_is_refused(
    sqlite_deployment: Deployment,
) -> None:
    admin_id, first = _admin(sqlite_deployment)
    with running_server(sqlite_deployment) as base:

        def status(token: str) -> httpx.Response:
            return httpx.get(f"{base}/api/v1/approvals", headers={"Authorization": f"Bearer {token}"})

        assert status(first).status_code == 200
        second = (
            sqlite_deployment.cli("admin", "token", admin_id, "--days", "30").stdout.strip().splitlines()[-1]
        )
        assert status(first).status_code == 401 and status(second).status_code == 200
        with sqlite_deployment.authority.database.engine.begin() as connection:
            connection.execute(
                text("UPDATE administrators SET token_expires_at = :t WHERE id = :i"),
                {"t": "2020-01-01 00:00:00.000000+00:00", "i": int(admin_id)},
            )
        expired = status(second)
        assert expired.status_code == 401 and "expired on 2020-01-01" in expired.json()["detail"]
        third = sqlite_deployment.cli("admin", "token", admin_id).stdout.strip().splitlines()[-1]
        assert status(third).status_code == 200
        sqlite_deployment.cli("admin", "token", admin_id, "--revoke")
        assert status(third).status_code == 401
    with sqlite_deployment.authority.database.engine.begin() as connection:
        actions = (
            connection.execute(
                text("SELECT action FROM audit_log WHERE object = :o ORDER BY seq"),
                {"o": f"administrators:{admin_id}"},
            )
            .scalars()
            .all()
        )
        refusals = (
            connection.execute(
                text(
                    "SELECT details FROM audit_log WHERE action = 'access.refused' AND details LIKE '%expired on 2020%'"
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["token.reissue", "token.reissue", "token.revoke"]
    assert refusals and "GET /api/v1/approvals" in refusals[-1] and "127.0.0.1" in refusals[-1]
