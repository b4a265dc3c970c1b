"""How a signature looks on the page, per Decree 30/2020 (Appendix I) and the text block seen in practice.

Modes:

* ``none`` — an invisible signature;
* ``text`` — ``Ký bởi / Email / Cơ quan / Thời gian ký`` in a box;
* ``approval`` — the competent official's handwritten signature (blue PNG with alpha), centred in the box;
* ``issue`` — the agency seal (red PNG, real size) by the clerk, over the left third of the official's
  approval signature; only on a document an official has signed;
* ``appendix`` / ``copy`` — top right of page 1, no image, 10 pt: the document number (or ``SAO Y`` /
  ``SAO LỤC`` / ``TRÍCH SAO``), the agency and the signing time in Vietnam time, ISO 8601.

Text is set in Liberation Serif (metrically Times New Roman, with every Vietnamese letter; Debian's
``fonts-liberation2``), embedded as a subset by pyHanko. Coordinates are PDF points from the lower left
corner of the page; pages are numbered from 1.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign.fields import SigFieldSpec, enumerate_sig_fields
from pyhanko.stamp import BaseStampStyle, StaticStampStyle, TextStampStyle

from signing import layout as decree30
from signing.errors import DocumentRefused, InvalidDocument
from signing.fonts import font_engine_factory, text_width
from signing.page_frame import PageFrame, UprightStyle
from signing.page_ink import Rect, read_page

__all__ = [
    "AppearanceMode",
    "AppearanceRequest",
    "PlannedAppearance",
    "appearance_style",
    "existing_field_names",
    "field_name_for",
    "plan_appearance",
]

VIETNAM_TIME = dt.timezone(dt.timedelta(hours=7), "ICT")
CopyForm = Literal["SAO Y", "SAO LỤC", "TRÍCH SAO"]

_FONT_SIZE = 10  # Decree 30: the text of appendix and copy signatures is 10 pt
_LEADING = 12
_TEXT_PADDING = 2  # points between the text and its box
_SEAL_DIAMETER = 102.0  # 36 mm, the usual seal, when the PNG does not say its resolution
_SIGNATURE_HEIGHT = 57.6  # 20 mm, a handwritten signature's height when the PNG does not say its resolution
_FIELD_PREFIX = "govsign"


class AppearanceMode(StrEnum):
    NONE = "none"
    TEXT = "text"
    APPROVAL = "approval"
    ISSUE = "issue"
    APPENDIX = "appendix"
    COPY = "copy"


@dataclass(frozen=True)
class AppearanceRequest:
    """What the caller asked for; everything but the mode has a sensible default."""

    mode: AppearanceMode = AppearanceMode.NONE
    page: int | None = None  # 1-based; default: the last page (page 1 for appendix and copy)
    box: tuple[float, float, float, float] | None = None  # x, y, width, height
    image: Path | None = None  # the official's signature (approval) or the agency seal (issue)
    doc_number: str | None = None  # appendix: the document's number and symbol
    copy_form: CopyForm = "SAO Y"
    agency: str | None = None  # appendix and copy: default the certificate's organisation
    anchor: str | None = None  # approval: the printed line it goes above; default the signer's name (CN)

    def __post_init__(self) -> None:
        if self.mode in (AppearanceMode.APPROVAL, AppearanceMode.ISSUE) and self.image is None:
            what = "the official's signature image" if self.mode is AppearanceMode.APPROVAL else "the seal"
            raise InvalidDocument(f"appearance '{self.mode}' needs {what} (a PNG)")
        if self.mode is AppearanceMode.APPENDIX and not self.doc_number:
            raise InvalidDocument("appearance 'appendix' needs the document number (doc_number)")
        if self.box is not None and (self.box[2] <= 0 or self.box[3] <= 0):
            raise InvalidDocument("the box needs a positive width and height")
        if self.page is not None and self.page < 1:
            raise InvalidDocument("pages are numbered from 1")


@dataclass(frozen=True)
class PlannedAppearance:
    """What pyHanko needs: the new field (name, page, rectangle) and how to draw it (None: invisible)."""

    field: SigFieldSpec
    style: BaseStampStyle | None


def plan_appearance(
    request: AppearanceRequest,
    writer: IncrementalPdfFileWriter,
    certificate: x509.Certificate,
    signing_time: dt.datetime,
    field_name: str,
    *,
    password: str | None = None,
) -> PlannedAppearance:
    """Lay out the signature ``field_name`` of ``certificate`` on the document behind ``writer``
    (``password`` opens it again to read the page where the signature goes)."""
    mode = request.mode
    if mode is AppearanceMode.NONE:
        return PlannedAppearance(SigFieldSpec(field_name), None)
    lines = _text_lines(request, certificate, signing_time)
    if mode is AppearanceMode.ISSUE:
        page_index, shown = _seal_placement(request, writer)
    else:
        page_count = int(writer.root["/Pages"]["/Count"])
        default_page = 1 if mode in (AppearanceMode.APPENDIX, AppearanceMode.COPY) else page_count
        page_index = (request.page or default_page) - 1
        if page_index >= page_count:
            raise InvalidDocument(
                f"the document has {page_count} pages; page {page_index + 1} does not exist"
            )
        shown = _given(request.box) or _place(request, writer, page_index, password, certificate, lines)
    frame = PageFrame.of(writer, page_index)  # a box is where the reader sees it: back to user space
    rect = frame.to_user(shown)
    corners = (math.floor(rect.x0), math.floor(rect.y0), math.ceil(rect.x1), math.ceil(rect.y1))
    field = SigFieldSpec(field_name, on_page=page_index, box=corners)
    style = _style(request, lines)
    return PlannedAppearance(field, style if frame.rotate == 0 else UprightStyle(inner=style, frame=frame))


def _given(box: tuple[float, float, float, float] | None) -> Rect | None:
    return None if box is None else Rect(box[0], box[1], box[0] + box[2], box[1] + box[3])


def appearance_style(
    request: AppearanceRequest, certificate: x509.Certificate, signing_time: dt.datetime
) -> BaseStampStyle:
    """How the signature looks in a field already on the page, whose rectangle is the box: the look asked
    for, or the text block when none was (the field shows on the page; it must not stay blank)."""
    if request.mode is AppearanceMode.NONE:
        request = replace(request, mode=AppearanceMode.TEXT)
    return _style(request, _text_lines(request, certificate, signing_time))


def field_name_for(mode: AppearanceMode, serial: str, taken: set[str]) -> str:
    """A field name unique in the document that says who signed in which role."""
    base = f"{_FIELD_PREFIX}-{mode.value}-{serial[:12]}"
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def existing_field_names(writer: IncrementalPdfFileWriter) -> set[str]:
    return {name for name, _, _ in enumerate_sig_fields(writer)}


# -- styles ---------------------------------------------------------------------------------------------


def _text_lines(request: AppearanceRequest, certificate: x509.Certificate, moment: dt.datetime) -> list[str]:
    """The lines of a text, appendix or copy signature (none for the image modes)."""
    mode = request.mode
    if mode in (AppearanceMode.APPROVAL, AppearanceMode.ISSUE):
        return []
    local = moment.astimezone(VIETNAM_TIME)
    organisation = request.agency or _attribute(certificate, NameOID.ORGANIZATION_NAME)
    if mode is AppearanceMode.TEXT:
        return [
            f"Ký bởi: {_attribute(certificate, NameOID.COMMON_NAME)}",
            f"Email: {_email(certificate)}",
            f"Cơ quan: {organisation}",
            f"Thời gian ký: {local:%d.%m.%Y %H:%M:%S} +07:00",
        ]
    heading = request.doc_number if mode is AppearanceMode.APPENDIX else request.copy_form
    return [str(heading), organisation, local.isoformat(timespec="seconds")]


def _text_size(lines: list[str]) -> tuple[float, float]:
    """The box that holds ``lines`` at 10 pt without scaling them (pyHanko rounds each line's width)."""
    width = max(round(text_width(line, _FONT_SIZE)) for line in lines)
    return width + 2 * _TEXT_PADDING + 1, _LEADING * len(lines) + 2 * _TEXT_PADDING


def _style(request: AppearanceRequest, lines: list[str]) -> BaseStampStyle:
    if request.mode in (AppearanceMode.APPROVAL, AppearanceMode.ISSUE):
        assert request.image is not None
        return StaticStampStyle(
            background=PdfImage(_load_png(request.image)),
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MID,
                margins=layout.Margins.uniform(0),  # type: ignore[no-untyped-call]
            ),
            border_width=0,
        )
    text = "\n".join(lines)
    return TextStampStyle(
        stamp_text=text.replace("%", "%%"),
        text_box_style=TextBoxStyle(
            font=font_engine_factory(text, _FONT_SIZE),
            font_size=_FONT_SIZE,
            leading=_LEADING,
            box_layout_rule=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MIN,
                y_align=layout.AxisAlignment.ALIGN_MIN,
                margins=layout.Margins.uniform(0),  # type: ignore[no-untyped-call]
            ),
        ),
        # Top left in its box, shrunk only when a box the caller gave is too small: a box laid out
        # here is made to the text's measure, so the text keeps its 10 pt.
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins.uniform(_TEXT_PADDING),  # type: ignore[no-untyped-call]
        ),
        border_width=0,
        background=None,
    )


