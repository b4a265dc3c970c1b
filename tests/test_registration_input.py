"""What a registration officer types is what the certificate says: ASCII digits, nothing hidden, identifiers
that are well formed (province code, century digit, tax check digit), CSRs that are PKCS#10 v1, revocation
cases that fit the certificate. A refusal is one clear line (4xx on the API) and leaves no intent and no
key behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select, update

from ca.errors import InvalidRequest
from ca.identifiers import PROVINCE_CODES, tax_check_digit
from ca.keycheck import public_key_from_csr
from ca.profiles import CertificateKind, parse_request
from ca.reasons import CASE_KINDS, DECREE_68_CASES, parse_reason
from ca.store import CertificateRecord, IssuanceIntent
from govsign.access.accounts import AccountKind, create_account
from govsign.access.trust_anchors import check_trustable
from tests.conftest import DEMO, Deployment, administrator_token, issue_in_hsm, running_server

pytestmark = pytest.mark.pure  # the identifier rules run in the fast tier; CLI/API cases need a deployment

OFFICIAL: dict[str, Any] = json.loads((DEMO / "official-nguyen-van-anh.json").read_text("utf-8"))
SEAL: dict[str, Any] = json.loads((DEMO / "seal-so-tu-phap-ha-noi.json").read_text("utf-8"))
DEVICE: dict[str, Any] = json.loads((DEMO / "device-case-system.json").read_text("utf-8"))
ARABIC_INDIC = "".join(chr(0x0660 + n) for n in range(10))  # U+0660-U+0669
FULL_WIDTH = "".join(chr(0xFF10 + n) for n in range(10))  # U+FF10-U+FF19
# Tax codes read on public pages and in python-stdnum's / stdnum-js's tests (real agencies and companies).
PUBLISHED_TAX_CODES = ["0100233488", "0314409058", "0103179782", "0100112437", "0312687878", "0100100079"]


def _foreign(digits: str, text: str) -> str:
    """``text`` with every ASCII digit written in another script's digits."""
    return text.translate({ord("0") + n: digits[n] for n in range(10)})


def _refusal(profile: str, data: dict[str, Any]) -> str:
    with pytest.raises(InvalidRequest) as refused:
        parse_request(profile, data)
    return str(refused.value)


# -- digits ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULL_WIDTH], ids=["arabic-indic", "full-width"])
@pytest.mark.parametrize(
    ("profile", "base", "field"),
    [
        ("individual", OFFICIAL, "personal_id"),
        ("organisation", SEAL, "tax_code"),
        ("organisation", SEAL, "budget_code"),
    ],
)
def test_identifiers_take_ascii_digits_only(
    profile: str, base: dict[str, Any], field: str, digits: str
) -> None:
    message = _refusal(profile, {**base, field: _foreign(digits, base[field])})
    assert message.startswith(f"{field}: ") and "0-9" in message and "U+" in message
    assert "chữ số 0-9" in message  # and in Vietnamese


def test_one_foreign_digit_is_enough_to_refuse() -> None:
    tax_code = SEAL["tax_code"][:-1] + FULL_WIDTH[int(SEAL["tax_code"][-1])]
    assert "U+FF1" in _refusal("organisation", {**SEAL, "tax_code": tax_code})


# -- hidden characters -------------------------------------------------------------------------------------

HIDDEN = {
    "nul": "\x00",
    "escape": "\x1b",
    "newline": "\n",
    "right-to-left-override": "\u202e",
    "left-to-right-embedding": "\u202a",
    "first-strong-isolate": "\u2068",
    "pop-directional-isolate": "\u2069",
    "right-to-left-mark": "\u200f",
}


