"""Documents the validation tests craft as a forger or an old signing tool would: a shadow attack (a page's
image XObject swapped after signing), an annotation added after signing, and a signature in the legacy
``adbe.x509.rsa_sha1`` format (a bare PKCS#1 signature in /Contents, the certificate in /Cert), as signing
software of around 2000 wrote it."""

# pyHanko's generic PDF objects and its writer's ``write`` are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pikepdf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

__all__ = [
    "annotation_added",
    "field_widget",
    "legacy_rsa_sha1_signed",
    "shadow_attack_original",
    "shadow_attacked",
]

_AMOUNT = b"BT /F1 16 Tf 0 10 Td (So tien: 10.000.000 VND) Tj ET"
_FORGED_AMOUNT = b"BT /F1 16 Tf 0 10 Td (So tien: 990.000.000 VND) Tj ET"


def _helvetica(pdf: pikepdf.Pdf) -> pikepdf.Object:
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )


def _amount_form(pdf: pikepdf.Pdf, content: bytes, font: pikepdf.Object) -> pikepdf.Stream:
    """The amount, drawn by a form XObject that the page paints by name (/Amount Do)."""
    return pdf.make_stream(
        content,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Form,
        BBox=[0, 0, 400, 40],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
    )


def shadow_attack_original(path: Path) -> Path:
    """A one-page decision whose amount (10,000,000 VND) is a form XObject, ready to be signed."""
    pdf = pikepdf.new()
    font = _helvetica(pdf)
    pdf.pages.append(
        pikepdf.Page(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Page,
                MediaBox=[0, 0, 595, 842],
                Resources=pikepdf.Dictionary(
                    Font=pikepdf.Dictionary(F1=font),
                    XObject=pikepdf.Dictionary(Amount=_amount_form(pdf, _AMOUNT, font)),
                ),
                Contents=pdf.make_stream(
                    b"BT /F1 18 Tf 72 760 Td (Quyet dinh) Tj ET q 1 0 0 1 72 700 cm /Amount Do Q"
                ),
            )
        )
    )
    pdf.save(path)
    return path


def shadow_attacked(signed: Path) -> bytes:
    """``signed`` with page 1's amount XObject replaced in an incremental update (990,000,000 VND): the
    signed bytes stay intact, what a reader shows changes."""
    with signed.open("rb") as stream:
        writer = IncrementalPdfFileWriter(stream)
        page = writer.root["/Pages"]["/Kids"][0]
        resources = page["/Resources"]
        forged = generic.StreamObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
                generic.pdf_name("/BBox"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (0, 0, 400, 40)]
                ),
                generic.pdf_name("/Resources"): generic.DictionaryObject(
                    {generic.pdf_name("/Font"): resources["/Font"]}
                ),
            },
            stream_data=_FORGED_AMOUNT,
        )
        resources["/XObject"][generic.pdf_name("/Amount")] = writer.add_object(forged)
        writer.update_container(page)
        return _written(writer)


def annotation_added(signed: Path) -> bytes:
    """``signed`` with a free-text note added on page 1 in an incremental update."""
    with signed.open("rb") as stream:
        writer = IncrementalPdfFileWriter(stream)
        page = writer.root["/Pages"]["/Kids"][0]
        note = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/FreeText"),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (72, 600, 300, 640)]
                ),
                generic.pdf_name("/Contents"): generic.TextStringObject("Da duyet"),
                generic.pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
            }
        )
        annotations = page.get("/Annots", generic.ArrayObject())
        annotations.append(writer.add_object(note))
        page[generic.pdf_name("/Annots")] = annotations
        writer.update_container(page)
        return _written(writer)


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def field_widget(pdf: pikepdf.Pdf, kind: pikepdf.Name, name: str, rect: list[int]) -> pikepdf.Dictionary:
    """A form field of ``kind`` (/Tx, /Sig ...) merged with its widget on page 1."""
    widget = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            FT=kind,
            T=pikepdf.String(name),
            Rect=rect,
            P=pdf.pages[0].obj,
        )
    )
    assert isinstance(widget, pikepdf.Dictionary)
    return widget


def legacy_rsa_sha1_signed(source: Path, target: Path) -> Path:
    """``source`` signed as in 2000: sub-filter ``adbe.x509.rsa_sha1``, the PKCS#1 v1.5 RSA signature of the
    SHA-1 digest of the byte ranges in /Contents (a DER OCTET STRING), the self-signed certificate in /Cert."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyen Van Cu (2000)")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(2000)
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2003, 1, 1, tzinfo=dt.UTC))
        .sign(key, hashes.SHA256())
    )
    placeholder = b"\x00" * 600
    wide = 9_999_999_999
    with pikepdf.open(source) as pdf:
        signature = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Sig,
                Filter=pikepdf.Name("/Adobe.PPKLite"),
                SubFilter=pikepdf.Name("/adbe.x509.rsa_sha1"),
                Cert=pikepdf.String(certificate.public_bytes(serialization.Encoding.DER)),
                M=pikepdf.String("D:20000315090000+07'00'"),
                ByteRange=[0, wide, wide, wide],
                Contents=pikepdf.String(placeholder),
            )
        )
        widget = field_widget(pdf, pikepdf.Name.Sig, "Signature1", [0, 0, 0, 0])
        widget.F, widget.V = 132, signature
        pdf.pages[0].obj.Annots = pikepdf.Array([widget])
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([widget]), SigFlags=3)
        written = io.BytesIO()
        pdf.save(written, object_stream_mode=pikepdf.ObjectStreamMode.disable, compress_streams=False)
    data = bytearray(written.getvalue())
    hole_start = data.index(b"<" + placeholder.hex().encode() + b">")
    hole_end = hole_start + 2 + 2 * len(placeholder)
    ranges = f"[0 {hole_start} {hole_end} {len(data) - hole_end}]".encode()
    old_ranges = f"[ 0 {wide} {wide} {wide} ]".encode()
    at = data.index(old_ranges)
    data[at : at + len(old_ranges)] = ranges.ljust(len(old_ranges))
    signed_bytes = bytes(data[:hole_start] + data[hole_end:])
    value = key.sign(signed_bytes, padding.PKCS1v15(), hashes.SHA1())
    octets = b"\x04\x82" + len(value).to_bytes(2, "big") + value
    data[hole_start + 1 : hole_start + 1 + 2 * len(octets)] = octets.hex().encode()
    target.write_bytes(bytes(data))
    return target
