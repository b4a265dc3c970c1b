"""What changed between a signed revision and the final file, named without signing anything: two revisions
of a small form made with pikepdf, compared by :mod:`signing.validation.changes` (the signed cases, with
pyHanko's verdict alongside, are in test_validation_verdicts.py)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pikepdf
import pytest

from signing.validation import ChangeKind
from signing.validation.changes import changes_between, snapshot
from tests.validation_forgeries import field_widget

pytestmark = pytest.mark.pure


def _form(fill: Callable[[pikepdf.Pdf], None] | None = None, pages: int = 2) -> bytes:
    """A document of ``pages`` pages with a text field "ho_ten" and an empty signature field "ky" on page 1,
    changed by ``fill``."""
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    text = field_widget(pdf, pikepdf.Name.Tx, "ho_ten", [72, 700, 300, 720])
    signature = field_widget(pdf, pikepdf.Name.Sig, "ky", [0, 0, 0, 0])
    pdf.pages[0].obj.Annots = pikepdf.Array([text, signature])
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([text, signature]))
    if fill is not None:
        fill(pdf)
    written = io.BytesIO()
    pdf.save(written, static_id=True)
    return written.getvalue()


def _filled(pdf: pikepdf.Pdf) -> None:
    pdf.Root.AcroForm.Fields[0].V = pikepdf.String("Nguyễn Văn Ánh")


def _signed_and_stamped(pdf: pikepdf.Pdf) -> None:
    pdf.Root.AcroForm.Fields[1].V = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Sig, Contents=pikepdf.String(b"\x30\x03\x02\x01\x01"))
    )
    pdf.Root.DSS = pikepdf.Dictionary(Certs=pikepdf.Array())


def _stamped(pdf: pikepdf.Pdf) -> None:
    pdf.Root.AcroForm.Fields[1].V = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.DocTimeStamp, Contents=pikepdf.String(b"\x30\x00"))
    )


def test_a_filled_form_field_is_named_by_its_field_and_judged_as_docmdp_allows() -> None:
    changes = changes_between(
        snapshot(_form(), None), snapshot(_form(_filled), None), form_changes_allowed=True
    )
    assert [(c.kind, c.field_name, c.allowed) for c in changes] == [
        (ChangeKind.FORM_FIELD_FILLED, "ho_ten", True)
    ]
    assert changes[0].sentence_vi == "Trường biểu mẫu “ho_ten” được điền sau khi ký"
    assert changes[0].objects == ["Nguyễn Văn Ánh"]
    refused = changes_between(
        snapshot(_form(), None), snapshot(_form(_filled), None), form_changes_allowed=False
    )
    assert [c.allowed for c in refused] == [False]


def test_a_later_signature_and_its_dss_and_a_document_time_stamp_are_named() -> None:
    signed = changes_between(
        snapshot(_form(), None), snapshot(_form(_signed_and_stamped), None), form_changes_allowed=True
    )
    assert [(c.kind, c.field_name) for c in signed] == [
        (ChangeKind.SIGNATURE_ADDED, "ky"),
        (ChangeKind.DSS_ADDED, None),
    ]
    assert signed[1].sentence_en == "Validation data (DSS) added after signing" and signed[1].allowed
    stamped = changes_between(
        snapshot(_form(), None), snapshot(_form(_stamped), None), form_changes_allowed=False
    )
    assert [(c.kind, c.allowed) for c in stamped] == [(ChangeKind.DOCUMENT_TIMESTAMP_ADDED, True)]


def test_pages_added_or_removed_are_never_allowed() -> None:
    two, three = snapshot(_form(pages=2), None), snapshot(_form(pages=3), None)
    added = changes_between(two, three, form_changes_allowed=True)
    assert [(c.kind, c.page, c.allowed, c.sentence_vi) for c in added] == [
        (ChangeKind.PAGE_ADDED, 3, False, "Trang 3 được thêm sau khi ký")
    ]
    removed = changes_between(three, two, form_changes_allowed=True)
    assert [(c.kind, c.page, c.sentence_en) for c in removed] == [
        (ChangeKind.OTHER, 3, "Page 3 was removed after signing")
    ]
    assert changes_between(two, two, form_changes_allowed=True) == []


def _inheriting(amount: bytes) -> bytes:
    """Two pages that inherit their resources from the page tree (ISO 32000-1, 7.7.3.4): an XObject that
    both paint, showing ``amount``."""
    pdf = pikepdf.new()
    for _ in range(2):
        pdf.pages.append(
            pikepdf.Page(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Page,
                    MediaBox=[0, 0, 595, 842],
                    Contents=pdf.make_stream(b"/So_tien Do"),
                )
            )
        )
    amount_form = pdf.make_stream(
        amount, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form, BBox=[0, 0, 9, 9]
    )
    pdf.Root.Pages.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(So_tien=amount_form))
    written = io.BytesIO()
    pdf.save(written, static_id=True)
    return written.getvalue()


def test_an_xobject_swapped_in_inherited_resources_replaces_the_content_of_every_page_using_it() -> None:
    before, after = (
        snapshot(_inheriting(b"(10.000.000) Tj"), None),
        snapshot(_inheriting(b"(990.000.000) Tj"), None),
    )
    changes = changes_between(before, after, form_changes_allowed=True)
    assert [(c.kind, c.page, c.allowed) for c in changes] == [
        (ChangeKind.PAGE_CONTENT_REPLACED, 1, False),
        (ChangeKind.PAGE_CONTENT_REPLACED, 2, False),
    ]
    assert changes[0].objects[0].startswith("/Resources /XObject /So_tien")
