"""PAdES signing judged by verifiers we did not write: poppler's pdfsig (with only our root trusted and our
OCSP responder reachable at the URL in the certificates), pyHanko's validator, and `openssl ts -verify` for
the document time-stamps pdfsig cannot judge."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, read_certification_data, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from ca.signing_keys import SubscriberKey, subscriber_key
from ca.status import StatusServices
from signing.appearance import AppearanceMode, AppearanceRequest
from signing.errors import DocumentRefused
from signing.extend import extend_pdf
from signing.pades import Certification, Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.pdf_corpus import build_corpus
from tests.pdf_samples import one_page_pdf, seal_png, signature_png

KEYS = ["rsa2048", "rsa3072", "ec-p256", "rsa2048-pss"]


@pytest.fixture(scope="module")
def services(sqlite_deployment: Deployment) -> StatusServices:
    return StatusServices(sqlite_deployment.authority)


@pytest.fixture(scope="module")
def official_keys(sqlite_deployment: Deployment) -> dict[str, SubscriberKey]:
    return {
        algorithm: subscriber_key(
            sqlite_deployment.authority, issue_in_hsm(sqlite_deployment, algorithm=algorithm)
        )
        for algorithm in ("rsa2048", "rsa3072", "ec-p256")
    }


@pytest.fixture(scope="module")
def seal_key(sqlite_deployment: Deployment) -> SubscriberKey:
    serial = issue_in_hsm(sqlite_deployment, "organisation", "seal-so-tu-phap-ha-noi.json")
    return subscriber_key(sqlite_deployment.authority, serial)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return one_page_pdf(tmp_path_factory.mktemp("input") / "ket-qua.pdf")


def pdfsig(nss_db: str, path: Path, password: str | None = None) -> str:
    opening = ("-opw", password, "-upw", password) if password else ()
    result = subprocess.run(
        ["pdfsig", "-nssdir", nss_db, *opening, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout + result.stderr


def approval_signature_reports(report: str) -> Iterator[str]:
    """pdfsig's block for each signature that is not a document time-stamp."""
    for block in report.split("Signature #")[1:]:
        if "Signature Type: unknown" not in block:
            yield block


def assert_pdfsig_valid_and_trusted(nss_db: str, path: Path, expected: int) -> None:
    report = pdfsig(nss_db, path)
    blocks = list(approval_signature_reports(report))
    assert len(blocks) == expected, report
    for block in blocks:
        assert "Signature is Valid." in block, report
        assert "Certificate is Trusted." in block, report


def root_asn1(deployment: Deployment) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(deployment.root.public_bytes(Encoding.DER))


