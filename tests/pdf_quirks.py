"""Signed PDFs with the harmless structure quirks that real files carry, made on the spot: poppler and qpdf
read them (qpdf with warnings), pyHanko's tolerant reader too, and a signer must countersign them by an
incremental update, since rewriting them would break the signatures they carry."""

from __future__ import annotations

import io
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from tests.pdf_corpus import _basic, _to_bytes, build_corpus, foreign_ca


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