@pytest.mark.parametrize("hidden", sorted(HIDDEN))
@pytest.mark.parametrize(
    ("profile", "base"),
    [("individual", OFFICIAL), ("organisation", SEAL), ("device", DEVICE)],
    ids=["individual", "organisation", "device"],
)
def test_hidden_characters_are_refused_in_every_field(
    profile: str, base: dict[str, Any], hidden: str
) -> None:
    for field, value in base.items():
        if not isinstance(value, str):
            continue
        for placed in (
            value[:2] + HIDDEN[hidden] + value[2:],
            HIDDEN[hidden] + value,
            value + HIDDEN[hidden],
        ):
            message = _refusal(profile, {**base, field: placed})
            assert message.startswith(f"{field}: ") and f"U+{ord(HIDDEN[hidden]):04X}" in message, message
            assert "ký tự ẩn" in message


def test_a_name_written_backwards_by_an_override_is_refused() -> None:
    message = _refusal("individual", {**OFFICIAL, "full_name": "Nguyễn \u202eh\u1ea3n\u00c1 n\u0103V"})
    assert "RIGHT-TO-LEFT OVERRIDE" in message


# -- citizen ID --------------------------------------------------------------------------------------------


def test_the_63_province_codes_of_circular_07_2016() -> None:
    assert len(PROVINCE_CODES) == 63
    assert PROVINCE_CODES["001"] == "Hà Nội" and PROVINCE_CODES["079"] == "Hồ Chí Minh"
    assert PROVINCE_CODES["096"] == "Cà Mau" and "003" not in PROVINCE_CODES and "097" not in PROVINCE_CODES
    for code in PROVINCE_CODES:
        parse_request("individual", {**OFFICIAL, "personal_id": f"{code}085012345"})


@pytest.mark.parametrize("province", ["000", "003", "005", "050", "097", "100", "999"])
def test_a_citizen_id_with_a_wrong_province_code_is_refused(province: str) -> None:
    message = _refusal("individual", {**OFFICIAL, "personal_id": f"{province}085012345"})
    assert f"starts with {province}" in message and "07/2016/TT-BCA" in message


@pytest.mark.parametrize(
    ("century_and_year", "born"), [("085", 1985), ("199", 1999), ("200", 2000), ("301", 2001)]
)
def test_citizen_ids_of_people_born_in_the_20th_and_21st_centuries_pass(
    century_and_year: str, born: int
) -> None:
    parse_request("individual", {**OFFICIAL, "personal_id": f"001{century_and_year}012345"})


@pytest.mark.parametrize("century_and_year", ["285", "399", "400", "585", "985"])
def test_a_citizen_id_whose_birth_year_has_not_come_is_refused(century_and_year: str) -> None:
    message = _refusal("individual", {**OFFICIAL, "personal_id": f"001{century_and_year}012345"})
    assert "birth year" in message and "năm sinh" in message


# -- tax code ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tax_code", [*PUBLISHED_TAX_CODES, "0314409058-002"])
def test_published_tax_codes_pass_the_check_digit(tax_code: str) -> None:
    assert tax_check_digit(tax_code[:9]) == int(tax_code[9])
    parse_request("organisation", {**SEAL, "tax_code": tax_code})


@pytest.mark.parametrize("tax_code", ["0100233480", "0101234567", "0314409059-002"])
def test_a_tax_code_with_a_wrong_check_digit_is_refused(tax_code: str) -> None:
    message = _refusal("organisation", {**SEAL, "tax_code": tax_code})
    assert "check digit" in message and "chữ số kiểm tra" in message


def test_nine_digits_whose_check_would_be_10_make_no_tax_code() -> None:
    assert tax_check_digit("000100001") is None
    for last in "0123456789":
        assert "check digit" in _refusal("organisation", {**SEAL, "tax_code": f"000100001{last}"})


def test_branch_000_is_refused() -> None:
    assert "001 to 999" in _refusal("organisation", {**SEAL, "tax_code": "0100233488-000"})


# -- CSR version -------------------------------------------------------------------------------------------


