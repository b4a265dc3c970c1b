"""Signing in a prepared signature field, and certified forms (issue 12, item 2), judged by pyHanko's
validator and pdfsig: a form certified with DocMDP P=2 by another system (a software test key here), its
empty field signed by govsign, stays certified; a visible signature that would add a field is refused
with the reason; `govsign fields` shows the form; every refusal is one clear line through the CLI and a
4xx JSON answer through the API."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pikepdf
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields as pdf_fields
from pyhanko.sign import signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import read_certification_data, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from signing.fields import read_fields
from tests.conftest import HOLDER_PIN, Deployment, issue_in_hsm
from tests.pdf_samples import one_page_pdf, signature_png
from tests.test_pades import ARTEFACTS, pdfsig, root_asn1
from tests.test_signing_api import Credential, post_sign
from tests.test_signing_api import _account as signing_account

PREPARED = "PDFTronApprovalSig"
PREPARED_BOX = (330, 120, 510, 192)


# -- forms as other systems make them -------------------------------------------------------------------


def _test_certifier(folder: Path) -> tuple[signers.SimpleSigner, x509.Certificate]:
    """A software key with a self-signed certificate: the form system that certifies its forms (a CA of
    its own, since NSS trusts only CA certificates as anchors)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hệ thống biểu mẫu thử nghiệm")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, True, False, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    key_pem, certificate_pem = folder / "certifier-key.pem", folder / "certifier.pem"
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    certificate_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    signer = signers.SimpleSigner.load(str(key_pem), str(certificate_pem))  # type: ignore[no-untyped-call]
    assert signer is not None
    return signer, certificate


def _form_with_a_text_field(path: Path) -> Path:
    """One page with a text field ``HoTen`` (the name of the person the form is about)."""
    one_page_pdf(path)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        page = pdf.pages[0].obj
        text_field = pdf.make_indirect(
            pikepdf.Dictionary(
                FT=pikepdf.Name.Tx,
                T="HoTen",
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Widget,
                Rect=[72, 700, 300, 720],
                F=4,
                P=page,
            )
        )
        page.Annots = pdf.make_indirect(pikepdf.Array([text_field]))
        pdf.Root.AcroForm = pdf.make_indirect(pikepdf.Dictionary(Fields=pikepdf.Array([text_field])))
        pdf.save(path)
    return path


