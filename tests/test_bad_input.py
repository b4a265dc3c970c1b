"""Each bad input gives one clear error line and a non-zero exit, and stores nothing (no row, no audit entry)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ca.store import AuditEntry, CertificateRecord, IssuanceIntent
from tests.conftest import DEMO, HOLDER_PIN, Deployment, issue_in_hsm
from tests.pdf_samples import signature_png
from tests.test_signing_api import Credential, post_sign
from tests.test_signing_api import _account as signing_account

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


# case -> (the CLI arguments it writes into a folder, the words its one error line must carry)
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
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


# -- hostile PDFs sent for signing: a clear refusal, never a 500 or a traceback --------------------------

NESTING = 100_000
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << >> >>"


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF written by hand, object 1 the catalogue: the shapes no PDF library would write for us."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _nested_arrays() -> bytes:
    """100,000 nested arrays in an object the catalogue points to."""
    nest = b"[" * NESTING + b"]" * NESTING
    catalog = b"<< /Type /Catalog /Pages 2 0 R /Nest 4 0 R >>"
    return _raw_pdf([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", _PAGE, nest])


def _nested_arrays_in_annotations() -> bytes:
    """100,000 nested arrays as the page's /Annots, where the signature widget goes."""
    page = _PAGE[:-2] + b"/Annots " + b"[" * NESTING + b"]" * NESTING + b" >>"
    return _raw_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page]
    )


def _nested_form_fields() -> bytes:
    """A form field with a child with a child ... 100,000 deep (pyHanko walks /Kids recursively)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        _PAGE,
    ]
    for number in range(4, 4 + NESTING):
        parent = b"/Parent %d 0 R " % (number - 1) if number > 4 else b""
        objects.append(b"<< /T (f%d) %s/Kids [%d 0 R] >>" % (number, parent, number + 1))
    objects.append(b"<< /T (last) /Parent %d 0 R /FT /Sig >>" % (3 + NESTING))
    return _raw_pdf(objects)


# name -> (the PDF, sign with repair allowed?, words the refusal must contain)
HOSTILE_PDFS = {
    "nested_arrays": (_nested_arrays, False, "deeply nested"),
    "nested_arrays_repaired": (_nested_arrays_in_annotations, True, "cannot be signed as it is"),
    "nested_form_fields": (_nested_form_fields, False, "too deeply"),
}


@pytest.fixture(scope="module")
def signer(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Credential:
    image = signature_png(tmp_path_factory.mktemp("images") / "chu-ky.png")
    return signing_account(sqlite_deployment, "create-official", issue_in_hsm(sqlite_deployment), image)


@pytest.mark.parametrize("case", sorted(HOSTILE_PDFS))
def test_hostile_pdf_sent_for_signing_is_refused_clearly_by_the_cli(
    sqlite_deployment: Deployment, signer: Credential, tmp_path: Path, case: str
) -> None:
    make, repair, words = HOSTILE_PDFS[case]
    source = tmp_path / f"{case}.pdf"
    source.write_bytes(make())
    result = sqlite_deployment.cli(
        "sign", str(source), "-o", str(tmp_path / "signed.pdf"), "--cert", signer.serial, "--level", "B-B",
        *(["--repair"] if repair else []), check=False, timeout=300, stdin=HOLDER_PIN + "\n",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr + result.stdout, result.stderr
    assert not (tmp_path / "signed.pdf").exists()


@pytest.mark.parametrize("case", sorted(HOSTILE_PDFS))
def test_hostile_pdf_sent_for_signing_is_a_clear_4xx_from_the_api(
    public_server: str, signer: Credential, case: str
) -> None:
    make, repair, words = HOSTILE_PDFS[case]
    fields = {"level": "B-B", **({"repair": "true"} if repair else {})}
    answer = post_sign(public_server, signer, make(), **fields)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]
