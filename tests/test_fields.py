"""Signing in a prepared signature field, and certified forms (issue 12, item 2), judged by pyHanko's
validator and pdfsig: a form certified with DocMDP P=2 by another system (a software test key here), its
empty field signed by govsign, stays certified; a visible signature that would add a field is refused
with the reason; `govsign fields` shows the form; every refusal is one clear line through the CLI and a
4xx JSON answer through the API."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import cast

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields as pdf_fields
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import read_certification_data, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from signing.errors import DocumentRefused
from signing.fields import read_fields, target_field
from tests.conftest import HOLDER_PIN, Deployment, issue_in_hsm
from tests.field_forms import PREPARED, PREPARED_BOX, build_forms
from tests.pdf_samples import signature_png
from tests.test_console_auth import signed_in_csrf
from tests.test_pades import ARTEFACTS, pdfsig, root_asn1
from tests.test_signing_api import Credential, post_sign
from tests.test_signing_api import _account as signing_account


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_forms(tmp_path_factory.mktemp("forms"))


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


@pytest.mark.pure
def test_a_certified_form_without_an_empty_field_takes_only_an_invisible_signature(
    forms: dict[str, Path],
) -> None:
    with forms["bare"].open("rb") as stream:
        reader = PdfFileReader(stream)
        assert target_field(reader, None, visible=False) is None
        with pytest.raises(DocumentRefused, match=r"no empty signature field, so sign it invisibly"):
            target_field(reader, None, visible=True)


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


def test_a_batch_of_certified_forms_is_signed_in_their_prepared_fields(
    sqlite_deployment: Deployment, official: str, forms: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    for name, form in (("a.pdf", "certified"), ("b.pdf", "another-certified")):
        shutil.copyfile(forms[form], tmp_path / "in" / name)
    sqlite_deployment.cli(
        "sign-batch", str(tmp_path / "in"), str(tmp_path / "out"), "--cert", official,
        "--field", PREPARED, "--appearance", "text", "--processes", "1",
        stdin=HOLDER_PIN + "\n", timeout=300,
    )  # fmt: skip
    for name in ("a.pdf", "b.pdf"):
        signed = read_fields(tmp_path / "out" / name, password=None).named(PREPARED)
        assert signed is not None and signed.signed


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


def test_the_console_offers_the_prepared_field_and_signs_in_it(
    sqlite_deployment: Deployment, public_server: str, api_official: Credential, forms: dict[str, Path]
) -> None:
    password = "mật khẩu của cán bộ ký ô"
    enrolled = sqlite_deployment.cli(
        "console", "enrol", "--username", "ky-o-co-san", "--account", str(api_official.account_id),
        stdin=password + "\n",
    )  # fmt: skip
    secret = enrolled.stdout.strip().splitlines()[-1]
    upload = {"files": ("bieu-mau.pdf", forms["certified"].read_bytes(), "application/pdf")}
    with httpx.Client(base_url=public_server, timeout=120) as browser:
        csrf = signed_in_csrf(browser, "ky-o-co-san", password, secret)
        preview = browser.post(
            "/console/sign/preview", data={"csrf": csrf, "appearance": "text"}, files=upload
        )
        assert f'<option value="{PREPARED}">{PREPARED} · trang 1</option>' in preview.text, preview.text
        action = re.search(r'action="(/console/sign/[0-9a-f]{32})', preview.text)
        assert action is not None
        chosen = {"csrf": csrf, "appearance": "text", "pin": HOLDER_PIN}
        refused = browser.post(action.group(1) + "?lang=en", data=chosen)
        assert refused.status_code == 409 and "would add a new signature field" in refused.text
        assert f'<option value="{PREPARED}">' in refused.text  # the same preview, to choose the field
        signed = browser.post(action.group(1), data={**chosen, "field": PREPARED})
        assert signed.status_code == 200 and signed.headers["content-type"] == "application/pdf", signed.text
    reader = PdfFileReader(io.BytesIO(signed.content))
    names = [signature.field_name for signature in reader.embedded_regular_signatures]
    assert names == ["Certification", PREPARED]