def _prepare(
    source: Path,
    target: Path,
    specs: list[pdf_fields.SigFieldSpec],
    *,
    signer: signers.SimpleSigner,
    sign_field: str,
    certify: bool,
    read_only: tuple[str, ...] = (),
) -> Path:
    """Add the empty signature fields of ``specs`` and sign ``sign_field`` with the form system's key, all
    in one update (certifying with DocMDP P=2 when asked)."""
    with source.open("rb") as stream, target.open("wb") as output:
        writer = IncrementalPdfFileWriter(stream)
        for spec in specs:
            pdf_fields.append_signature_field(writer, spec)
        for name in read_only:
            _, _, reference = next(pdf_fields.enumerate_sig_fields(writer, with_name=name))
            reference.get_object()["/Ff"] = generic.NumberObject(1)  # type: ignore[no-untyped-call]
            writer.mark_update(reference)
        metadata = signers.PdfSignatureMetadata(
            field_name=sign_field,
            certify=certify,
            docmdp_permissions=pdf_fields.MDPPerm.FILL_FORMS,
            subfilter=pdf_fields.SigSeedSubFilter.PADES,
        )
        signers.PdfSigner(metadata, signer).sign_pdf(writer, output=output)
    return target


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``certified``: certified with P=2, one empty visible field prepared for the official.
    ``locked``: approved in ``First``, whose lock covers ``Second``; ``ReadOnly`` is read-only, ``Hidden``
    invisible, ``HoTen`` a text field."""
    folder = tmp_path_factory.mktemp("forms")
    signer, certificate = _test_certifier(folder)
    (folder / "certifier.der").write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    base = _form_with_a_text_field(folder / "form.pdf")
    certified = _prepare(
        base,
        folder / "certified.pdf",
        [pdf_fields.SigFieldSpec(PREPARED, on_page=0, box=PREPARED_BOX)],
        signer=signer,
        sign_field="Certification",
        certify=True,
    )
    lock_second = pdf_fields.FieldMDPSpec(pdf_fields.FieldMDPAction.INCLUDE, ["Second"])
    locked = _prepare(
        base,
        folder / "locked.pdf",
        [
            pdf_fields.SigFieldSpec("First", on_page=0, box=(60, 120, 240, 192), field_mdp_spec=lock_second),
            pdf_fields.SigFieldSpec("Second", on_page=0, box=(330, 120, 510, 192)),
            pdf_fields.SigFieldSpec("ReadOnly", on_page=0, box=(330, 220, 510, 292)),
            pdf_fields.SigFieldSpec("Hidden"),
        ],
        signer=signer,
        sign_field="First",
        certify=False,
        read_only=("ReadOnly",),
    )
    return {"certified": certified, "locked": locked, "certifier": folder / "certifier.der"}


# -- the listing ----------------------------------------------------------------------------------------


@pytest.mark.pure
def test_the_listing_shows_each_fields_page_rectangle_state_and_locks(forms: dict[str, Path]) -> None:
    certified = read_fields(forms["certified"], password=None)
    assert certified.describe_certification() == "certified with DocMDP P=2, form filling and signing"
    rows = {field.name: field for field in certified.fields}
    assert set(rows) == {PREPARED, "Certification"}
    prepared = rows[PREPARED]
    assert (prepared.page, prepared.rect, prepared.signed, prepared.locked) == (1, PREPARED_BOX, False, False)
    assert rows["Certification"].signed and not rows["Certification"].visible
    assert [field.name for field in certified.empty] == [PREPARED]

    locked = {field.name: field for field in read_fields(forms["locked"], password=None).fields}
    assert set(locked) == {"First", "Second", "ReadOnly", "Hidden"}  # HoTen is no signature field
    first = locked["First"]
    assert first.signed and first.lock is not None and first.lock.describe() == "locks Second"
    assert locked["Second"].locked_by == ("First",) and not locked["Second"].signed
    assert locked["ReadOnly"].read_only and locked["ReadOnly"].locked_by == ()
    assert not locked["Hidden"].visible and locked["Hidden"].page == 1


def test_govsign_fields_prints_the_table(sqlite_deployment: Deployment, forms: dict[str, Path]) -> None:
    listed = sqlite_deployment.cli("fields", str(forms["locked"])).stdout
    assert "locked.pdf: not certified" in listed
    lines = {line.split("│")[1].strip(): line for line in listed.splitlines() if line.count("│") == 6}
    assert [cell.strip() for cell in lines["Second"].split("│")[2:6]] == [
        "1",
        "330,120,180,72",
        "empty",
        "locked by First",
    ]
    assert "signing it locks Second" in lines["First"] and "signed" in lines["First"]
    assert "read-only" in lines["ReadOnly"] and "invisible" in lines["Hidden"]
    certified = sqlite_deployment.cli("fields", str(forms["certified"])).stdout
    assert "certified with DocMDP P=2" in certified and PREPARED in certified


# -- signing in the prepared field ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def official(sqlite_deployment: Deployment) -> str:
    return issue_in_hsm(sqlite_deployment)


def sign_cli(
    deployment: Deployment, source: Path, target: Path, serial: str, *options: str
) -> subprocess.CompletedProcess[str]:
    return deployment.cli(
        "sign",
        str(source),
        "-o",
        str(target),
        "--cert",
        serial,
        *options,
        check=False,
        stdin=HOLDER_PIN + "\n",
    )


@pytest.fixture(scope="module")
def certifier_and_root_nss(
    tmp_path_factory: pytest.TempPathFactory, sqlite_deployment: Deployment, forms: dict[str, Path]
) -> str:
    """An NSS database trusting our root and the form system's certificate, and nothing else."""
    folder = tmp_path_factory.mktemp("nss-forms")
    root = folder / "root.der"
    root.write_bytes(sqlite_deployment.root.public_bytes(serialization.Encoding.DER))
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True)
    for name, path in (("govsign-root", root), ("form-system", forms["certifier"])):
        subprocess.run(
            ["certutil", "-A", "-n", name, "-t", "CT,C,C", "-i", str(path), "-d", f"sql:{folder}"], check=True
        )
    return f"sql:{folder}"


