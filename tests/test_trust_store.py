"""Third-party CAs in the trust store: added by a ca_admin (CLI or API) under a name the report shows,
trusted only inside their window, removed again; refused clearly when they cannot be anchors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from ca.store import AuditEntry
from govsign.access.trust_anchors import TrustRole, add_trusted_certificate, remove_trusted_certificate
from govsign.access.trust_store import trust_store
from tests.conftest import Deployment, administrator_token
from tests.fetch_origins import partner_ca, partner_signed
from tests.pdf_samples import one_page_pdf


@pytest.fixture()
def foreign_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A one-page PDF signed (B-B) by a fresh foreign CA, and that CA's root as a PEM file."""
    ca = partner_ca()
    signed = tmp_path / "nuoc-ngoai.pdf"
    document = one_page_pdf(tmp_path / "goc.pdf").read_bytes()
    # its own revocation data embedded: a leaf with none would be INDETERMINATE / TRY_LATER (issue 9.7)
    signed.write_bytes(partner_signed(document, ca, embed_crl=True))
    root = tmp_path / "foreign-root.pem"
    root.write_bytes(ca.root_pem)
    return signed, root


def _verdict(deployment: Deployment, signed: Path) -> dict[str, object]:
    report = json.loads(deployment.cli("verify", str(signed), "--json", "--offline", check=False).stdout)
    verdict: dict[str, object] = report["signatures"][0]
    return verdict


