"""POST /api/v1/sign over real HTTP: an official's token and PIN sign with their own key only; wrong PINs
lock the credential and leave a trace in the audit log; bad requests get clear 4xx answers."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import select, update

from ca.signing_keys import subscriber_key
from ca.store import AuditEntry
from govsign.config import runtime
from signing.batch import run_batch
from signing.batch_store import BatchItem, create_batch
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, running_server
from tests.pdf_quirks import signed_hybrid_reference
from tests.pdf_samples import one_page_pdf, seal_png, signature_png
from tests.test_pades import assert_pdfsig_valid_and_trusted

PIN = "246810"


@dataclass(frozen=True)
class Credential:
    account_id: int
    serial: str
    token: str


def _account(deployment: Deployment, command: str, serial: str, image: Path) -> Credential:
    created = deployment.cli("account", command, "--cert", serial).stdout.strip().splitlines()
    account_id = int(created[0].split(":")[0].removeprefix("account "))
    deployment.cli("account", "set-image", str(account_id), str(image))
    return Credential(account_id, serial, created[-1])


@pytest.fixture(scope="module")
def official(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Credential:
    image = signature_png(tmp_path_factory.mktemp("images") / "chu-ky.png")
    serial = issue_in_hsm(sqlite_deployment)
    return _account(sqlite_deployment, "create-official", serial, image)


@pytest.fixture(scope="module")
def clerk(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Credential:
    image = seal_png(tmp_path_factory.mktemp("images") / "con-dau.png")
    serial = issue_in_hsm(sqlite_deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
    return _account(sqlite_deployment, "create-clerk", serial, image)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return one_page_pdf(tmp_path_factory.mktemp("input") / "ket-qua.pdf").read_bytes()


def post_sign(
    base: str, credential: Credential | None, pdf: bytes, *, pin: str | None = PIN, **fields: str
) -> httpx.Response:
    headers = {}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential.token}"
    if pin is not None:
        headers["X-Activation-PIN"] = pin
    return httpx.post(
        f"{base}/api/v1/sign",
        headers=headers,
        files={"file": ("ket-qua.pdf", pdf, "application/pdf")},
        data=fields,
        timeout=120,
    )


def test_official_signs_then_clerk_seals_both_trusted(
    public_server: str, official: Credential, clerk: Credential, document: bytes, nss_db: str, tmp_path: Path
) -> None:
    approved = post_sign(
        public_server, official, document, level="B-T", appearance="approval", box="330,120,180,72"
    )
    assert approved.status_code == 200, approved.text
    assert approved.headers["content-type"] == "application/pdf"
    assert approved.headers["x-signature-field"].startswith("govsign-approval-")
    sealed = post_sign(public_server, clerk, approved.content, level="B-LTA", appearance="issue")
    assert sealed.status_code == 200, sealed.text
    (tmp_path / "sealed.pdf").write_bytes(sealed.content)
    assert_pdfsig_valid_and_trusted(nss_db, tmp_path / "sealed.pdf", expected=2)


def test_no_token_or_unknown_token_is_401(public_server: str, document: bytes) -> None:
    assert post_sign(public_server, None, document).status_code == 401
    stranger = Credential(0, "", "gsk_not-a-real-token")
    response = post_sign(public_server, stranger, document)
    assert response.status_code == 401 and "not known" in response.json()["detail"]


def test_someone_elses_certificate_is_403(
    public_server: str, official: Credential, clerk: Credential, document: bytes
) -> None:
    response = post_sign(public_server, official, document, cert=clerk.serial)
    assert response.status_code == 403 and official.serial in response.json()["detail"]


def test_bad_documents_get_clear_4xx(public_server: str, official: Credential) -> None:
    response = post_sign(public_server, official, b"GIF89a not a pdf at all")
    assert response.status_code == 422 and "not a PDF" in response.json()["detail"]
    response = post_sign(public_server, official, b"%PDF-1.7\n", level="B-Z")
    assert response.status_code == 422


@pytest.fixture(scope="module")
def small_server(sqlite_deployment: Deployment) -> Iterator[str]:
    with running_server(sqlite_deployment, GOVSIGN_MAX_DOCUMENT_MB="1") as base:
        yield base


def test_oversized_upload_is_413_and_nothing_stays_in_the_spool(
    small_server: str, official: Credential, sqlite_deployment: Deployment
) -> None:
    response = post_sign(small_server, official, b"%PDF-1.7\n" + b"0" * (3 * 2**20))
    assert response.status_code == 413 and "MiB" in response.json()["detail"]
    spool = sqlite_deployment.settings.home / "spool"
    assert not spool.exists() or list(spool.iterdir()) == []


def test_five_wrong_pins_lock_the_credential_and_are_audited(
    public_server: str, sqlite_deployment: Deployment, document: bytes, tmp_path: Path
) -> None:
    serial = issue_in_hsm(sqlite_deployment)
    victim = _account(sqlite_deployment, "create-official", serial, signature_png(tmp_path / "s.png"))
    answers = [post_sign(public_server, victim, document, pin="000000") for _ in range(5)]
    assert [a.status_code for a in answers] == [403, 403, 403, 403, 423]
    assert "1 attempts left" in answers[3].json()["detail"]
    right_pin_now = post_sign(public_server, victim, document)
    assert right_pin_now.status_code == 423 and "locked" in right_pin_now.json()["detail"]
    key_id = subscriber_key(sqlite_deployment.authority, serial).key_id
    with sqlite_deployment.authority.database.transaction() as session:
        refused = (
            session.execute(
                select(AuditEntry).where(
                    AuditEntry.object == f"credential:{key_id}",
                    AuditEntry.action == "credential.authorize",
                    AuditEntry.result == "refused",
                )
            )
            .scalars()
            .all()
        )
        details = [json.loads(entry.details) for entry in refused]
    assert len(details) == 6
    assert all(d["client"] == "127.0.0.1" for d in details)
    sqlite_deployment.cli("account", "unlock", str(victim.account_id))
    assert post_sign(public_server, victim, document).status_code == 200


def wait_for_batch(
    base: str, credential: Credential, batch_id: str, seconds: float = 180
) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        report = httpx.get(
            f"{base}/api/v1/batches/{batch_id}", headers={"Authorization": f"Bearer {credential.token}"}
        ).json()
        if report["state"] == "finished":
            return dict(report)
        time.sleep(0.5)
    raise AssertionError(f"batch {batch_id} did not finish: {report}")


def test_one_activation_signs_a_batch_bound_to_its_digests(
    public_server: str, clerk: Credential, sqlite_deployment: Deployment, nss_db: str, tmp_path: Path
) -> None:
    documents = [
        one_page_pdf(tmp_path / f"ban-sao-{n}.pdf", text=f"Ban sao {n}").read_bytes() for n in range(3)
    ]
    response = httpx.post(
        f"{public_server}/api/v1/batches",
        headers={"Authorization": f"Bearer {clerk.token}", "X-Activation-PIN": PIN},
        files=[("files", (f"ban-sao-{n}.pdf", pdf, "application/pdf")) for n, pdf in enumerate(documents)],
        data={"appearance": "copy", "level": "B-T"},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]
    report = wait_for_batch(public_server, clerk, batch_id)
    assert (report["done"], report["failed"], report["total"]) == (3, 0, 3), report
    for item in report["documents"]:  # type: ignore[attr-defined]
        signed = httpx.get(
            f"{public_server}/api/v1/batches/{batch_id}/documents/{item['name']}",
            headers={"Authorization": f"Bearer {clerk.token}"},
        )
        assert signed.status_code == 200
        (tmp_path / item["name"]).write_bytes(signed.content)
        assert_pdfsig_valid_and_trusted(nss_db, tmp_path / item["name"], expected=1)
    key_id = subscriber_key(sqlite_deployment.authority, clerk.serial).key_id
    with sqlite_deployment.authority.database.transaction() as session:
        activations = (
            session.execute(
                select(AuditEntry).where(
                    AuditEntry.object == f"credential:{key_id}", AuditEntry.action == "credential.authorize"
                )
            )
            .scalars()
            .all()
        )
    grants = [json.loads(entry.details) for entry in activations]
    batch_grant = [g for g in grants if len(g["hashes"]) == 3]
    assert len(batch_grant) == 1, grants  # one PIN, one grant, for exactly these three documents
    assert batch_grant[0]["kind"] == "documents"
    assert sorted(batch_grant[0]["hashes"]) == sorted(hashlib.sha256(pdf).hexdigest() for pdf in documents)


def test_another_account_cannot_see_the_batch(
    public_server: str, official: Credential, clerk: Credential
) -> None:
    response = httpx.get(
        f"{public_server}/api/v1/batches/0123456789abcdef",
        headers={"Authorization": f"Bearer {official.token}"},
    )
    assert response.status_code == 404


def test_a_batch_document_is_served_only_once_the_batch_has_recorded_it_signed(
    public_server: str, clerk: Credential, sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """A worker writes a document's output before the coordinator commits its outcome with its audit
    entry; a file in the output folder whose item is not done is not handed out."""
    one_page_pdf(tmp_path / "a.pdf")
    batch_id = create_batch(
        sqlite_deployment.authority.database,
        owner=f"account:{clerk.account_id}:written, not yet recorded",
        serial=clerk.serial,
        options=SigningOptions(level=Level.B_B),
        sources=[tmp_path / "a.pdf"],
        target_dir=tmp_path / "out",
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.pdf").write_bytes(b"%PDF-1.7 written by a worker, outcome not committed")
    url = f"{public_server}/api/v1/batches/{batch_id}/documents/a.pdf"
    early = httpx.get(url, headers={"Authorization": f"Bearer {clerk.token}"})
    assert early.status_code == 404 and "not signed (yet)" in early.json()["detail"], early.text
    with sqlite_deployment.authority.database.transaction() as session:
        session.execute(update(BatchItem).where(BatchItem.batch_id == batch_id).values(state="done"))
    recorded = httpx.get(url, headers={"Authorization": f"Bearer {clerk.token}"})
    assert recorded.status_code == 200 and recorded.content.startswith(b"%PDF-1.7 written"), recorded.text


def test_a_document_changed_after_approval_is_refused(
    sqlite_deployment: Deployment, clerk: Credential, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    approved = one_page_pdf(inputs / "a.pdf", text="approved")
    digest = hashlib.sha256(approved.read_bytes()).hexdigest()
    one_page_pdf(inputs / "a.pdf", text="swapped afterwards")
    batch_id = create_batch(
        sqlite_deployment.authority.database,
        owner="test",
        serial=clerk.serial,
        options=SigningOptions(level=Level.B_B),
        sources=[inputs / "a.pdf"],
        target_dir=tmp_path,
        approved_digests={"a.pdf": digest},
    )
    report = run_batch(
        sqlite_deployment.authority,
        batch_id,
        open_authority=runtime.authority_from_environment,
        worker_environment=sqlite_deployment.env,
        processes=1,
    )
    assert report.failed == 1 and "not the one approved" in str(report.items[0]["error"])
    assert not (tmp_path / "a.pdf").exists()


def test_a_server_resumes_a_batch_left_running_but_signs_nothing_without_its_holder(
    sqlite_deployment: Deployment, clerk: Credential, tmp_path: Path
) -> None:
    """A batch that a stopped server left running is taken up by the next one, once, though maintenance
    ticks every 0.2 s. The holder's activation died with the old process (a SAD is never stored), so each
    remaining document fails unsigned, saying to submit it again with the PIN: a restart is no way to
    sign without the holder (docs/SOLE-CONTROL.md)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    sources = [one_page_pdf(inputs / f"{n}.pdf") for n in range(3)]
    batch_id = create_batch(
        sqlite_deployment.authority.database,
        owner=f"account:{clerk.account_id}:left by a server that stopped",
        serial=clerk.serial,
        options=SigningOptions(level=Level.B_B),
        sources=sources,
        target_dir=tmp_path / "out",
    )
    (tmp_path / "out").mkdir()
    with running_server(sqlite_deployment, GOVSIGN_MAINTENANCE_INTERVAL_SECONDS="0.2") as base:
        report = wait_for_batch(base, clerk, batch_id)
    assert (report["done"], report["failed"]) == (0, 3), report
    errors = [str(item["error"]) for item in report["documents"]]  # type: ignore[attr-defined]
    assert all("activation" in error and "PIN" in error for error in errors), errors
    assert list((tmp_path / "out").iterdir()) == []
    with sqlite_deployment.authority.database.transaction() as session:
        signed = session.scalars(
            select(AuditEntry.object).where(
                AuditEntry.action.in_(("document.sign", "credential.sign")),
                AuditEntry.actor.endswith(f"(batch {batch_id})"),
            )
        ).all()
    assert signed == [], "nothing may be signed for a batch whose holder's activation is gone"


