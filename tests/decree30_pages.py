"""Pages laid out as Vietnamese administrative documents are (Decree 30/2020 Appendix I), for placement tests.

* :func:`decision_pdf` — the demo decision of SCENARIOS.md: the Department of Justice's "Quyết định" on
  A4 with the 20 mm top margin, the national motto top right, and Mr Ánh's signature block
  ("KT. GIÁM ĐỐC / PHÓ GIÁM ĐỐC", space, "Nguyễn Văn Ánh") beside "Nơi nhận:".
* :func:`letterhead_pdf` — a tall printed letterhead (a filled band with the agency's name) that leaves no
  top margin, and a three-line title block "TM. ỦY BAN NHÂN DÂN / KT. CHỦ TỊCH / PHÓ CHỦ TỊCH".
* :func:`scanned_pdf` — a scanned paper page (one greyscale JPEG over the whole page) whose header starts
  a few points from the top edge.
* :func:`landscape_pdf` — an A4 landscape appendix: a ruled table over most of the page, the signature
  block under it on the right.

Text is set in Liberation Serif (embedded, through pyHanko's font engine); bold is drawn as filled and
stroked text, which is what a scan of bold print looks like to a reader of ink.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.writer import PdfFileWriter

from signing.fonts import SOURCE_FONT, appearance_font

A4 = (595.0, 842.0)
LEFT, RIGHT, TOP = 85.0, 42.5, 57.0  # Decree 30 margins: 30 mm left, 15 mm right, 20 mm top


@dataclass(frozen=True)
class Line:
    """One line of text: centred on ``x`` (or starting there when ``centred`` is false) at baseline ``y``."""

    text: str
    x: float
    y: float
    size: float = 13
    bold: bool = False
    centred: bool = True


def _dictionary(entries: dict[str, Any]) -> generic.DictionaryObject:
    return generic.DictionaryObject({generic.pdf_name(key): value for key, value in entries.items()})  # type: ignore[no-untyped-call]


def _number(value: float) -> generic.PdfObject:
    return generic.FloatObject(value)  # type: ignore[no-untyped-call]


def _new_writer() -> PdfFileWriter:
    return PdfFileWriter()  # type: ignore[no-untyped-call]


class _Page:
    def __init__(self, writer: PdfFileWriter, size: tuple[float, float]) -> None:
        self.writer = writer
        self.size = size
        self.font: GlyphAccumulator | None = None  # made on the first line: an unused font cannot be written
        self.ops: list[bytes] = []

    def text(self, line: Line) -> None:
        if self.font is None:
            with appearance_font().open("rb") as font:
                self.font = GlyphAccumulator(self.writer, font, font_size=1)
        shaped = self.font.shape(line.text)
        width = shaped.x_advance * line.size
        x = line.x - width / 2 if line.centred else line.x
        mode = b"2 Tr 0.45 w" if line.bold else b"0 Tr"
        self.ops.append(
            b"BT %s /F1 %g Tf 1 0 0 1 %g %g Tm %s ET" % (mode, line.size, x, line.y, shaped.graphics_ops)
        )

    def rule(self, x0: float, y: float, x1: float) -> None:
        self.ops.append(b"0.6 w %g %g m %g %g l S" % (x0, y, x1, y))

    def save(self, path: Path, extra_resources: generic.DictionaryObject | None = None) -> Path:
        resources = _dictionary({"/Font": _dictionary({"/F1": self.font.as_resource()})} if self.font else {})
        if extra_resources:
            resources.update(extra_resources)
        content = generic.StreamObject(stream_data=b"\n".join(self.ops))
        box = generic.ArrayObject([_number(0), _number(0), *(_number(value) for value in self.size)])
        page = _dictionary(
            {
                "/Type": generic.pdf_name("/Page"),
                "/MediaBox": box,
                "/Resources": resources,
                "/Contents": self.writer.add_object(content),
            }
        )
        self.writer.insert_page(page)  # type: ignore[no-untyped-call]
        with path.open("wb") as stream:
            self.writer.write(stream)  # type: ignore[no-untyped-call]
        return path


def _signature_block(page: _Page, titles: list[str], name: str, centre: float, top: float) -> None:
    for number, title in enumerate(titles):
        page.text(Line(title, centre, top - 16 * number, bold=True))
    page.text(Line(name, centre, top - 16 * (len(titles) - 1) - 96, bold=True))


def decision_pdf(path: Path) -> Path:
    """The demo decision: Mr Ánh signs for the Director of the Department of Justice of Hà Nội."""
    page = _Page(_new_writer(), A4)
    left_centre, right_centre = LEFT + 80, 395.0
    top = A4[1] - TOP - 12
    page.text(Line("UBND THÀNH PHỐ HÀ NỘI", left_centre, top, 12))
    page.text(Line("SỞ TƯ PHÁP", left_centre, top - 15, 12, bold=True))
    page.rule(left_centre - 25, top - 19, left_centre + 25)
    page.text(Line("Số: 1234/QĐ-STP", left_centre, top - 40, 13))
    page.text(Line("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", right_centre, top, 12, bold=True))
    page.text(Line("Độc lập - Tự do - Hạnh phúc", right_centre, top - 15, 13, bold=True))
    page.rule(right_centre - 80, top - 19, right_centre + 80)
    page.text(Line("Hà Nội, ngày 23 tháng 11 năm 2026", right_centre, top - 40, 13))
    middle = (LEFT + A4[0] - RIGHT) / 2
    page.text(Line("QUYẾT ĐỊNH", middle, top - 85, 14, bold=True))
    page.text(Line("Về việc cấp Phiếu lý lịch tư pháp số 01", middle, top - 102, 14, bold=True))
    page.text(Line("GIÁM ĐỐC SỞ TƯ PHÁP THÀNH PHỐ HÀ NỘI", middle, top - 135, 14, bold=True))
    body = [
        "Căn cứ Luật Lý lịch tư pháp ngày 17 tháng 6 năm 2009;",
        "Căn cứ Nghị định số 111/2010/NĐ-CP ngày 23/11/2010 của Chính phủ;",
        "Xét đề nghị của Trưởng phòng Lý lịch tư pháp,",
    ]
    for number, text in enumerate(body):
        page.text(Line(text, LEFT + 28, top - 165 - 20 * number, 14, centred=False))
    page.text(Line("QUYẾT ĐỊNH:", middle, top - 235, 14, bold=True))
    articles = [
        "Điều 1. Cấp Phiếu lý lịch tư pháp số 01 cho ông Lê Văn Cường.",
        "Điều 2. Quyết định này có hiệu lực kể từ ngày ký.",
        "Điều 3. Chánh Văn phòng, Trưởng phòng Lý lịch tư pháp chịu trách nhiệm",
        "thi hành Quyết định này./.",
    ]
    for number, text in enumerate(articles):
        page.text(Line(text, LEFT + (28 if number < 3 else 0), top - 265 - 20 * number, 14, centred=False))
    block_top = top - 365
    page.text(Line("Nơi nhận:", LEFT, block_top, 12, bold=True, centred=False))
    for number, text in enumerate(["- Như Điều 3;", "- Ông Lê Văn Cường;", "- Lưu: VT, LLTP."]):
        page.text(Line(text, LEFT, block_top - 14 * (number + 1), 11, centred=False))
    _signature_block(page, ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"], "Nguyễn Văn Ánh", right_centre + 20, block_top)
    return page.save(path)


def letterhead_pdf(path: Path) -> Path:
    """A tall letterhead band over the whole top, and a People's Committee title block of three lines."""
    page = _Page(_new_writer(), A4)
    page.ops.append(b"0.82 0.9 0.97 rg 0 732 595 110 re f 0 0 0 rg")  # the band reaches the top edge
    page.text(Line("ỦY BAN NHÂN DÂN THÀNH PHỐ HÀ NỘI", A4[0] / 2, 800, 16, bold=True))
    page.text(Line("Số 12 Lê Lai, Hoàn Kiếm, Hà Nội — Điện thoại 024 3825 3536", A4[0] / 2, 772, 11))
    page.rule(LEFT, 745, A4[0] - RIGHT)
    page.text(Line("Số: 45/TB-UBND", LEFT, 712, 13, centred=False))
    page.text(Line("Hà Nội, ngày 23 tháng 11 năm 2026", 440, 712, 13))
    page.text(Line("THÔNG BÁO", A4[0] / 2, 660, 14, bold=True))
    for number in range(12):
        text = f"{number + 1}. Nội dung thông báo của Ủy ban nhân dân thành phố, đoạn số {number + 1}."
        page.text(Line(text, LEFT, 630 - 20 * number, 13, centred=False))
    titles = ["TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]
    _signature_block(page, titles, "Nguyễn Văn Ánh", 420.0, 350)
    return page.save(path)


def landscape_pdf(path: Path) -> Path:
    """An appendix in landscape: a ruled table over most of the page, the signature block below it."""
    size = (A4[1], A4[0])
    page = _Page(_new_writer(), size)
    page.text(Line("Phụ lục: DANH SÁCH PHIẾU LÝ LỊCH TƯ PHÁP ĐÃ CẤP", size[0] / 2, 545, 14, bold=True))
    columns = [57.0, 100.0, 330.0, 480.0, 640.0, size[0] - 42.5]
    rows = [520.0 - 22 * number for number in range(13)]
    for y in rows:
        page.rule(columns[0], y, columns[-1])
    for x in columns:
        page.ops.append(b"0.6 w %g %g m %g %g l S" % (x, rows[0], x, rows[-1]))
    for number, y in enumerate(rows[:-1]):
        cells = [str(number + 1), f"Công dân số {number + 1}", "Hà Nội", f"{number + 1:02d}/LLTP"]
        for x, cell in zip(columns, cells, strict=False):
            page.text(Line(cell, x + 6, y - 16, 12, centred=False))
    _signature_block(page, ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"], "Nguyễn Văn Ánh", 640.0, 215)
    return page.save(path)


def scanned_pdf(path: Path, dpi: int = 150) -> Path:
    """A paper page scanned in grey at ``dpi``: its header starts 8 pt from the top edge, on the right too."""
    scale = dpi / 72
    picture = Image.new("L", (round(A4[0] * scale), round(A4[1] * scale)), 246)
    draw = ImageDraw.Draw(picture)

    def write(text: str, x: float, top: float, size: float) -> None:
        font = ImageFont.truetype(str(SOURCE_FONT), round(size * scale))
        draw.text((x * scale, top * scale), text, fill=25, font=font)

    write("SỞ TƯ PHÁP HÀ NỘI", 60, 8, 13)
    write("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 300, 8, 12)
    write("Độc lập - Tự do - Hạnh phúc", 345, 24, 13)
    for number in range(16):
        write(
            f"Dòng {number + 1} của văn bản giấy đã được quét thành tệp PDF để sao y.",
            85,
            110 + 24 * number,
            13,
        )
    write("GIÁM ĐỐC", 390, 520, 13)
    write("Nguyễn Văn Ánh", 375, 610, 13)
    jpeg = path.with_suffix(".jpg")
    picture.save(jpeg, quality=80)
    writer = _new_writer()
    data = jpeg.read_bytes()
    jpeg.unlink()
    image = generic.StreamObject(
        _dictionary(
            {
                "/Type": generic.pdf_name("/XObject"),
                "/Subtype": generic.pdf_name("/Image"),
                "/Width": _number(picture.width),
                "/Height": _number(picture.height),
                "/ColorSpace": generic.pdf_name("/DeviceGray"),
                "/BitsPerComponent": _number(8),
                "/Filter": generic.pdf_name("/DCTDecode"),
            }
        ),
        encoded_data=data,
    )
    page = _Page(writer, A4)
    page.ops.append(b"q %g 0 0 %g 0 0 cm /Scan Do Q" % A4)
    scan = _dictionary({"/Scan": writer.add_object(image)})
    return page.save(path, _dictionary({"/XObject": scan}))
