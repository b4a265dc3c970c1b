"""Signed PDFs with the harmless structure quirks that real files carry, made on the spot: poppler and qpdf
read them (qpdf with warnings), pyHanko's tolerant reader too, and a signer must countersign them by an
incremental update, since rewriting them would break the signatures they carry."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests.foreign_pki import key_usage
from tests.pdf_corpus import _basic, _to_bytes, build_corpus, foreign_ca
from tests.pdf_samples import one_page_pdf


def _signed(data: bytes, times: int) -> bytes:
    """``data`` signed ``times`` times by a foreign CA, with pyHanko's tolerant writer (as other signing
    software writes into hybrid files)."""
    ca = foreign_ca()
    for number in range(1, times + 1):
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        meta = signers.PdfSignatureMetadata(field_name=f"Earlier{number}")
        data = signers.sign_pdf(writer, meta, ca.signer).getvalue()
    return data


def signed_twice_with_whitespace_before_xref(folder: Path) -> Path:
    """Two valid signatures over a file whose first cross-reference table has blank lines before it
    (startxref points at them): qpdf says "extraneous whitespace seen before xref"."""
    data = _to_bytes(_basic("whitespace", "blank lines before the cross-reference table"))
    table = data.rindex(b"\nxref\n") + 1
    path = folder / "whitespace-before-xref-signed-twice.pdf"
    path.write_bytes(_signed(data[:table] + b"   \n\n" + data[table:], times=2))
    return path


def signed_hybrid_reference(folder: Path) -> Path:
    """The corpus's hybrid-reference file (an xref table and an /XRefStm) with one foreign signature."""
    hybrid = next(entry for entry in build_corpus(folder / "corpus") if entry.name == "hybrid-xref")
    path = folder / "hybrid-xref-signed.pdf"
    path.write_bytes(_signed(hybrid.path.read_bytes(), times=1))
    return path


def public_key_encrypted(folder: Path) -> Path:
    """A PDF encrypted for a certificate holder (the public-key security handler, /Filter
    /Adobe.PubSec), as pyHanko writes it: only the holder's private key opens it, no password does."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Recipient of an encrypted file")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(key_usage(key_encipherment=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    source = one_page_pdf(folder / "to-encrypt.pdf")
    with source.open("rb") as stream:
        writer = copy_into_new_writer(PdfFileReader(stream))
    writer.encrypt_pubkey([asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))])
    path = folder / "public-key-encrypted.pdf"
    with path.open("wb") as output:
        writer.write(output)  # type: ignore[no-untyped-call]
    return path


def circular_form_tree(folder: Path) -> Path:
    """A form whose field's /Kids lead back to itself (a field is its own grandchild)."""
    path = one_page_pdf(folder / "circular-form.pdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        parent = pdf.make_indirect(pikepdf.Dictionary(T="Parent", FT=pikepdf.Name.Tx))
        child = pdf.make_indirect(pikepdf.Dictionary(T="Child", Parent=parent, Kids=pikepdf.Array([parent])))
        parent.Kids = pikepdf.Array([child])
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([parent]))
        pdf.save(path)
    return path


def cyclic_outline(folder: Path, *, damaged: bool) -> Path:
    """Bookmarks whose /Next chain loops back to the first one; ``damaged`` also breaks the startxref
    offset, so that signing it needs a repair."""
    path = one_page_pdf(folder / "cyclic-outline.pdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        outlines = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Outlines, Count=2))
        first = pdf.make_indirect(
            pikepdf.Dictionary(Title="One", Parent=outlines, Dest=[pdf.pages[0].obj, pikepdf.Name.Fit])
        )
        second = pdf.make_indirect(
            pikepdf.Dictionary(
                Title="Two",
                Parent=outlines,
                Prev=first,
                Next=first,
                Dest=[pdf.pages[0].obj, pikepdf.Name.Fit],
            )
        )
        first.Next, first.Prev = second, second
        outlines.First, outlines.Last = first, second
        pdf.Root.Outlines = outlines
        pdf.save(path, compress_streams=False)
    if damaged:
        data = path.read_bytes()
        at = data.rindex(b"startxref\n") + len(b"startxref\n")
        path.write_bytes(data[:at] + b"12" + data[at:])  # the offset now points nowhere
    return path


def cyclic_page_tree(folder: Path) -> Path:
    """A page tree whose second kid is a /Pages node with the root among its own kids."""
    path = one_page_pdf(folder / "cyclic-pages.pdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pages = pdf.Root.Pages
        loop = pikepdf.Dictionary(Type=pikepdf.Name.Pages, Parent=pages, Count=1, Kids=pikepdf.Array([pages]))
        pages.Kids.append(pdf.make_indirect(loop))
        pdf.save(path)
    return path


def archived_by_a_foreign_tsa(folder: Path) -> Path:
    """A PDF signed by a foreign CA and archived (B-LTA) with a document time-stamp of a foreign TSA whose
    chain and revocation data govsign cannot find."""
    ca = foreign_ca()
    tsa = DummyTimeStamper(
        tsa_cert=ca.signer.signing_cert,
        tsa_key=ca.signer.signing_key,
        certs_to_embed=SimpleCertificateStore.from_certs([ca.signer.signing_cert]),  # type: ignore[no-untyped-call]
    )
    data = _to_bytes(_basic("archived-foreign", "signed and archived with another trust service's TSA"))
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    signed = signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="Foreign"), ca.signer)
    archived = io.BytesIO()
    signers.PdfTimeStamper(tsa).timestamp_pdf(IncrementalPdfFileWriter(signed), "sha256", output=archived)
    path = folder / "archived-by-a-foreign-tsa.pdf"
    path.write_bytes(archived.getvalue())
    return path


def aes256_with_clear_text_metadata(folder: Path, user_password: str) -> Path:
    """AES-256 (revision 6) with XMP metadata left in clear text (/EncryptMetadata false), as Acrobat
    writes for search engines to index."""
    path = one_page_pdf(folder / "aes256-clear-metadata.pdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False) as xmp:
            xmp["dc:title"] = "Quyết định số 123/QĐ-STP"
        encryption = pikepdf.Encryption(owner="owner-secret", user=user_password, R=6, metadata=False)
        pdf.save(path, encryption=encryption)
    return path


def unreadable_xmp(folder: Path) -> Path:
    """A /Metadata stream that is not XML at all (some producers write their own binary there)."""
    path = one_page_pdf(folder / "unreadable-xmp.pdf")
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.Root.Metadata = pdf.make_stream(
            b"<x:xmpmeta><rdf:RDF>not closed", Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML
        )
        pdf.save(path)
    return path
