"""Corpus files whose cross-reference sections are written by hand: a hybrid-reference file (an xref table
and an /XRefStm) and earlier incremental updates chained by /Prev."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name, String

from tests.pdf_corpus.documents import (
    _A4,
    _BODY,
    _CREATED,
    CorpusPdf,
    _basic,
    _bytes_entry,
    _page_content,
    _standard_font,
    _to_bytes,
)


def _raw_object(number: int, body: bytes) -> bytes:
    return b"%d 0 obj\n%s\nendobj\n" % (number, body)


def _stream_body(head: Dictionary, data: bytes) -> bytes:
    head.Length = len(data)
    return bytes(head.unparse()) + b"\nstream\n" + data + b"\nendstream"


def _runs(numbers: Sequence[int]) -> list[list[int]]:
    """Split sorted object numbers into runs of consecutive numbers (cross-reference subsections)."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][-1] + 1 == number:
            runs[-1].append(number)
        else:
            runs.append([number])
    return runs


def _xref_table(offsets: dict[int, int], trailer: bytes) -> bytes:
    """A classic cross-reference section; offset 0 for object 0 stands for the head of the free list."""
    lines = [b"xref\n"]
    for run in _runs(sorted(offsets)):
        lines.append(b"%d %d\n" % (run[0], len(run)))
        lines += [b"%010d 00000 n\r\n" % offsets[n] if n else b"0000000000 65535 f\r\n" for n in run]
    return b"".join(lines) + b"trailer\n" + trailer + b"\n"


def _xref_stream(number: int, entries: dict[int, tuple[int, int, int]], head: Dictionary) -> bytes:
    """A cross-reference stream object; entries maps object numbers to (type, field 2, field 3)."""
    numbers = sorted(entries)
    head.Type = Name.XRef
    head.W = [1, 4, 2]
    head.Index = [value for run in _runs(numbers) for value in (run[0], len(run))]
    head.Filter = Name.FlateDecode
    data = b"".join(struct.pack(">BIH", *entries[n]) for n in numbers)
    return _raw_object(number, _stream_body(head, zlib.compress(data)))


def _hybrid_xref(folder: Path) -> CorpusPdf:
    note = "hybrid-reference file (by hand): xref table + /XRefStm; text note and info in an object stream"
    plain = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R "
        b"/F2 6 0 R >> >> /Contents 4 0 R /Annots [7 0 R] >>",
        4: _stream_body(
            Dictionary(Filter=Name.FlateDecode),
            zlib.compress(_page_content("hybrid-xref", [note, *_BODY], _A4)),
        ),
        5: bytes(_standard_font("Helvetica").unparse()),
        6: bytes(_standard_font("Helvetica-Bold").unparse()),
    }
    hidden = {
        7: b"<< /Type /Annot /Subtype /Text /Rect [500 700 520 720] /Contents (Hidden from PDF 1.4 readers) >>",
        8: f"<< /Title (hybrid-xref) /Producer (govsign test corpus) /CreationDate ({_CREATED}) >>".encode(),
    }
    index, body = b"", b""
    for number, obj in hidden.items():
        index += b"%d %d " % (number, len(body))
        body += obj + b"\n"
    plain[9] = _stream_body(Dictionary(Type=Name.ObjStm, N=len(hidden), First=len(index)), index + body)
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offsets = {0: 0}
    for number, obj in plain.items():
        offsets[number] = len(out)
        out += _raw_object(number, obj)
    offsets[10] = len(out)
    out += _xref_stream(10, {n: (2, 9, i) for i, n in enumerate(hidden)}, Dictionary(Size=11))
    file_id = hashlib.md5(b"hybrid-xref").hexdigest()
    trailer = f"<< /Size 11 /Root 1 0 R /Info 8 0 R /XRefStm {offsets[10]} /ID [<{file_id}> <{file_id}>] >>"
    xref = len(out)
    out += _xref_table(offsets, trailer.encode()) + b"startxref\n%d\n%%%%EOF\n" % xref
    return _bytes_entry(folder, "hybrid-xref", bytes(out), "sign", "", note)


def _startxref(data: bytes) -> int:
    match = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data)
    if match is None:
        raise ValueError("no startxref at the end of the file")
    return int(match[1])


def _object_bytes(obj: pikepdf.Object) -> bytes:
    number = obj.objgen[0]
    if isinstance(obj, pikepdf.Stream):
        return _raw_object(number, _stream_body(obj.stream_dict, obj.read_raw_bytes()))
    return _raw_object(number, bytes(obj.unparse(resolved=True)))


def _append_update(data: bytes, edit: Callable[[pikepdf.Pdf], list[pikepdf.Object]]) -> bytes:
    """data with one incremental update appended, written by hand: the objects edit changed or made."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        changed = edit(pdf)
        out = bytearray(data)
        offsets: dict[int, int] = {}
        for obj in changed:
            offsets[obj.objgen[0]] = len(out)
            out += _object_bytes(obj)
        trailer = Dictionary(
            Size=max(int(pdf.trailer.Size), *(n + 1 for n in offsets)),
            Root=pdf.Root,
            Info=pdf.trailer.Info,
            Prev=_startxref(data),
            ID=Array([pdf.trailer.ID[0], String(hashlib.md5(bytes(out)).digest())]),
        )
        xref = len(out)
        out += _xref_table(offsets, bytes(trailer.unparse())) + b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _add_note(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    page = pdf.pages[0]
    note = pdf.make_indirect(
        Dictionary(
            Type=Name.Annot,
            Subtype=Name.Text,
            Rect=[520, 760, 540, 780],
            Contents="Reviewed in revision 2",
            T="Reviewer",
            M="D:20240502100000+07'00'",
        )
    )
    page.Annots = pdf.make_indirect(Array([note]))
    pdf.docinfo[Name.ModDate] = "D:20240502100000+07'00'"
    return [page.obj, page.Annots, note, pdf.docinfo]


def _add_page(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    lines = ["This page was appended by the second incremental update.", *_BODY]
    content = pdf.make_stream(zlib.compress(_page_content("appendix", lines, _A4)), Filter=Name.FlateDecode)
    page = pdf.make_indirect(
        Dictionary(
            Type=Name.Page,
            Parent=pdf.Root.Pages,
            MediaBox=[0, 0, *_A4],
            Resources=pdf.pages[0].Resources,
            Contents=content,
        )
    )
    pdf.Root.Pages.Kids.append(page)
    pdf.Root.Pages.Count = len(pdf.Root.Pages.Kids)
    pdf.docinfo[Name.ModDate] = "D:20240503110000+07'00'"
    return [pdf.Root.Pages, page, content, pdf.docinfo]


def _incremental_once(folder: Path) -> CorpusPdf:
    note = "one earlier incremental update (adds a text note, changes the info dictionary)"
    data = _append_update(_to_bytes(_basic("incremental-1", note)), _add_note)
    return _bytes_entry(folder, "incremental-1", data, "sign", "", note)


def _incremental_twice(folder: Path) -> CorpusPdf:
    note = "two earlier incremental updates (a text note, then a new page) chained by /Prev"
    data = _append_update(_append_update(_to_bytes(_basic("incremental-2", note)), _add_note), _add_page)
    return _bytes_entry(folder, "incremental-2", data, "sign", "", note)
