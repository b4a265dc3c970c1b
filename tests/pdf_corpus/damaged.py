"""Corpus files that are damaged but signable after repair, and files that must be refused (not a PDF, cut
short)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from tests.pdf_corpus.documents import CorpusPdf, _basic, _bytes_entry, _to_bytes


def _uncompressed(name: str, note: str) -> bytes:
    return _to_bytes(_basic(name, note, pages=2), compress_streams=False)


def _damaged_tail(folder: Path) -> CorpusPdf:
    name = "damaged-tail-cut"
    note = (
        "linearized 3-page file (an interrupted download) missing its last 200 bytes: no startxref, no %%EOF"
    )
    data = _to_bytes(_basic(name, note, pages=3), linearize=True)
    return _bytes_entry(folder, name, data[:-200], "repair", "damaged", note)


def _damaged_startxref(folder: Path) -> CorpusPdf:
    name = "damaged-startxref"
    note = "startxref points into the middle of a content stream instead of at the xref table"
    data = _uncompressed(name, note)
    wrong = data.index(b"stream\n") + 40
    data = re.sub(rb"startxref\n\d+\n", b"startxref\n%d\n" % wrong, data)
    return _bytes_entry(folder, name, data, "repair", "damaged", note)


def _damaged_stream_length(folder: Path) -> CorpusPdf:
    name = "damaged-stream-length"
    note = "the first content stream's /Length is 100 bytes too short (offsets are still right)"
    data = _uncompressed(name, note)
    match = re.search(rb"/Length (\d+) >>\nstream\n", data)
    if match is None:
        raise ValueError("no content stream found")
    wrong = str(int(match[1]) - 100).encode().ljust(len(match[1]))
    data = data[: match.start(1)] + wrong + data[match.end(1) :]
    return _bytes_entry(folder, name, data, "repair", "damaged", note)


def _not_pdf(folder: Path) -> CorpusPdf:
    png = io.BytesIO()
    Image.linear_gradient("L").save(png, "PNG")
    return _bytes_entry(folder, "not-pdf-png", png.getvalue(), "refuse", "not-pdf", "a PNG image named .pdf")


def _truncated(folder: Path) -> CorpusPdf:
    note = "only the first 300 bytes of a PDF: header and part of the first object"
    data = _to_bytes(_basic("truncated", note))[:300]
    return _bytes_entry(folder, "truncated", data, "refuse", "truncated", note)