def test_a_root_added_by_name_is_the_anchor_the_report_names_until_it_is_removed(
    sqlite_deployment: Deployment, foreign_signed: tuple[Path, Path]
) -> None:
    signed, root = foreign_signed
    assert _verdict(sqlite_deployment, signed)["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    added = sqlite_deployment.cli("trust", "add", str(root), "--name", "CA nước ngoài thử nghiệm")
    entry_id = added.stdout.split()[1].rstrip(":")
    verdict = _verdict(sqlite_deployment, signed)
    assert (verdict["indication"], verdict["trust_anchor"]) == ("TOTAL_PASSED", "CA nước ngoài thử nghiệm")
    assert "CA nước ngoài thử nghiệm" in sqlite_deployment.cli("trust", "list").stdout
    again = sqlite_deployment.cli("trust", "add", str(root), "--name", "again", check=False)
    assert again.returncode != 0 and "already trusted as 'CA nước ngoài thử nghiệm'" in again.stderr
    sqlite_deployment.cli("trust", "remove", entry_id)
    assert _verdict(sqlite_deployment, signed)["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    with sqlite_deployment.authority.database.transaction() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object == f"trusted:{entry_id}")
            .order_by(AuditEntry.seq)
        ).all()
    assert actions == ["trust.add", "trust.remove"]


def test_an_anchor_counts_only_for_signatures_made_inside_its_window(
    sqlite_deployment: Deployment, foreign_signed: tuple[Path, Path]
) -> None:
    signed, root = foreign_signed
    expired = sqlite_deployment.cli(
        "trust", "add", str(root), "--name", "trusted until yesterday", "--until", _days_from_now(-1)
    )
    assert _verdict(sqlite_deployment, signed)["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    sqlite_deployment.cli("trust", "remove", expired.stdout.split()[1].rstrip(":"))
    current = sqlite_deployment.cli(
        "trust",
        "add",
        str(root),
        "--name",
        "trusted this week",
        "--from",
        _days_from_now(-1),
        "--until",
        _days_from_now(6),
    )
    assert _verdict(sqlite_deployment, signed)["trust_anchor"] == "trusted this week"
    sqlite_deployment.cli("trust", "remove", current.stdout.split()[1].rstrip(":"))


def _days_from_now(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def test_what_cannot_be_an_anchor_is_refused_with_a_reason(
    sqlite_deployment: Deployment, foreign_signed: tuple[Path, Path], tmp_path: Path
) -> None:
    signed, root = foreign_signed
    leaf = tmp_path / "leaf.pem"
    with signed.open("rb") as stream:
        signer = PdfFileReader(stream).embedded_signatures[0].signer_cert
    leaf.write_bytes(pem.armor("CERTIFICATE", signer.dump()))
    cases = [
        (["trust", "add", str(leaf), "--name", "a leaf"], "is not a CA certificate"),
        (["trust", "add", str(signed), "--name", "a PDF"], "holds no X.509 certificate"),
        (["trust", "add", str(root), "--name", "no zone", "--until", "2030-01-01T00:00"], "has no time zone"),
        (
            [
                "trust",
                "add",
                str(root),
                "--name",
                "empty",
                "--from",
                "2030-01-01T00:00Z",
                "--until",
                "2029-01-01T00:00Z",
            ],
            "ends before it starts",
        ),
        (["trust", "remove", "999999"], "no trusted certificate 999999"),
    ]
    for arguments, message in cases:
        refused = sqlite_deployment.cli(*arguments, check=False)
        assert refused.returncode != 0 and message in refused.stderr, (arguments, refused.stderr)
        assert "Traceback" not in refused.stderr


def test_an_intermediate_helps_paths_but_ends_none(
    sqlite_deployment: Deployment, foreign_signed: tuple[Path, Path]
) -> None:
    _, root = foreign_signed
    _, _, der = pem.unarmor(root.read_bytes())
    certificate = asn1_x509.Certificate.load(der)
    authority = sqlite_deployment.authority
    entry = add_trusted_certificate(
        authority, certificate, name="helper only", role=TrustRole.INTERMEDIATE, actor="test"
    )
    store = trust_store(authority)
    assert certificate.dump() in [c.dump() for c in store.intermediates]
    assert certificate.dump() not in [a.certificate.dump() for a in store.anchors]
    remove_trusted_certificate(authority, entry.id, actor="test")


def test_the_api_lets_ca_admins_alone_change_the_store_and_anyone_read_it(
    sqlite_deployment: Deployment, public_server: str, foreign_signed: tuple[Path, Path]
) -> None:
    signed, root = foreign_signed
    url = f"{public_server}/api/v1/trust-anchors"
    admin = administrator_token(sqlite_deployment, "ca_admin")
    officer = administrator_token(sqlite_deployment, "ra_officer")
    form = {"name": "Foreign via API", "trusted_from": "2020-01-01T00:00:00+07:00"}
    files = {"certificate": ("root.pem", root.read_bytes())}
    assert httpx.post(url, data=form, files=files).status_code == 401
    refused = httpx.post(url, data=form, files=files, headers={"Authorization": f"Bearer {officer}"})
    assert refused.status_code == 403 and "ca_admin" in refused.json()["detail"]
    garbage = httpx.post(
        url, data=form, files={"certificate": ("x.pem", b"not a certificate")}, headers=_bearer(admin)
    )
    assert garbage.status_code == 422 and "no X.509 certificate" in garbage.json()["detail"]
    created = httpx.post(url, data=form, files=files, headers=_bearer(admin))
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["trusted_from"] == "2019-12-31T17:00:00+00:00" and entry["role"] == "anchor"
    assert any(e["name"] == "Foreign via API" for e in httpx.get(url).json())
    with signed.open("rb") as stream:
        report = httpx.post(f"{public_server}/api/v1/verify", files={"file": ("s.pdf", stream)}, timeout=60)
    assert report.json()["signatures"][0]["trust_anchor"] == "Foreign via API"
    double = httpx.post(url, data=form, files=files, headers=_bearer(admin))
    assert double.status_code == 409
    assert httpx.delete(f"{url}/{entry['id']}", headers=_bearer(officer)).status_code == 403
    assert httpx.delete(f"{url}/{entry['id']}", headers=_bearer(admin)).status_code == 200
    assert httpx.delete(f"{url}/{entry['id']}", headers=_bearer(admin)).status_code == 404


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
