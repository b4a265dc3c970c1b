"""Corpus files with more than text on their pages: a filled form, annotations and links, Vietnamese text in
an embedded TrueType font, and scanned pages (JPEG images, no text layer)."""

from __future__ import annotations

import io
import random
from functools import partial
from pathlib import Path
from typing import Literal

import pikepdf
from fontTools.ttLib import TTFont
from pikepdf import Array, Dictionary, Name
from PIL import Image, ImageDraw

from tests.pdf_corpus.documents import (
    _A4,
    _BODY,
    CorpusPdf,
    _Doc,
    _literal,
    _new_pdf,
    _sign_entry,
    _Size,
    _standard_font,
)

_SERIF = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
_SCAN_DPI = 200
_VIETNAMESE = (
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "ĐƠN ĐỀ NGHỊ CẤP BẢN SAO TRÍCH LỤC",
    "Kính gửi: Ủy ban nhân dân phường Bến Nghé, Quận 1",
    "Họ và tên người yêu cầu: Nguyễn Thị Hương",
    "Tôi xin cam đoan những lời khai trên là đúng sự thật.",
)


def _appearance(pdf: pikepdf.Pdf, size: _Size, content: bytes, fonts: Dictionary) -> pikepdf.Stream:
    return pdf.make_stream(
        content,
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=[0, 0, *size],
        Resources=Dictionary(Font=fonts),
    )


def _form_doc(name: str, note: str) -> pikepdf.Pdf:
    """A one-page form: a filled text field, a ticked checkbox and an empty signature field."""
    doc = _Doc(name)
    page = doc.add_page(name, [note, "Full name:", "", "I agree to the terms:", *_BODY])
    pdf = doc.pdf
    helv = pdf.make_indirect(_standard_font("Helvetica"))
    zadb = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.ZapfDingbats))
    value = "Nguyen Van An"
    text_ap = b"/Tx BMC q BT /Helv 11 Tf 0 g 3 5 Td %s Tj ET Q EMC" % _literal(value)
    tick = b"q BT /ZaDb 12 Tf 0 g 3 4 Td (4) Tj ET Q"
    widget = partial(Dictionary, Type=Name.Annot, Subtype=Name.Widget, F=4, P=page.obj)
    widgets = [
        widget(
            FT=Name.Tx,
            T="full_name",
            V=value,
            DA="/Helv 11 Tf 0 g",
            Rect=[130, 698, 400, 716],
            AP=Dictionary(N=_appearance(pdf, (270, 18), text_ap, Dictionary(Helv=helv))),
        ),
        widget(
            FT=Name.Btn,
            T="agree",
            V=Name.Yes,
            AS=Name.Yes,
            DA="/ZaDb 0 Tf 0 g",
            MK=Dictionary(CA="4"),
            Rect=[160, 668, 176, 684],
            AP=Dictionary(
                N=Dictionary(
                    Yes=_appearance(pdf, (16, 16), tick, Dictionary(ZaDb=zadb)),
                    Off=_appearance(pdf, (16, 16), b"", Dictionary()),
                )
            ),
        ),
        widget(FT=Name.Sig, T="Approval", Rect=[330, 60, 545, 120]),
    ]
    annots = Array([pdf.make_indirect(w) for w in widgets])
    page.Annots = annots
    pdf.Root.AcroForm = Dictionary(
        Fields=annots, DR=Dictionary(Font=Dictionary(Helv=helv, ZaDb=zadb)), DA="/Helv 0 Tf 0 g"
    )
    return pdf


def _acroform(folder: Path) -> CorpusPdf:
    note = (
        "AcroForm: filled text field and ticked checkbox with appearances, empty signature field 'Approval'"
    )
    return _sign_entry(folder, "acroform", _form_doc("acroform", note), note)


def _annotations(folder: Path) -> CorpusPdf:
    note = "annotations: URI link, GoTo link to page 2, text note"
    doc = _Doc("annotations")
    first = doc.add_page("annotations", [note, "https://www.example.org/", "Go to page 2", *_BODY])
    second = doc.add_page("annotations - page 2", [note])
    first.Annots = doc.pdf.make_indirect(
        Array(
            [
                Dictionary(
                    Type=Name.Annot,
                    Subtype=Name.Link,
                    Rect=[48, 699, 185, 713],
                    Border=[0, 0, 0],
                    A=Dictionary(S=Name.URI, URI="https://www.example.org/"),
                ),
                Dictionary(
                    Type=Name.Annot,
                    Subtype=Name.Link,
                    Rect=[48, 684, 120, 698],
                    Border=[0, 0, 1],
                    Dest=[second.obj, Name.Fit],
                ),
                Dictionary(
                    Type=Name.Annot,
                    Subtype=Name.Text,
                    Rect=[500, 740, 520, 760],
                    Contents="Please check the figures before signing.",
                    T="Clerk",
                    Name=Name.Comment,
                    F=4,
                ),
            ]
        )
    )
    return _sign_entry(folder, "annotations", doc.pdf, note)