def assert_pyhanko_valid(path: Path, deployment: Deployment, level: Level) -> None:
    """pyHanko's own validator: intact, valid, trusted. From B-LT up, with fetching off and revocation
    required (hard-fail), so the DSS alone must prove every certificate's status."""
    root = root_asn1(deployment)
    with path.open("rb") as stream:
        reader = PdfFileReader(stream)
        signatures = reader.embedded_regular_signatures
        assert signatures
        for signature in signatures:
            if level.rank >= Level.B_LT.rank:
                context = DocumentSecurityStore.read_dss(reader).as_validation_context(
                    {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"}
                )
            else:
                context = ValidationContext(trust_roots=[root], allow_fetching=True)
            status = validate_pdf_signature(signature, context, context)
            # pyHanko leaves pretty_print_details unannotated; it returns the status as text.
            details = cast(Callable[[], str], status.pretty_print_details)
            assert status.intact and status.valid and status.trusted, details()
            if level.rank >= Level.B_T.rank:
                assert status.timestamp_validity is not None and status.timestamp_validity.trusted


def assert_document_timestamps_verify_with_openssl(path: Path, deployment: Deployment) -> int:
    """Each document time-stamp checked by `openssl ts -verify` over the bytes it covers."""
    checked = 0
    data = path.read_bytes()
    with path.open("rb") as stream:
        reader = PdfFileReader(stream)
        for signature in reader.embedded_timestamp_signatures:
            start1, length1, start2, length2 = signature.byte_range
            digest = hashlib.sha256(
                data[start1 : start1 + length1] + data[start2 : start2 + length2]
            ).hexdigest()
            token = path.with_suffix(f".ts{checked}.der")
            token.write_bytes(
                cms.ContentInfo({"content_type": "signed_data", "content": signature.signed_data}).dump()
            )
            result = subprocess.run(
                [
                    *("openssl", "ts", "-verify", "-token_in", "-in", str(token)),
                    *("-digest", digest, "-CAfile", str(deployment.chain_pem)),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            assert "Verification: OK" in result.stdout, result.stdout + result.stderr
            checked += 1
    return checked


@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("key_name", KEYS)
def test_every_level_and_key_is_valid_and_trusted_in_pdfsig_and_pyhanko(
    level: Level,
    key_name: str,
    services: StatusServices,
    official_keys: dict[str, SubscriberKey],
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    document: Path,
    tmp_path: Path,
) -> None:
    key = official_keys[key_name.removesuffix("-pss")]
    target = tmp_path / f"signed-{level}-{key_name}.pdf"
    options = SigningOptions(level=level, pss=key_name.endswith("-pss"))
    sign_as_holder(services, key, document, target, options, actor="test")
    assert_pdfsig_valid_and_trusted(nss_db, target, expected=1)
    assert_pyhanko_valid(target, sqlite_deployment, level)
    timestamps = assert_document_timestamps_verify_with_openssl(target, sqlite_deployment)
    assert timestamps == (1 if level is Level.B_LTA else 0)


def test_approval_then_agency_seal_both_valid_and_the_seal_covers_the_left_third(
    services: StatusServices,
    official_keys: dict[str, SubscriberKey],
    seal_key: SubscriberKey,
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    document: Path,
    tmp_path: Path,
) -> None:
    approved = tmp_path / "approved.pdf"
    box = (330.0, 120.0, 180.0, 72.0)
    sign_as_holder(
        services,
        official_keys["rsa2048"],
        document,
        approved,
        SigningOptions(
            level=Level.B_T,
            appearance=AppearanceRequest(
                AppearanceMode.APPROVAL, box=box, image=signature_png(tmp_path / "chu-ky.png")
            ),
        ),
        actor="test",
    )
    sealed = tmp_path / "sealed.pdf"
    sign_as_holder(
        services,
        seal_key,
        approved,
        sealed,
        SigningOptions(
            level=Level.B_LTA,
            appearance=AppearanceRequest(AppearanceMode.ISSUE, image=seal_png(tmp_path / "con-dau.png")),
        ),
        actor="test",
    )
    assert_pdfsig_valid_and_trusted(nss_db, sealed, expected=2)
    with sealed.open("rb") as stream:
        reader = PdfFileReader(stream)
        rectangles = {
            signature.field_name.split("-")[1]: [float(v) for v in signature.sig_field["/Rect"]]
            for signature in reader.embedded_regular_signatures
        }
    seal, approval = rectangles["issue"], rectangles["approval"]
    left_third = (approval[0], approval[0] + (approval[2] - approval[0]) / 3)
    seal_centre_x = (seal[0] + seal[2]) / 2
    assert left_third[0] <= seal_centre_x <= left_third[1]
    assert seal[0] < left_third[1] and seal[2] > left_third[0]  # they overlap
    assert abs((seal[2] - seal[0]) - 36 / 25.4 * 72) < 2  # real size: 36 mm


ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def test_text_block_embeds_its_font_and_keeps_vietnamese_exact(
    services: StatusServices, official_keys: dict[str, SubscriberKey], document: Path, tmp_path: Path
) -> None:
    signed = tmp_path / "text.pdf"
    options = SigningOptions(level=Level.B_B, appearance=AppearanceRequest(AppearanceMode.TEXT))
    sign_as_holder(services, official_keys["ec-p256"], document, signed, options, actor="test")
    fonts = subprocess.run(["pdffonts", str(signed)], capture_output=True, text=True, check=True).stdout
    liberation = [line for line in fonts.splitlines() if "LiberationSerif" in line]
    assert liberation and liberation[0].split()[-5] == "yes", fonts  # the "emb" column
    text = subprocess.run(["pdftotext", str(signed), "-"], capture_output=True, text=True, check=True).stdout
    assert "Ký bởi: Nguyễn Văn Ánh" in text
    assert "Cơ quan: Sở Tư pháp thành phố Hà Nội" in text
    assert "Thời gian ký:" in text and "+07:00" in text
    # Letters set at their real widths: at 10 pt the first line spans about 103 pt (twice that when pyHanko
    # wrote Liberation Serif's 2048-unit widths as thousandths of an em).
    words = subprocess.run(["pdftotext", "-bbox", str(signed), "-"], capture_output=True, text=True).stdout
    line = re.search(r'xMin="([\d.]+)"[^>]*xMax="([\d.]+)"[^>]*>Ký bởi: Nguyễn Văn Ánh<', words)
    assert line and 80 < float(line.group(2)) - float(line.group(1)) < 130, words
    ARTEFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-singlefile", str(signed), str(ARTEFACTS / "text-appearance")],
        check=True,
    )
    assert (ARTEFACTS / "text-appearance.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("mode", "heading"), [(AppearanceMode.APPENDIX, "123/QĐ-STP"), (AppearanceMode.COPY, "SAO Y")]
)
def test_appendix_and_copy_sit_top_right_of_page_one_with_vietnam_time(
    mode: AppearanceMode,
    heading: str,
    services: StatusServices,
    seal_key: SubscriberKey,
    document: Path,
    tmp_path: Path,
) -> None:
    signed = tmp_path / f"{mode}.pdf"
    request = AppearanceRequest(mode, doc_number=heading if mode is AppearanceMode.APPENDIX else None)
    sign_as_holder(
        services, seal_key, document, signed, SigningOptions(level=Level.B_B, appearance=request), actor="t"
    )
    layout = subprocess.run(
        [
            "pdftotext",
            "-f",
            "1",
            "-l",
            "1",
            "-x",
            "297",
            "-y",
            "0",
            "-W",
            "298",
            "-H",
            "120",
            str(signed),
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert heading in layout and "Sở Tư pháp thành phố Hà Nội" in layout
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", layout), layout


def test_extend_b_t_to_lt_to_lta_and_renew_the_archive(
    services: StatusServices,
    official_keys: dict[str, SubscriberKey],
    seal_key: SubscriberKey,
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    document: Path,
    tmp_path: Path,
) -> None:
    """Two B-T signatures (official, then seal) raised to B-LT: the DSS alone proves both chains; then to
    B-LTA; then the archive time-stamp renewed: both document time-stamps verify in openssl."""
    first, second = tmp_path / "b-t-1.pdf", tmp_path / "b-t-2.pdf"
    sign_as_holder(
        services, official_keys["rsa2048"], document, first, SigningOptions(level=Level.B_T), actor="t"
    )
    sign_as_holder(services, seal_key, first, second, SigningOptions(level=Level.B_T), actor="t")
    long_term = extend_pdf(services, second, tmp_path / "b-lt.pdf", Level.B_LT, actor="t").target
    assert_pyhanko_valid(long_term, sqlite_deployment, Level.B_LT)
    archived = extend_pdf(services, long_term, tmp_path / "b-lta.pdf", Level.B_LTA, actor="t")
    assert not archived.renewed
    assert assert_document_timestamps_verify_with_openssl(archived.target, sqlite_deployment) == 1
    renewed = extend_pdf(services, archived.target, tmp_path / "b-lta-2.pdf", Level.B_LTA, actor="t")
    assert renewed.renewed
    assert assert_document_timestamps_verify_with_openssl(renewed.target, sqlite_deployment) == 2
    assert_pdfsig_valid_and_trusted(nss_db, renewed.target, expected=2)
    assert_pyhanko_valid(renewed.target, sqlite_deployment, Level.B_LTA)


def test_extend_refuses_foreign_signatures(services: StatusServices, tmp_path: Path) -> None:
    foreign = next(
        entry for entry in build_corpus(tmp_path / "corpus") if entry.name == "signed-foreign-approval"
    )
    with pytest.raises(DocumentRefused, match="another CA"):
        extend_pdf(services, foreign.path, tmp_path / "out.pdf", Level.B_LT, actor="t")
    assert not (tmp_path / "out.pdf").exists()


def test_text_outside_the_prepared_subset_still_renders(
    services: StatusServices, seal_key: SubscriberKey, document: Path, tmp_path: Path
) -> None:
    """The Vietnamese subset is a shortcut, not a limit: other scripts fall back to per-signature subsetting."""
    signed = tmp_path / "greek.pdf"
    request = AppearanceRequest(AppearanceMode.COPY, agency="Πρεσβεία Ελλάδας")
    sign_as_holder(
        services, seal_key, document, signed, SigningOptions(level=Level.B_B, appearance=request), actor="t"
    )
    text = subprocess.run(["pdftotext", str(signed), "-"], capture_output=True, text=True, check=True).stdout
    assert "Πρεσβεία Ελλάδας" in text


def test_certification_signatures_set_docmdp_and_p1_forbids_later_signatures(
    services: StatusServices,
    official_keys: dict[str, SubscriberKey],
    seal_key: SubscriberKey,
    public_server: str,
    nss_db: str,
    document: Path,
    tmp_path: Path,
) -> None:
    """A certification signature carries the DocMDP level asked for (pyHanko reads it back); P=2 still
    admits an approval signature, P=1 refuses any."""
    for permission, later_allowed in ((Certification.FORM_FILLING, True), (Certification.NO_CHANGES, False)):
        certified = tmp_path / f"certified-p{permission}.pdf"
        options = SigningOptions(level=Level.B_T, certify=permission)
        sign_as_holder(services, seal_key, document, certified, options, actor="t")
        with certified.open("rb") as stream:
            certification = read_certification_data(PdfFileReader(stream))
        assert certification is not None and certification.permission.value == int(permission)
        later = tmp_path / f"later-p{permission}.pdf"
        if later_allowed:
            sign_as_holder(
                services,
                official_keys["ec-p256"],
                certified,
                later,
                SigningOptions(level=Level.B_T),
                actor="t",
            )
            assert_pdfsig_valid_and_trusted(nss_db, later, expected=2)
        else:
            with pytest.raises(DocumentRefused, match="DocMDP P=1"):
                sign_as_holder(
                    services, official_keys["ec-p256"], certified, later, SigningOptions(), actor="t"
                )
            assert not later.exists()