def test_a_p2_certified_form_signed_in_its_empty_field_stays_certified(
    sqlite_deployment: Deployment,
    official: str,
    forms: dict[str, Path],
    public_server: str,
    certifier_and_root_nss: str,
    tmp_path: Path,
) -> None:
    signed = tmp_path / "signed.pdf"
    image = signature_png(tmp_path / "chu-ky.png")
    result = sign_cli(
        sqlite_deployment, forms["certified"], signed, official,
        "--level", "B-T", "--appearance", "approval", "--image", str(image), "--field", PREPARED,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == PREPARED

    certifier = asn1_x509.Certificate.load(forms["certifier"].read_bytes())
    context = ValidationContext(trust_roots=[certifier, root_asn1(sqlite_deployment)], allow_fetching=True)
    with signed.open("rb") as stream:
        reader = PdfFileReader(stream)
        certification = read_certification_data(reader)
        assert certification is not None and certification.permission is pdf_fields.MDPPerm.FILL_FORMS
        by_field = {signature.field_name: signature for signature in reader.embedded_regular_signatures}
        assert set(by_field) == {"Certification", PREPARED}
        for name, signature in by_field.items():
            status = validate_pdf_signature(signature, context, context)
            details = cast(Callable[[], str], status.pretty_print_details)
            assert status.intact and status.valid and status.trusted, details()
            # docmdp_ok: every change after this signature is one its DocMDP level allows
            assert status.docmdp_ok, details()
            assert status.modification_level in (ModificationLevel.NONE, ModificationLevel.FORM_FILLING), (
                name,
                details(),
            )
        rect = [float(value) for value in by_field[PREPARED].sig_field["/Rect"]]
        assert rect == [float(value) for value in PREPARED_BOX]  # drawn in the field, no new field

    report = pdfsig(certifier_and_root_nss, signed)
    assert report.count("Signature is Valid.") == 2, report
    assert report.count("Certificate is Trusted.") == 2, report
    ARTEFACTS.mkdir(exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-singlefile",
            str(signed),
            str(ARTEFACTS / "certified-form-signed"),
        ],
        check=True,
    )


def test_without_a_field_a_visible_signature_on_the_certified_form_is_refused_with_the_reason(
    sqlite_deployment: Deployment, official: str, forms: dict[str, Path], tmp_path: Path
) -> None:
    result = sign_cli(
        sqlite_deployment, forms["certified"], tmp_path / "out.pdf", official, "--appearance", "text"
    )
    assert result.returncode == 5, result.stderr
    assert "certified with DocMDP P=2" in result.stderr
    assert "would add a new signature field, which that certification forbids" in result.stderr
    assert f"its empty signature fields: {PREPARED}" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out.pdf").exists()


# (document, options, exit code, HTTP status, words of the refusal)
REFUSALS = [
    (
        "locked",
        ["--field", "Nope"],
        5,
        409,
        "the PDF has no field named 'Nope'; its empty signature fields: Hidden",
    ),
    ("locked", ["--field", "First"], 5, 409, "the signature field 'First' is already signed"),
    ("locked", ["--field", "HoTen"], 5, 409, "the form field 'HoTen' is not a signature field"),
    ("locked", ["--field", "Second"], 5, 409, "'Second' is locked by the signature in First"),
    ("locked", ["--field", "ReadOnly"], 5, 409, "'ReadOnly' is locked: the form marks it read-only"),
    ("locked", ["--field", "Hidden", "--appearance", "text"], 5, 409, "'Hidden' is invisible"),
    ("certified", ["--field", PREPARED, "--box", "10,10,100,50"], 2, 422, "give no page or box with it"),
]


@pytest.mark.parametrize(("document", "options", "code", "status", "words"), REFUSALS)
def test_each_refusal_through_the_cli(
    document: str,
    options: list[str],
    code: int,
    status: int,
    words: str,
    sqlite_deployment: Deployment,
    official: str,
    forms: dict[str, Path],
    tmp_path: Path,
) -> None:
    result = sign_cli(sqlite_deployment, forms[document], tmp_path / "out.pdf", official, *options)
    assert (result.returncode, words in result.stderr) == (code, True), result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out.pdf").exists()


@pytest.fixture(scope="module")
def api_official(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Credential:
    image = signature_png(tmp_path_factory.mktemp("images") / "chu-ky.png")
    return signing_account(sqlite_deployment, "create-official", issue_in_hsm(sqlite_deployment), image)


def _form_fields(options: list[str]) -> dict[str, str]:
    """``--field X --box Y`` as the API's form fields."""
    return {name.removeprefix("--"): value for name, value in zip(options[::2], options[1::2], strict=True)}


@pytest.mark.parametrize(("document", "options", "code", "status", "words"), REFUSALS)
def test_each_refusal_through_the_api(
    document: str,
    options: list[str],
    code: int,
    status: int,
    words: str,
    public_server: str,
    api_official: Credential,
    forms: dict[str, Path],
) -> None:
    response = post_sign(public_server, api_official, forms[document].read_bytes(), **_form_fields(options))
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_the_api_signs_in_the_prepared_field_and_refuses_a_new_visible_one(
    public_server: str, api_official: Credential, forms: dict[str, Path]
) -> None:
    certified = forms["certified"].read_bytes()
    refused = post_sign(public_server, api_official, certified, appearance="approval")
    assert refused.status_code == 409 and "forbids" in refused.json()["detail"], refused.text
    signed = post_sign(public_server, api_official, certified, appearance="approval", field=PREPARED)
    assert signed.status_code == 200, signed.text
    assert signed.headers["x-signature-field"] == PREPARED
