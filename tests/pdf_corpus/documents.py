"""The corpus's building blocks: its manifest entry, its pages (Helvetica text and vector drawing on one
shared resource dictionary) and the ways an entry is written to disk."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pikepdf
from pikepdf import Dictionary, Name, String

_Size = tuple[float, float]
Expect = Literal["sign", "refuse", "repair"]

_A4: _Size = (595, 842)
_A3_LANDSCAPE: _Size = (1191, 842)
_A5: _Size = (420, 595)
_LETTER: _Size = (612, 792)

_CREATED = "D:20240501090000+07'00'"
_BODY = (
    "This file belongs to the govsign signing test corpus.",
    "The service must sign it without changing what the earlier bytes say,",
    "or refuse it with a clear error when it cannot be signed.",
)


@dataclass(frozen=True)
class CorpusPdf:
    """One corpus file and what the signing service is expected to do with it."""

    name: str
    path: Path
    expect: Expect
    reason: str
    password: str | None = None
    note: str = ""
    field: str | None = None  # the empty signature field a visible signature must go in (certified files)


def _literal(text: str) -> bytes:
    return bytes(String(text).unparse())


def _page_content(heading: str, lines: Sequence[str], size: _Size) -> bytes:
    width, height = size
    text = b"".join(_literal(line) + b" '\n" for line in lines)
    return b"\n".join(
        [
            b"q 0.88 0.92 1 rg 36 %g %g 60 re f Q" % (height - 100, width - 72),
            b"q 0.2 0.3 0.6 RG 1.5 w 36 36 %g %g re S Q" % (width - 72, height - 72),
            b"BT /F2 18 Tf 50 %g Td %s Tj ET" % (height - 76, _literal(heading)),
            b"BT /F1 11 Tf 15 TL 50 %g Td\n%sET" % (height - 110, text),
            b"q 0.5 0.1 0.1 RG 0.75 w 50 110 m %g 110 l S Q" % (width / 2),
            b"BT /F1 9 Tf 50 96 Td (Signature) Tj ET",
        ]
    )


def _standard_font(base: str) -> Dictionary:
    return Dictionary(
        Type=Name.Font, Subtype=Name.Type1, BaseFont=Name("/" + base), Encoding=Name.WinAnsiEncoding
    )


def _new_pdf(title: str) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    pdf.docinfo[Name.Title] = title
    pdf.docinfo[Name.Producer] = "govsign test corpus"
    pdf.docinfo[Name.CreationDate] = _CREATED
    return pdf


class _Doc:
    """A new document whose pages share one resource dictionary with Helvetica (/F1) and its bold (/F2)."""

    def __init__(self, title: str) -> None:
        self.pdf = _new_pdf(title)
        fonts = Dictionary(F1=_standard_font("Helvetica"), F2=_standard_font("Helvetica-Bold"))
        self.resources = self.pdf.make_indirect(Dictionary(Font=fonts))

    def add_page(
        self,
        heading: str,
        lines: Sequence[str] = _BODY,
        size: _Size = _A4,
        origin: _Size = (0, 0),
        **keys: Any,
    ) -> pikepdf.Page:
        content = _page_content(heading, lines, size)
        if origin != (0, 0):
            content = b"q 1 0 0 1 %g %g cm\n%s\nQ" % (*origin, content)
        page = Dictionary(
            Type=Name.Page,
            MediaBox=[origin[0], origin[1], origin[0] + size[0], origin[1] + size[1]],
            Resources=self.resources,
            Contents=self.pdf.make_stream(content),
            **keys,
        )
        self.pdf.pages.append(pikepdf.Page(page))
        return self.pdf.pages[-1]


def _basic(name: str, note: str, pages: int = 1, size: _Size = _A4) -> pikepdf.Pdf:
    doc = _Doc(name)
    for number in range(1, pages + 1):
        doc.add_page(f"{name} - page {number} of {pages}", [note, *_BODY], size)
    return doc.pdf


def _save(pdf: pikepdf.Pdf, target: Path | BinaryIO, **options: Any) -> None:
    pdf.save(target, deterministic_id="encryption" not in options, **options)


def _to_bytes(pdf: pikepdf.Pdf, **options: Any) -> bytes:
    buffer = io.BytesIO()
    _save(pdf, buffer, **options)
    return buffer.getvalue()


def _sign_entry(folder: Path, name: str, pdf: pikepdf.Pdf, note: str, **options: Any) -> CorpusPdf:
    path = folder / f"{name}.pdf"
    _save(pdf, path, **options)
    return CorpusPdf(name, path, "sign", "", note=note)


def _bytes_entry(folder: Path, name: str, data: bytes, expect: Expect, reason: str, note: str) -> CorpusPdf:
    path = folder / f"{name}.pdf"
    path.write_bytes(data)
    return CorpusPdf(name, path, expect, reason, note=note)