def test_a_holder_with_a_second_factor_signs_over_the_api_only_with_its_current_code(
    public_server: str, sqlite_deployment: Deployment, document: bytes, tmp_path: Path
) -> None:
    """PIN + TOTP where the holder enrolled one (console sign-in): the API asks for X-Activation-OTP as
    the CSC API asks for OTP, so a stolen token and PIN are not enough."""
    holder = _account(
        sqlite_deployment,
        "create-official",
        issue_in_hsm(sqlite_deployment),
        signature_png(tmp_path / "s.png"),
    )
    enrolled = sqlite_deployment.cli(
        "console", "enrol", "--username", f"otp-{holder.account_id}", "--account", str(holder.account_id),
        stdin="mật khẩu đủ dài 2026\n",
    )  # fmt: skip
    secret = enrolled.stdout.strip().splitlines()[-1]
    missing = post_sign(public_server, holder, document)
    assert missing.status_code == 401 and "second factor" in missing.json()["detail"], missing.text
    wrong = httpx.post(
        f"{public_server}/api/v1/sign",
        headers={
            "Authorization": f"Bearer {holder.token}",
            "X-Activation-PIN": PIN,
            "X-Activation-OTP": "000000",
        },
        files={"file": ("ket-qua.pdf", document, "application/pdf")},
        timeout=120,
    )
    assert wrong.status_code == 403 and "wrong or already used code" in wrong.json()["detail"], wrong.text
    right = httpx.post(
        f"{public_server}/api/v1/sign",
        headers={
            "Authorization": f"Bearer {holder.token}",
            "X-Activation-PIN": PIN,
            "X-Activation-OTP": pyotp.TOTP(secret).now(),
        },
        files={"file": ("ket-qua.pdf", document, "application/pdf")},
        timeout=120,
    )
    assert right.status_code == 200, right.text


def test_the_response_says_when_a_strict_reader_would_refuse_the_signed_pdf(
    public_server: str, official: Credential, document: bytes, tmp_path: Path
) -> None:
    """A hybrid-reference file is signed as it is; X-Strict-Reader-Note says what a strict validator will
    say of it, and a plain file has no such header."""
    hybrid = post_sign(public_server, official, signed_hybrid_reference(tmp_path).read_bytes(), level="B-B")
    assert hybrid.status_code == 200, hybrid.text
    assert "hybrid-reference" in hybrid.headers["X-Strict-Reader-Note"]
    plain = post_sign(public_server, official, document, level="B-B")
    assert plain.status_code == 200 and "X-Strict-Reader-Note" not in plain.headers
