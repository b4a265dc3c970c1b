"""Corpus files that vary the page (sizes, orientation, /Rotate, CropBox, a shifted MediaBox), the PDF
version (1.0 to 2.0) and the layouts qpdf writes (object streams, linearization)."""

from __future__ import annotations

from pathlib import Path

import pikepdf
from pikepdf import Name

from tests.pdf_corpus.documents import (
    _A3_LANDSCAPE,
    _A4,
    _A5,
    _BODY,
    _LETTER,
    CorpusPdf,
    _basic,
    _Doc,
    _sign_entry,
)


def _plain(folder: Path) -> CorpusPdf:
    note = "one A4 page, Helvetica text and vector drawing, classic cross-reference table"
    return _sign_entry(folder, "plain", _basic("plain", note), note)


def _multipage(folder: Path) -> CorpusPdf:
    note = "20 A4 pages sharing one resource dictionary"
    return _sign_entry(folder, "multipage-20", _basic("multipage-20", note, pages=20), note)


def _letter(folder: Path) -> CorpusPdf:
    note = "US Letter pages (612 x 792 pt)"
    return _sign_entry(folder, "letter", _basic("letter", note, pages=2, size=_LETTER), note)


def _landscape(folder: Path) -> CorpusPdf:
    note = "A4 landscape page: MediaBox wider than tall, no /Rotate"
    return _sign_entry(folder, "landscape", _basic("landscape", note, size=(_A4[1], _A4[0])), note)


def _rotated(folder: Path) -> CorpusPdf:
    note = "portrait A4 content shown landscape by /Rotate 90"
    doc = _Doc("rotated-90")
    doc.add_page("rotated-90", [note, *_BODY], Rotate=90)
    return _sign_entry(folder, "rotated-90", doc.pdf, note)


def _cropbox(folder: Path) -> CorpusPdf:
    note = "MediaBox starts at (30, 40); CropBox and TrimBox are smaller than it and off-centre"
    doc = _Doc("cropbox")
    doc.add_page(
        "cropbox", [note, *_BODY], origin=(30, 40), CropBox=[60, 90, 580, 850], TrimBox=[66, 96, 574, 844]
    )
    return _sign_entry(folder, "cropbox", doc.pdf, note)


def _mixed_page_sizes(folder: Path) -> CorpusPdf:
    note = "pages of different sizes: A4, Letter, A3 landscape, A5 with /Rotate 270"
    doc = _Doc("mixed-page-sizes")
    doc.add_page("A4 portrait", [note, *_BODY])
    doc.add_page("US Letter", [note, *_BODY], _LETTER)
    doc.add_page("A3 landscape", [note, *_BODY], _A3_LANDSCAPE)
    doc.add_page("A5 rotated 270", [note, *_BODY], _A5, Rotate=270)
    return _sign_entry(folder, "mixed-page-sizes", doc.pdf, note)


# Versions and cross-reference layouts


def _pdf_version(folder: Path, version: str) -> CorpusPdf:
    name = "pdf" + version.replace(".", "")
    note = f"header %PDF-{version}, classic cross-reference table"
    pdf = _basic(name, note)
    if version == "2.0":
        note += ", XMP metadata, no document information dictionary"
        with pdf.open_metadata(set_pikepdf_as_editor=False) as xmp:
            xmp["dc:title"] = name
        del pdf.trailer[Name.Info]
    return _sign_entry(folder, name, pdf, note, force_version=version)


def _object_streams(folder: Path) -> CorpusPdf:
    note = "PDF 1.5 with object streams and a cross-reference stream (qpdf --object-streams=generate)"
    pdf = _basic("objstm", note, pages=3)
    return _sign_entry(folder, "objstm", pdf, note, object_stream_mode=pikepdf.ObjectStreamMode.generate)


def _linearized(folder: Path) -> CorpusPdf:
    note = "linearized ('fast web view', qpdf --linearize): hint stream and two cross-reference sections"
    return _sign_entry(folder, "linearized", _basic("linearized", note, pages=6), note, linearize=True)
