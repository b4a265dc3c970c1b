"""Forms as other systems make them, for the tests of signing in prepared fields: pyHanko adds the empty
signature fields (``append_signature_field``) and signs or certifies them with a software test key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pikepdf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as pdf_fields
from pyhanko.sign import signers

from tests.pdf_samples import one_page_pdf

__all__ = ["PREPARED", "PREPARED_BOX", "build_forms"]

PREPARED = "PDFTronApprovalSig"
PREPARED_BOX = (330, 120, 510, 192)


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


def build_forms(folder: Path) -> dict[str, Path]:
    """In ``folder``: ``certified`` (and ``another-certified``), certified with P=2 and one empty
    visible field prepared for the official; ``locked``, approved in ``First``, whose lock covers
    ``Second``, with ``ReadOnly`` read-only, ``Hidden`` invisible and ``HoTen`` a text field; ``bare``,
    certified with P=2 and no empty field; ``certifier``, the form system's certificate (DER)."""
    signer, certificate = _test_certifier(folder)
    (folder / "certifier.der").write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    base = _form_with_a_text_field(folder / "form.pdf")
    prepared = [pdf_fields.SigFieldSpec(PREPARED, on_page=0, box=PREPARED_BOX)]
    certified, another = (  # two certifications, two different files (ECDSA draws a new nonce)
        _prepare(base, folder / name, prepared, signer=signer, sign_field="Certification", certify=True)
        for name in ("certified.pdf", "another-certified.pdf")
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
    bare = _prepare(base, folder / "bare.pdf", [], signer=signer, sign_field="Certification", certify=True)
    return {
        "certified": certified,
        "another-certified": another,
        "locked": locked,
        "bare": bare,
        "certifier": folder / "certifier.der",
    }
