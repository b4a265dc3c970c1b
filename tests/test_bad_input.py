"""Each bad input gives one clear error line and a non-zero exit, and stores nothing (no row, no audit entry)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ca.store import AuditEntry, CertificateRecord, IssuanceIntent
from tests.conftest import DEMO, Deployment

OFFICIAL = json.loads((DEMO / "official-nguyen-van-anh.json").read_text(encoding="utf-8"))


def _counts(deployment: Deployment) -> tuple[int, int, int]:
    with deployment.authority.database.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(CertificateRecord)) or 0,
            session.scalar(select(func.count()).select_from(IssuanceIntent)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def _openssl(*arguments: str) -> None:
    subprocess.run(["openssl", *arguments], check=True, capture_output=True)


def _csr(folder: Path, key_arguments: list[str], digest: str = "-sha256") -> Path:
    key, csr = folder / "key.pem", folder / "request.csr"
    _openssl("genpkey", *key_arguments, "-out", str(key))
    _openssl("req", "-new", "-key", str(key), "-subj", "/CN=x", digest, "-out", str(csr))
    return csr


def _broken_signature_csr(folder: Path) -> Path:
    csr = _csr(folder, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
    der = folder / "request.der"
    _openssl("req", "-in", str(csr), "-outform", "DER", "-out", str(der))
    data = bytearray(der.read_bytes())
    data[-5] ^= 0x01  # one bit of the signature value
    der.write_bytes(bytes(data))
    return der


def _subject(folder: Path, **changes: object) -> Path:
    data = {**OFFICIAL, **changes}
    for key in [k for k, v in changes.items() if v is None]:
        del data[key]
    path = folder / "subject.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


CASES = {
    "csr_with_broken_signature": (
        lambda f: ["--csr", str(_broken_signature_csr(f))],
        "signature does not verify",
    ),
    "rsa_1024_csr": (
        lambda f: ["--csr", str(_csr(f, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]))],
        "at least 2048 bits",
    ),
    "sha1_signed_csr": (
        lambda f: ["--csr", str(_csr(f, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "-sha1"))],
        "SHA1",
    ),
    "rsa_exponent_3_csr": (
        lambda f: [
            "--csr",
            str(
                _csr(
                    f,
                    [
                        "-algorithm",
                        "RSA",
                        "-pkeyopt",
                        "rsa_keygen_bits:2048",
                        "-pkeyopt",
                        "rsa_keygen_pubexp:3",
                    ],
                )
            ),
        ],
        "exponent 3",
    ),
    "citizen_id_of_11_digits": (
        lambda f: ["--subject", str(_subject(f, personal_id="00108501234"))],
        "12 digits",
    ),
    "empty_name": (
        lambda f: ["--subject", str(_subject(f, full_name="   "))],
        "full_name: must not be empty",
    ),
    "missing_request_reference": (lambda f: ["--subject", str(_subject(f, request_ref=None))], "request_ref"),
    "bad_email": (lambda f: ["--subject", str(_subject(f, email="nvanh@"))], "not an e-mail address"),
    "validity_beyond_five_years": (
        lambda f: ["--subject", str(_subject(f, validity_days=5 * 365 + 10))],
        "beyond the 5 years",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_issue_request_is_refused_with_one_clear_line_and_stores_nothing(
    deployment: Deployment, tmp_path: Path, case: str
) -> None:
    make_arguments, expected = CASES[case]
    arguments = make_arguments(tmp_path)
    if "--subject" not in arguments:
        arguments += ["--subject", str(DEMO / "official-nguyen-van-anh.json")]
    before = _counts(deployment)
    result = deployment.cli("ca", "issue", "--profile", "individual", *arguments, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert _counts(deployment) == before


def test_invalid_json_is_refused(deployment: Deployment, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"full_name": "Nguyễn Văn Ánh",', encoding="utf-8")
    before = _counts(deployment)
    result = deployment.cli("ca", "issue", "--profile", "individual", "--subject", str(path), check=False)
    assert result.returncode == 2 and "is not valid JSON" in result.stderr
    assert _counts(deployment) == before


def test_unknown_profile_is_refused(deployment: Deployment) -> None:
    before = _counts(deployment)
    result = deployment.cli(
        "ca",
        "issue",
        "--profile",
        "wizard",
        "--subject",
        str(DEMO / "official-nguyen-van-anh.json"),
        check=False,
    )
    assert result.returncode == 2 and "unknown profile 'wizard'" in result.stderr
    assert _counts(deployment) == before


@pytest.mark.parametrize("command", [["ca", "show"], ["ca", "renew"]])
def test_unknown_serial_is_reported_as_not_found(deployment: Deployment, command: list[str]) -> None:
    before = _counts(deployment)
    result = deployment.cli(*command, "0123456789abcdef0123456789abcdef", check=False)
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip() == "error: no certificate with serial 0123456789abcdef0123456789abcdef"
    assert _counts(deployment) == before


def test_serial_that_is_not_hexadecimal_is_refused(deployment: Deployment) -> None:
    result = deployment.cli("ca", "show", "not-a-serial", check=False)
    assert result.returncode == 2 and "not a hexadecimal serial" in result.stderr


def test_init_refuses_to_overwrite_an_existing_hierarchy(deployment: Deployment) -> None:
    before = _counts(deployment)
    result = deployment.cli("init", check=False)
    assert result.returncode == 5 and "refuses to overwrite" in result.stderr
    assert _counts(deployment) == before


def _probable_prime(candidate: int) -> bool:
    """Miller-Rabin with 32 random bases: enough to build a test key, not to judge one."""
    import secrets

    if candidate % 2 == 0:
        return False
    d, r = candidate - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(32):
        x = pow(secrets.randbelow(candidate - 3) + 2, d, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, candidate)
            if x == candidate - 1:
                break
        else:
            return False
    return True


def test_csr_with_a_fermat_factorable_modulus_is_refused(deployment: Deployment, tmp_path: Path) -> None:
    """Two 1024-bit primes a few thousand apart: the weak-generator case of CVE-2022-26320."""
    import secrets

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    p = secrets.randbits(1024) | (3 << 1022) | 1  # top two bits set: p * q has 2048 bits, not 2047
    while not _probable_prime(p):
        p += 2
    q = p + 2
    while not _probable_prime(q):
        q += 2
    e = 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    key = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    ).private_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "weak")]))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "weak.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    before = _counts(deployment)
    result = deployment.cli(
        "ca",
        "issue",
        "--profile",
        "individual",
        "--subject",
        str(DEMO / "official-nguyen-van-anh.json"),
        "--csr",
        str(path),
        check=False,
    )
    assert result.returncode == 2 and "factors by Fermat's method" in result.stderr, result.stderr
    assert _counts(deployment) == before
