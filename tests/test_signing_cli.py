"""`govsign sign` end to end in its own process: a good document signs; each bad input gets one clear
error, a non-zero exit code and no output file (nor any temporary file left beside it)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest

from ca.errors import StateConflict
from ca.issuance import SubjectKey, issue_certificate
from ca.profiles import CertificateKind, parse_request
from ca.reasons import RevocationReason
from ca.revocation import revoke_certificate
from ca.signing_keys import subscriber_key
from tests.conftest import DEMO, HOLDER_PIN, SOFTHSM_CONF, Deployment, issue_in_hsm
from tests.pdf_samples import one_page_pdf
from tests.test_pades import assert_pdfsig_valid_and_trusted


@pytest.fixture(scope="module")
def official(sqlite_deployment: Deployment) -> str:
    return issue_in_hsm(sqlite_deployment)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    one_page_pdf(tmp_path / "in.pdf")
    return tmp_path


def sign_cli(
    deployment: Deployment, folder: Path, serial: str, *options: str, pin: str | None = HOLDER_PIN
) -> subprocess.CompletedProcess[str]:
    """`govsign sign` with the holder typing ``pin`` (standard input), as the CLI asks of every holder."""
    return deployment.cli(
        "sign",
        str(folder / "in.pdf"),
        "-o",
        str(folder / "out.pdf"),
        "--cert",
        serial,
        *options,
        check=False,
        stdin=None if pin is None else pin + "\n",
    )


def assert_refused(result_code: int, stderr: str, expected_code: int, words: str, folder: Path) -> None:
    assert result_code == expected_code, stderr
    assert words in stderr, stderr
    assert "Traceback" not in stderr
    assert not (folder / "out.pdf").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], list(folder.iterdir())


def test_cli_signs_at_b_lt_with_a_text_block(
    sqlite_deployment: Deployment, official: str, workdir: Path, public_server: str, nss_db: str
) -> None:
    result = sign_cli(sqlite_deployment, workdir, official, "--level", "B-LT", "--appearance", "text")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("govsign-text-")
    assert_pdfsig_valid_and_trusted(nss_db, workdir / "out.pdf", expected=1)


def test_an_operator_without_the_holders_pin_signs_nothing(
    sqlite_deployment: Deployment, official: str, workdir: Path
) -> None:
    """The shell, both token PINs (in GOVSIGN_HOME) and the database are not enough: no PIN, no output."""
    result = sign_cli(sqlite_deployment, workdir, official, pin=None)
    assert_refused(result.returncode, result.stderr, 2, "signs only with its holder's PIN", workdir)
    wrong = sign_cli(sqlite_deployment, workdir, official, pin="999999")
    assert_refused(wrong.returncode, wrong.stderr, 8, "wrong PIN", workdir)


def test_not_a_pdf(sqlite_deployment: Deployment, official: str, workdir: Path) -> None:
    (workdir / "in.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    result = sign_cli(sqlite_deployment, workdir, official)
    assert_refused(result.returncode, result.stderr, 2, "not a PDF", workdir)


def test_truncated_pdf(sqlite_deployment: Deployment, official: str, workdir: Path) -> None:
    (workdir / "in.pdf").write_bytes((workdir / "in.pdf").read_bytes()[:300])
    result = sign_cli(sqlite_deployment, workdir, official, "--repair")
    assert_refused(result.returncode, result.stderr, 2, "damaged", workdir)


def test_encrypted_without_its_password(sqlite_deployment: Deployment, official: str, workdir: Path) -> None:
    with pikepdf.open(workdir / "in.pdf", allow_overwriting_input=True) as pdf:
        pdf.save(workdir / "in.pdf", encryption=pikepdf.Encryption(user="mat-khau", owner="chu-so-huu"))
    result = sign_cli(sqlite_deployment, workdir, official)
    assert_refused(result.returncode, result.stderr, 2, "give its password", workdir)
    result = sign_cli(sqlite_deployment, workdir, official, "--password", "sai")
    assert_refused(result.returncode, result.stderr, 2, "password does not open", workdir)


def test_revoked_signer(sqlite_deployment: Deployment, workdir: Path) -> None:
    serial = issue_in_hsm(sqlite_deployment)
    revoke_certificate(
        sqlite_deployment.authority, serial, RevocationReason.CESSATION_OF_OPERATION, actor="test"
    )
    result = sign_cli(sqlite_deployment, workdir, serial)
    assert_refused(result.returncode, result.stderr, 5, "revoked", workdir)


def test_expired_and_not_yet_valid_signers_are_refused(sqlite_deployment: Deployment, official: str) -> None:
    with pytest.raises(StateConflict, match="expired"):
        subscriber_key(
            sqlite_deployment.authority, official, at=dt.datetime.now(dt.UTC) + dt.timedelta(days=6 * 366)
        )
    with pytest.raises(StateConflict, match="not valid before"):
        subscriber_key(
            sqlite_deployment.authority, official, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        )


def test_unknown_serial_and_csr_key(sqlite_deployment: Deployment, workdir: Path) -> None:
    result = sqlite_deployment.cli(
        "sign", str(workdir / "in.pdf"), "-o", str(workdir / "out.pdf"), "--cert", "abc123", check=False
    )
    assert_refused(result.returncode, result.stderr, 4, "no certificate", workdir)
    from cryptography.hazmat.primitives.asymmetric import ec

    request = parse_request(
        "individual", json.loads((DEMO / "official-nguyen-van-anh.json").read_text("utf-8"))
    )
    csr_serial = issue_certificate(
        sqlite_deployment.authority,
        CertificateKind.INDIVIDUAL,
        request,
        SubjectKey("csr", ec.generate_private_key(ec.SECP256R1()).public_key()),
        actor="test",
    ).serial_hex
    result = sign_cli(sqlite_deployment, workdir, csr_serial)
    assert_refused(result.returncode, result.stderr, 2, "not in this HSM", workdir)


def test_approval_without_an_image(sqlite_deployment: Deployment, official: str, workdir: Path) -> None:
    result = sign_cli(sqlite_deployment, workdir, official, "--appearance", "approval")
    assert_refused(result.returncode, result.stderr, 2, "needs the official's signature image", workdir)


def test_seal_on_a_document_no_official_signed(
    sqlite_deployment: Deployment, official: str, workdir: Path
) -> None:
    from tests.pdf_samples import seal_png

    seal = str(seal_png(workdir / "seal.png"))
    result = sign_cli(sqlite_deployment, workdir, official, "--appearance", "issue", "--image", seal)
    assert result.returncode == 5 and "no approval signature" in result.stderr, result.stderr
    assert not (workdir / "out.pdf").exists()


def test_cli_extends_a_b_t_signature_to_b_lta(
    sqlite_deployment: Deployment, official: str, workdir: Path, public_server: str, nss_db: str
) -> None:
    assert sign_cli(sqlite_deployment, workdir, official, "--level", "B-T").returncode == 0
    extended = sqlite_deployment.cli(
        "extend", str(workdir / "out.pdf"), "-o", str(workdir / "lta.pdf"), "--level", "B-LTA"
    )
    assert extended.stdout.strip() == "B-LTA"
    assert_pdfsig_valid_and_trusted(nss_db, workdir / "lta.pdf", expected=1)
    report = subprocess.run(["pdfsig", str(workdir / "lta.pdf")], capture_output=True, text=True).stdout
    assert report.count("Signature #") == 2  # the signature and the document time-stamp


def test_hsm_gone_is_exit_7_with_nothing_written_and_back_it_signs(
    sqlite_deployment: Deployment, official: str, workdir: Path
) -> None:
    """SCENARIOS.md 7: the token folder moved away. The command runs on a copy of the session's tokens
    (so nothing else loses its HSM), says "HSM unavailable", writes nothing, and works once it is back."""
    tokens = workdir / "tokens"
    shutil.copytree(SOFTHSM_CONF.parent / "tokens", tokens)
    configuration = workdir / "softhsm2.conf"
    configuration.write_text(
        SOFTHSM_CONF.read_text().replace(str(SOFTHSM_CONF.parent / "tokens"), str(tokens))
    )
    copy = replace(sqlite_deployment, env={**sqlite_deployment.env, "SOFTHSM2_CONF": str(configuration)})
    tokens.rename(workdir / "tokens-away")
    gone = sign_cli(copy, workdir, official)
    assert gone.returncode == 7 and "HSM unavailable" in gone.stderr, gone.stderr
    assert not (workdir / "out.pdf").exists()
    (workdir / "tokens-away").rename(tokens)
    back = sign_cli(copy, workdir, official)
    assert back.returncode == 0, back.stderr
    assert (workdir / "out.pdf").exists()