def _load_png(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except (OSError, UnidentifiedImageError) as error:
        raise InvalidDocument(f"{path.name} is not a readable image ({error})") from None
    if image.format != "PNG":
        raise InvalidDocument(f"{path.name} must be a PNG (with transparency), not {image.format}")
    return image.convert("RGBA")


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _email(certificate: x509.Certificate) -> str:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    emails = names.get_values_for_type(x509.RFC822Name)
    return emails[0] if emails else ""


# -- placement ------------------------------------------------------------------------------------------


def _place(
    request: AppearanceRequest,
    writer: IncrementalPdfFileWriter,
    page_index: int,
    password: str | None,
    certificate: x509.Certificate,
    lines: list[str],
) -> Rect:
    """Where Decree 30 puts the signature on the page ``page_index``, read from the page as it is shown."""
    mode = request.mode
    ink = read_page(writer.prev.stream, page_index, password, lines=mode is AppearanceMode.APPROVAL)
    try:
        if mode is AppearanceMode.APPROVAL:
            assert request.image is not None
            anchor = request.anchor or _attribute(certificate, NameOID.COMMON_NAME)
            return decree30.approval_box(ink, anchor, _real_size(request.image, _SIGNATURE_HEIGHT))
        if mode is AppearanceMode.TEXT:
            return decree30.free_box(ink, *_text_size(lines))
        return decree30.top_right_box(ink, *_text_size(lines))
    except DocumentRefused as error:
        raise DocumentRefused(f"page {page_index + 1}: {error}") from None


def _seal_placement(request: AppearanceRequest, writer: IncrementalPdfFileWriter) -> tuple[int, Rect]:
    """The seal's page and box as shown: over the left third of the official's approval signature image."""
    approval = _approval_image(writer)
    if approval is None:
        raise DocumentRefused(
            "the agency seal ('issue') goes on a document the competent official has signed "
            "('approval'); this document has no approval signature"
        )
    page_index, image = approval
    given = _given(request.box)
    if given is not None:
        return (request.page - 1 if request.page else page_index), given
    assert request.image is not None
    diameter = _real_size(request.image, _SEAL_DIAMETER)[0]
    return page_index, decree30.seal_box(image, diameter)


def _real_size(path: Path, default_height: float) -> tuple[float, float]:
    """An image's printed width and height in points from the PNG's resolution; without one, the height
    ``default_height`` at the image's proportions."""
    image = _load_png(path)
    dpi = image.info.get("dpi")
    if dpi and float(dpi[0]) > 1 and float(dpi[1]) > 1:
        return float(image.width) / float(dpi[0]) * 72, float(image.height) / float(dpi[1]) * 72
    return default_height * image.width / image.height, default_height


def _approval_image(writer: IncrementalPdfFileWriter) -> tuple[int, Rect] | None:
    """Page index and drawn image rectangle (as shown) of the last approval signature govsign put on the
    document."""
    found = None
    for name, value, field_ref in enumerate_sig_fields(writer, filled_status=True):
        if not name.startswith(f"{_FIELD_PREFIX}-{AppearanceMode.APPROVAL.value}-") or value is None:
            continue
        widget = field_ref.get_object()
        x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
        page_ref = widget.get_value_as_reference("/P") if "/P" in widget else None
        page_index = _page_index(writer, page_ref)
        shown = PageFrame.of(writer, page_index).to_display(
            Rect(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        )
        found = (page_index, _drawn_image(widget, shown))
    return found


def _drawn_image(widget: generic.DictionaryObject, rect: Rect) -> Rect:
    """Where the signature image is drawn in the widget: centred and at its own proportions, as
    :func:`_style` draws it; the whole rectangle when the appearance holds no image."""
    size = _image_size(widget["/AP"]["/N"], depth=3) if "/AP" in widget and "/N" in widget["/AP"] else None
    if size is None:
        return rect
    scale = min(rect.width / size[0], rect.height / size[1])
    return Rect.around(*rect.centre, size[0] * scale, size[1] * scale)


def _image_size(xobject: generic.PdfObject, depth: int) -> tuple[float, float] | None:
    """Width and height of the first image in an appearance's XObjects, looking ``depth`` forms deep."""
    if not isinstance(xobject, generic.StreamObject) or depth == 0:
        return None
    if xobject.get("/Subtype") == "/Image":
        return float(xobject["/Width"]), float(xobject["/Height"])
    resources = xobject["/Resources"] if "/Resources" in xobject else None  # noqa: SIM401 (.get would not resolve)
    children = resources["/XObject"] if resources is not None and "/XObject" in resources else {}
    for name in children:
        size = _image_size(children[name], depth - 1)
        if size is not None:
            return size
    return None


def _page_index(writer: IncrementalPdfFileWriter, page_ref: Any) -> int:
    last = int(writer.root["/Pages"]["/Count"]) - 1
    if page_ref is None:
        return last
    for index in range(last + 1):
        reference, _ = writer.find_page_for_modification(index)  # type: ignore[no-untyped-call]
        if reference == page_ref:
            return index
    return last