def _csr_with_version(folder: Path, version: int) -> Path:
    """A P-256 CSR whose version field says ``version`` (0 is v1, the only PKCS#10 version)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = bytearray(
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    at = der.index(bytes([0x02, 0x01, 0x00]))  # INTEGER 0, the first field of CertificationRequestInfo
    der[at + 2] = version
    path = folder / f"version-{version}.csr"
    path.write_bytes(bytes(der))
    return path


@pytest.mark.parametrize("version", [2, 5])
def test_a_csr_with_another_version_is_refused_by_name(tmp_path: Path, version: int) -> None:
    with pytest.raises(InvalidRequest, match=f"version field holds {version}; PKCS#10 has only version 1"):
        public_key_from_csr(_csr_with_version(tmp_path, version).read_bytes())


# -- nothing left behind -----------------------------------------------------------------------------------


def _traces(deployment: Deployment) -> tuple[int, int, int]:
    """Certificates, issuance intents and objects in the service token."""
    with deployment.authority.database.transaction() as session:
        certificates = session.scalar(select(func.count()).select_from(CertificateRecord)) or 0
        intents = session.scalar(select(func.count()).select_from(IssuanceIntent)) or 0
    return certificates, intents, deployment.authority.token.count_objects()


BAD_SUBJECTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "arabic-indic-citizen-id": (
        "individual",
        {**OFFICIAL, "personal_id": _foreign(ARABIC_INDIC, OFFICIAL["personal_id"])},
        "U+0660",
    ),
    "full-width-tax-code": (
        "organisation",
        {**SEAL, "tax_code": _foreign(FULL_WIDTH, SEAL["tax_code"])},
        "U+FF10",
    ),
    "override-in-name": ("individual", {**OFFICIAL, "full_name": "Nguyễn Văn\u202e Ánh"}, "U+202E"),
    "nul-in-agency": ("individual", {**OFFICIAL, "requesting_agency": "Sở Tư pháp\x00"}, "U+0000"),
    "wrong-province": ("individual", {**OFFICIAL, "personal_id": "097085012345"}, "starts with 097"),
    "bad-tax-check-digit": ("organisation", {**SEAL, "tax_code": "0100233480"}, "check digit"),
}


@pytest.mark.parametrize("case", sorted(BAD_SUBJECTS))
def test_cli_refuses_in_one_line_and_leaves_no_intent_and_no_key(
    deployment: Deployment, tmp_path: Path, case: str
) -> None:
    profile, subject, expected = BAD_SUBJECTS[case]
    path = tmp_path / "subject.json"
    path.write_text(json.dumps(subject, ensure_ascii=False), encoding="utf-8")
    before = _traces(deployment)
    result = deployment.cli("ca", "issue", "--profile", profile, "--subject", str(path), check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert _traces(deployment) == before


@pytest.mark.parametrize("version", [2, 5])
def test_cli_refuses_a_csr_of_another_version_without_a_traceback(
    deployment: Deployment, tmp_path: Path, version: int
) -> None:
    before = _traces(deployment)
    result = deployment.cli(
        "ca",
        "issue",
        "--profile",
        "individual",
        "--subject",
        str(DEMO / "official-nguyen-van-anh.json"),
        "--csr",
        str(_csr_with_version(tmp_path, version)),
        check=False,
    )
    assert result.returncode == 2 and "PKCS#10 has only version 1" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert _traces(deployment) == before


def test_api_refuses_bad_input_with_4xx_and_leaves_nothing_behind(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    officer = {"Authorization": f"Bearer {administrator_token(sqlite_deployment, 'ra_officer')}"}
    official = issue_in_hsm(sqlite_deployment)
    with running_server(sqlite_deployment) as base:
        before = _traces(sqlite_deployment)
        for case, (profile, subject, expected) in sorted(BAD_SUBJECTS.items()):
            answer = httpx.post(
                f"{base}/api/v1/certificates",
                json={"profile": profile, "subject": subject},
                headers=officer,
                timeout=60,
            )
            assert answer.status_code == 422, (case, answer.text)
            assert expected in answer.json()["detail"], (case, answer.text)
        for version in (2, 5):
            answer = httpx.post(
                f"{base}/api/v1/certificates",
                json={
                    "profile": "individual",
                    "subject": OFFICIAL,
                    "csr_pem": _pem_csr(_csr_with_version(tmp_path, version)),
                },
                headers=officer,
                timeout=60,
            )
            assert answer.status_code == 422 and "PKCS#10 has only version 1" in answer.json()["detail"]
        assert _traces(sqlite_deployment) == before
        retired = httpx.post(
            f"{base}/api/v1/certificates/{official}/revoke",
            json={"reason": "device-retired"},
            headers=officer,
        )
        assert retired.status_code == 422 and "does not apply to an official's certificate" in retired.text
        assert (
            httpx.get(f"{base}/api/v1/certificates/{official}", headers=officer).json()["status"] == "valid"
        )
        moved = httpx.post(
            f"{base}/api/v1/certificates/{official}/revoke", json={"reason": "moved-post"}, headers=officer
        )
        assert moved.status_code == 200 and moved.json()["revocation_reason"] == "affiliationChanged"


def _pem_csr(path: Path) -> str:
    body = subprocess.run(
        ["openssl", "base64", "-in", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


# -- revocation cases against the kind of certificate ----------------------------------------------------


def test_every_decree_68_case_names_the_kinds_it_fits() -> None:
    assert set(CASE_KINDS) == set(DECREE_68_CASES)
    assert parse_reason("device-retired", CertificateKind.DEVICE).value == "cessationOfOperation"
    for case, kind in [
        ("device-retired", CertificateKind.INDIVIDUAL),
        ("died", CertificateKind.ORGANISATION),
        ("moved-post", CertificateKind.DEVICE),
        ("agency-dissolved", CertificateKind.INDIVIDUAL),
    ]:
        with pytest.raises(InvalidRequest, match="does not apply to") as refused:
            parse_reason(case, kind)
        assert "không áp dụng" in str(refused.value)
    assert parse_reason("keyCompromise", CertificateKind.DEVICE).value == "keyCompromise"


def test_cli_refuses_a_case_that_does_not_fit_the_certificate(deployment: Deployment) -> None:
    serial = issue_in_hsm(deployment)
    refused = deployment.cli("ca", "revoke", serial, "--reason", "device-retired", check=False)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().startswith("error: the Decree 68 case 'device-retired' does not apply to")
    assert "retired" in refused.stderr and "Traceback" not in refused.stderr
    with deployment.authority.database.transaction() as session:
        assert (
            session.execute(
                select(CertificateRecord.status).where(CertificateRecord.serial == serial)
            ).scalar_one()
            == "valid"
        )
    revoked = deployment.cli("ca", "revoke", serial, "--reason", "retired")
    assert "cessationOfOperation" in revoked.stdout


# -- names outside certificate requests ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["Root\u202eCA", "Root\x00CA", "Root\u2066CA\u2069", "Root\nCA"])
def test_a_trust_anchor_name_with_hidden_characters_is_refused(
    sqlite_deployment: Deployment, name: str
) -> None:
    root = asn1_x509.Certificate.load(sqlite_deployment.root.public_bytes(serialization.Encoding.DER))
    with pytest.raises(InvalidRequest, match="trust anchor's name contains the invisible character"):
        check_trustable(root, name, None, None)
    assert check_trustable(root, "  Root CA khác  ", None, None) == "Root CA khác"


def test_an_account_is_not_made_for_a_holder_name_with_hidden_characters(deployment: Deployment) -> None:
    """A certificate stored before these checks may carry such a name; the account refuses to take it."""
    serial = issue_in_hsm(deployment)
    with deployment.authority.database.transaction() as session:
        session.execute(
            update(CertificateRecord)
            .where(CertificateRecord.serial == serial)
            .values(common_name="Nguyễn Văn\u202e Ánh")
        )
    with pytest.raises(InvalidRequest, match=r"holder's name .* contains the invisible character U\+202E"):
        create_account(deployment.authority, AccountKind.OFFICIAL, serial, actor="test")