def _truetype_font(pdf: pikepdf.Pdf, text: str) -> tuple[pikepdf.Object, dict[str, int]]:
    """Liberation Serif embedded whole as a CIDFontType2 (Identity-H), and the glyph id of each character."""
    font = TTFont(_SERIF)
    cmap = font.getBestCmap()
    scale = 1000 / font["head"].unitsPerEm
    gids = {char: font.getGlyphID(cmap[ord(char)]) for char in sorted(set(text))}
    advances = font["hmtx"]
    widths = [v for char, gid in gids.items() for v in (gid, [round(advances[cmap[ord(char)]][0] * scale)])]
    head, hhea = font["head"], font["hhea"]
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name.LiberationSerif,
        Flags=34,
        FontBBox=[round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)],
        ItalicAngle=0,
        Ascent=round(hhea.ascent * scale),
        Descent=round(hhea.descent * scale),
        CapHeight=round(font["OS/2"].sCapHeight * scale),
        StemV=80,
        FontFile2=pdf.make_stream(_SERIF.read_bytes(), Length1=_SERIF.stat().st_size),
    )
    cid_font = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name.LiberationSerif,
        CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),
        CIDToGIDMap=Name.Identity,
        W=widths,
    )
    type0 = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type0,
        BaseFont=Name.LiberationSerif,
        Encoding=Name("/Identity-H"),
        DescendantFonts=[pdf.make_indirect(cid_font)],
        ToUnicode=pdf.make_stream(_to_unicode(gids)),
    )
    return pdf.make_indirect(type0), gids


def _to_unicode(gids: dict[str, int]) -> bytes:
    pairs = [
        b"<%04X> <%s>" % (gid, char.encode("utf-16-be").hex().upper().encode()) for char, gid in gids.items()
    ]
    blocks = b"".join(
        b"%d beginbfchar\n%s\nendbfchar\n" % (len(chunk), b"\n".join(chunk))
        for chunk in (pairs[i : i + 100] for i in range(0, len(pairs), 100))
    )
    return (
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + blocks + b"endcmap\n"
        b"CMapName currentdict /CMap defineresource pop\nend\nend\n"
    )


def _truetype_vietnamese(folder: Path) -> CorpusPdf:
    note = "Vietnamese text in an embedded TrueType font (Liberation Serif, Identity-H, ToUnicode)"
    doc = _Doc("truetype-vietnamese")
    doc.pdf.docinfo[Name.Title] = "Đơn đề nghị - tiếng Việt"
    page = doc.add_page("truetype-vietnamese", [note])
    font, gids = _truetype_font(doc.pdf, "".join(_VIETNAMESE))
    page.Resources = Dictionary(Font=Dictionary(F1=doc.resources.Font.F1, F2=doc.resources.Font.F2, TT=font))
    shown = b"".join(
        b"BT /TT 14 Tf 50 %d Td <%s> Tj ET\n"
        % (680 - 26 * row, "".join(f"{gids[c]:04X}" for c in line).encode())
        for row, line in enumerate(_VIETNAMESE)
    )
    page.contents_add(doc.pdf.make_stream(shown))
    return _sign_entry(folder, "truetype-vietnamese", doc.pdf, note)


# Scanned pages


def _scan_image(mode: Literal["RGB", "L"], seed: int) -> Image.Image:
    """A4 at 200 dpi: off-white paper with a gradient, seeded noise, dark 'text' bars; a red seal in RGB."""
    width, height = round(_A4[0] / 72 * _SCAN_DPI), round(_A4[1] / 72 * _SCAN_DPI)
    rng = random.Random(seed)
    paper = Image.linear_gradient("L").resize((width, height)).point(lambda v: 228 + v // 12)
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    gray = Image.blend(paper, noise, 0.1)
    draw = ImageDraw.Draw(gray)
    for top in range(300, height - 300, 64):
        draw.rectangle(
            (180, top, 180 + rng.randrange(600, width - 360), top + 22), fill=rng.randrange(20, 70)
        )
    if mode == "L":
        return gray
    scan = Image.merge("RGB", (gray, gray.point(lambda v: v - 4), gray.point(lambda v: v - 16)))
    ImageDraw.Draw(scan).ellipse((1150, 1850, 1500, 2200), outline=(200, 20, 30), width=14)
    return scan


def _scan_entry(folder: Path, name: str, note: str, image: Image.Image) -> CorpusPdf:
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=75)
    pdf = _new_pdf(name)
    picture = pdf.make_stream(
        jpeg.getvalue(),
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=image.width,
        Height=image.height,
        ColorSpace=Name.DeviceRGB if image.mode == "RGB" else Name.DeviceGray,
        BitsPerComponent=8,
        Filter=Name.DCTDecode,
    )
    content = b"q %g 0 0 %g 0 0 cm /Scan Do Q" % _A4
    page = Dictionary(
        Type=Name.Page,
        MediaBox=[0, 0, *_A4],
        Resources=Dictionary(XObject=Dictionary(Scan=picture)),
        Contents=pdf.make_stream(content),
    )
    pdf.pages.append(pikepdf.Page(page))
    return _sign_entry(folder, name, pdf, note)


def _scan_rgb(folder: Path) -> CorpusPdf:
    note = "scanned page: one 200 dpi A4 RGB JPEG image (1654 x 2339), no text layer"
    return _scan_entry(folder, "scan-rgb", note, _scan_image("RGB", seed=1))


def _scan_gray(folder: Path) -> CorpusPdf:
    note = "scanned page: one 200 dpi A4 grayscale JPEG image, no text layer"
    return _scan_entry(folder, "scan-gray", note, _scan_image("L", seed=2))
