"""Registration over HTTP: an RA officer issues and renews, a ca_admin makes the signing account, the
officer uploads the signature image; the certificates are checked by openssl, not by our code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.conftest import DEMO, Deployment, administrator_token, running_server
from tests.pdf_samples import signature_png


def test_officer_issues_and_renews_admin_makes_the_account_officer_uploads_the_image(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    officer = {"Authorization": f"Bearer {administrator_token(sqlite_deployment, 'ra_officer')}"}
    admin = {"Authorization": f"Bearer {administrator_token(sqlite_deployment, 'ca_admin')}"}
    subject = json.loads((DEMO / "official-tran-thi-binh-60-days.json").read_text("utf-8"))  # renewable now
    with running_server(sqlite_deployment) as base:
        issued = httpx.post(
            f"{base}/api/v1/certificates",
            json={"profile": "individual", "subject": subject, "key_type": "ec-p256"},
            headers=officer,
            timeout=60,
        )
        assert issued.status_code == 201, issued.text
        serial = issued.json()["serial"]
        refused = httpx.post(
            f"{base}/api/v1/certificates",
            json={"profile": "individual", "subject": {**subject, "personal_id": "12"}},
            headers=officer,
        )
        assert refused.status_code == 422 and "personal_id" in refused.json()["detail"]
        renewed = httpx.post(
            f"{base}/api/v1/certificates/{serial}/renew", params={"years": 1}, headers=officer
        )
        assert renewed.status_code == 201 and renewed.json()["serial"] != serial
        account = httpx.post(
            f"{base}/api/v1/accounts", json={"kind": "official", "certificate_serial": serial}, headers=admin
        )
        assert account.status_code == 201 and account.json()["token"].startswith("gsk_")
        image_url = f"{base}/api/v1/accounts/{account.json()['account_id']}/image"
        png = signature_png(tmp_path / "chu-ky.png").read_bytes()
        assert httpx.put(image_url, files={"image": ("a.png", png)}, headers=admin).status_code == 403
        uploaded = httpx.put(image_url, files={"image": ("a.png", png)}, headers=officer)
        assert uploaded.status_code == 200 and uploaded.json()["image_bytes"] == len(png)
        not_png = httpx.put(image_url, files={"image": ("a.gif", b"GIF89a")}, headers=officer)
        assert not_png.status_code == 422 and "PNG" in not_png.json()["detail"]
    for answer in (issued, renewed):
        leaf = tmp_path / "leaf.pem"
        leaf.write_text(answer.json()["certificate_pem"])
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", str(sqlite_deployment.chain_pem), str(leaf)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert verified.returncode == 0 and ": OK" in verified.stdout, verified.stderr
