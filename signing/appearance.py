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
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign.fields import SigFieldSpec, enumerate_sig_fields
from pyhanko.stamp import BaseStampStyle, StaticStampStyle, TextStampStyle

from signing.errors import DocumentRefused, InvalidDocument
from signing.fonts import font_engine_factory

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

_MARGIN = 36.0  # half an inch from the page edge
_TEXT_BOX = (216.0, 64.0)  # width, height of the text block
_TOP_RIGHT_BOX = (200.0, 46.0)
_IMAGE_BOX = (170.0, 70.0)
_SEAL_DIAMETER = 102.0  # 36 mm, the usual seal, when the PNG does not say its resolution
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
) -> PlannedAppearance:
    """Lay out the signature ``field_name`` of ``certificate`` on the document behind ``writer``."""
    mode = request.mode
    if mode is AppearanceMode.NONE:
        return PlannedAppearance(SigFieldSpec(field_name), None)
    page_count = int(writer.root["/Pages"]["/Count"])
    if mode is AppearanceMode.ISSUE:
        page_index, box = _seal_placement(request, writer)
    else:
        default_page = 1 if mode in (AppearanceMode.APPENDIX, AppearanceMode.COPY) else page_count
        page_index = (request.page or default_page) - 1
        if page_index >= page_count:
            raise InvalidDocument(
                f"the document has {page_count} pages; page {page_index + 1} does not exist"
            )
        box = request.box or _default_box(mode, _page_size(writer, page_index))
    x, y, width, height = box
    field = SigFieldSpec(
        field_name, on_page=page_index, box=(int(x), int(y), int(x + width), int(y + height))
    )
    return PlannedAppearance(field, _style(request, certificate, signing_time))


def appearance_style(
    request: AppearanceRequest, certificate: x509.Certificate, signing_time: dt.datetime
) -> BaseStampStyle:
    """How the signature looks in a field already on the page, whose rectangle is the box: the look asked
    for, or the text block when none was (the field shows on the page; it must not stay blank)."""
    if request.mode is AppearanceMode.NONE:
        request = replace(request, mode=AppearanceMode.TEXT)
    return _style(request, certificate, signing_time)


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


def _style(request: AppearanceRequest, certificate: x509.Certificate, moment: dt.datetime) -> BaseStampStyle:
    mode = request.mode
    if mode in (AppearanceMode.APPROVAL, AppearanceMode.ISSUE):
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
    local = moment.astimezone(VIETNAM_TIME)
    organisation = request.agency or _attribute(certificate, NameOID.ORGANIZATION_NAME)
    if mode is AppearanceMode.TEXT:
        lines = [
            f"Ký bởi: {_attribute(certificate, NameOID.COMMON_NAME)}",
            f"Email: {_email(certificate)}",
            f"Cơ quan: {organisation}",
            f"Thời gian ký: {local:%d.%m.%Y %H:%M:%S} +07:00",
        ]
    else:
        heading = request.doc_number if mode is AppearanceMode.APPENDIX else request.copy_form
        lines = [str(heading), organisation, local.isoformat(timespec="seconds")]
    text = "\n".join(lines)
    return TextStampStyle(
        stamp_text=text.replace("%", "%%"),
        text_box_style=TextBoxStyle(font=font_engine_factory(text, 10), font_size=10),
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


def _page_size(writer: IncrementalPdfFileWriter, page_index: int) -> tuple[float, float, float, float]:
    """The visible area of the page (CropBox, else MediaBox, both inheritable) as x0, y0, x1, y1."""
    page_ref, _ = writer.find_page_for_modification(page_index)  # type: ignore[no-untyped-call]
    node = page_ref.get_object()
    while node is not None:
        # Indexing (not .get) resolves references and decrypts, as encrypted files need.
        for name in ("/CropBox", "/MediaBox"):
            if name in node:
                x0, y0, x1, y1 = (float(v) for v in node[name])
                return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
        node = node["/Parent"] if "/Parent" in node else None  # noqa: SIM401 (.get would not resolve)
    return 0.0, 0.0, 595.0, 842.0  # A4, for a broken file that names no box at all


def _default_box(
    mode: AppearanceMode, page: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    _, y0, x1, y1 = page
    if mode in (AppearanceMode.APPENDIX, AppearanceMode.COPY):
        width, height = _TOP_RIGHT_BOX
        return x1 - _MARGIN - width, y1 - _MARGIN - height, width, height
    width, height = _IMAGE_BOX if mode is AppearanceMode.APPROVAL else _TEXT_BOX
    return x1 - _MARGIN - width, y0 + 2 * _MARGIN, width, height


def _seal_placement(
    request: AppearanceRequest, writer: IncrementalPdfFileWriter
) -> tuple[int, tuple[float, float, float, float]]:
    """The seal's page and box: over the left third of the official's approval signature."""
    approval = _approval_widget(writer)
    if approval is None:
        raise DocumentRefused(
            "the agency seal ('issue') goes on a document the competent official has signed "
            "('approval'); this document has no approval signature"
        )
    page_index, (x0, y0, x1, y1) = approval
    if request.box is not None:
        return (request.page - 1 if request.page else page_index), request.box
    assert request.image is not None
    diameter = _real_size(request.image)
    centre_x, centre_y = x0 + (x1 - x0) / 6, (y0 + y1) / 2
    return page_index, (centre_x - diameter / 2, centre_y - diameter / 2, diameter, diameter)


def _real_size(path: Path) -> float:
    """The seal's printed size in points from the PNG's resolution, else the usual 36 mm."""
    image = _load_png(path)
    dpi = image.info.get("dpi")
    if dpi and float(dpi[0]) > 1:
        return float(image.width) / float(dpi[0]) * 72
    return _SEAL_DIAMETER


def _approval_widget(
    writer: IncrementalPdfFileWriter,
) -> tuple[int, tuple[float, float, float, float]] | None:
    """Page index and rectangle of the last approval signature govsign put on the document."""
    found = None
    for name, value, field_ref in enumerate_sig_fields(writer, filled_status=True):
        if not name.startswith(f"{_FIELD_PREFIX}-{AppearanceMode.APPROVAL.value}-") or value is None:
            continue
        widget = field_ref.get_object()
        rect = [float(v) for v in widget["/Rect"]]
        page_ref = widget.get_value_as_reference("/P") if "/P" in widget else None
        corners = (min(rect[0], rect[2]), min(rect[1], rect[3]), max(rect[0], rect[2]), max(rect[1], rect[3]))
        found = (_page_index(writer, page_ref), corners)
    return found


def _page_index(writer: IncrementalPdfFileWriter, page_ref: Any) -> int:
    last = int(writer.root["/Pages"]["/Count"]) - 1
    if page_ref is None:
        return last
    for index in range(last + 1):
        reference, _ = writer.find_page_for_modification(index)  # type: ignore[no-untyped-call]
        if reference == page_ref:
            return index
    return last
