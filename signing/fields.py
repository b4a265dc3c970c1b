"""The signature fields of a PDF, and which of them may take a signature (ISO 32000-2 §12.7.5.5, §12.8).

Forms from other systems arrive with empty signature fields prepared for the officials who sign them
(``PDFTronApprovalSig`` and the like). Signing in such a field only fills it in, which is also the one
lawful way to sign a visible signature on a certified document: a certification with DocMDP P=2 or P=3
allows filling fields and signing, but not adding a new visible field (pyHanko's validator and govsign's
own call that a forbidden change). P=1 allows nothing, which :mod:`signing.documents` refuses on opening.

A field is locked when a signature already in the document locks it (its FieldMDP transform, or the
``/Lock`` dictionary of its field) or when the form marks it read-only: filling it would break that
signature, or go against the form. pyHanko reads the form (``enumerate_sig_fields``); this module says
what it means for the person about to sign.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt.api import AuthStatus
from pyhanko.pdf_utils.misc import FormFillingError, PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation import read_certification_data

from signing.errors import DocumentRefused, InvalidDocument

__all__ = ["DocumentFields", "FieldLock", "SignatureField", "fields_of", "read_fields", "target_field"]

_READ_ONLY = 1  # bit 1 of a field's /Ff (ISO 32000-2 Table 227)
_PERMISSIONS = {
    MDPPerm.NO_CHANGES: "P=1, no changes",
    MDPPerm.FILL_FORMS: "P=2, form filling and signing",
    MDPPerm.ANNOTATE: "P=3, form filling, signing and annotations",
}


@dataclass(frozen=True)
class FieldLock:
    """A field lock (``/Lock``, or the FieldMDP transform of a signature): which fields the signature in
    that field locks, and the DocMDP level it certifies with when the lock says so."""

    action: FieldMDPAction
    fields: tuple[str, ...]
    permission: MDPPerm | None = None

    def covers(self, name: str) -> bool:
        return FieldMDPSpec(self.action, list(self.fields)).is_locked(name)

    def describe(self) -> str:
        named = ", ".join(self.fields)
        scope = {
            FieldMDPAction.ALL: "locks every field",
            FieldMDPAction.INCLUDE: f"locks {named}",
            FieldMDPAction.EXCLUDE: f"locks every field but {named}",
        }[self.action]
        return f"{scope}; certifies {_PERMISSIONS[self.permission]}" if self.permission else scope


@dataclass(frozen=True)
class SignatureField:
    """One signature field as a person choosing where to sign needs to see it."""

    name: str  # fully qualified, parent.child
    page: int | None  # from 1; None when its widget is on no page
    rect: tuple[float, float, float, float] | None  # x0, y0, x1, y1 in points from the lower left
    signed: bool
    read_only: bool
    lock: FieldLock | None  # what signing this field locks
    locked_by: tuple[str, ...]  # signed fields whose lock covers this one

    @property
    def visible(self) -> bool:
        return self.rect is not None and self.rect[2] > self.rect[0] and self.rect[3] > self.rect[1]

    @property
    def locked(self) -> bool:
        return self.read_only or bool(self.locked_by)


@dataclass(frozen=True)
class DocumentFields:
    """Every signature field of a document and its certification level (None: not certified)."""

    fields: tuple[SignatureField, ...]
    certification: MDPPerm | None

    def named(self, name: str) -> SignatureField | None:
        return next((field for field in self.fields if field.name == name), None)

    @property
    def empty(self) -> tuple[SignatureField, ...]:
        return tuple(field for field in self.fields if not field.signed and not field.locked)

    def describe_certification(self) -> str:
        if self.certification is None:
            return "not certified"
        return f"certified with DocMDP {_PERMISSIONS[self.certification]}"


def read_fields(source: Path, *, password: str | None) -> DocumentFields:
    """The signature fields of the PDF at ``source`` (its user password opens an encrypted one)."""
    try:
        with source.open("rb") as stream:
            reader = PdfFileReader(stream, strict=False)
            if reader.encrypted and reader.decrypt(password or "").status is AuthStatus.FAILED:
                if password is None:
                    raise InvalidDocument("the PDF is encrypted; give its password to list its fields")
                raise InvalidDocument("the password does not open this PDF")
            return fields_of(reader)
    except OSError as error:
        raise InvalidDocument(f"{source.name} cannot be read: {error.strerror}") from None
    except PdfError as error:
        raise InvalidDocument(f"the file cannot be read as a PDF ({error})") from None


def fields_of(reader: PdfFileReader) -> DocumentFields:
    """The signature fields of an opened (and, if encrypted, authenticated) document; InvalidDocument
    when its form is malformed (a loop, a lock naming no action, a field that is no dictionary)."""
    try:
        return _fields_of(reader)
    except (PdfError, KeyError, TypeError, ValueError) as error:
        raise InvalidDocument(f"the PDF's form cannot be read ({type(error).__name__}: {error})") from None


def _fields_of(reader: PdfFileReader) -> DocumentFields:
    found = list(enumerate_sig_fields(reader))
    locks = [
        (name, lock)
        for name, value, reference in found
        if value is not None and (lock := _lock_of_signature(reference.get_object(), value)) is not None
    ]
    pages = _widget_pages(reader)
    fields = []
    for name, value, reference in found:
        field = reference.get_object()
        widget = _widget_reference(reference)
        fields.append(
            SignatureField(
                name=str(name),  # pyHanko's string object keeps its reader (and file) with it
                page=_page_of(widget, pages),
                rect=_rect(_dictionary(widget)),
                signed=value is not None,
                read_only=bool(int(field.get("/Ff", 0)) & _READ_ONLY),
                lock=_lock(field["/Lock"]) if "/Lock" in field else None,
                locked_by=tuple(signer for signer, lock in locks if signer != name and lock.covers(name)),
            )
        )
    certification = read_certification_data(reader)
    return DocumentFields(tuple(fields), certification.permission if certification else None)


def target_field(reader: PdfFileReader, name: str | None, *, visible: bool) -> SignatureField | None:
    """The existing empty field ``name`` to sign, or None when the signature goes in a new field; raises
    DocumentRefused when the document does not allow it, with the reason and what would work."""
    document = fields_of(reader)
    if name is None:
        if visible and document.certification in (MDPPerm.FILL_FORMS, MDPPerm.ANNOTATE):
            raise DocumentRefused(
                f"the PDF is {document.describe_certification()}: a visible signature would add a new "
                f"signature field, which that certification forbids (it would break it); {_alternatives(document)}"
            )
        return None
    field = document.named(name)
    if field is None:
        _refuse_missing(reader, name, document)
    if field.signed:
        raise DocumentRefused(f"the signature field '{name}' is already signed; {_alternatives(document)}")
    if field.locked_by:
        raise DocumentRefused(
            f"the signature field '{name}' is locked by the signature in {', '.join(field.locked_by)}: "
            "signing it would break that signature"
        )
    if field.read_only:
        raise DocumentRefused(f"the signature field '{name}' is locked: the form marks it read-only")
    if visible and not field.visible:
        raise DocumentRefused(
            f"the signature field '{name}' is invisible (it has no area on a page): it takes only an "
            "invisible signature (appearance none)"
        )
    return field


def _refuse_missing(reader: PdfFileReader, name: str, document: DocumentFields) -> NoReturn:
    try:
        next(enumerate_sig_fields(reader, with_name=name), None)
    except FormFillingError:
        raise DocumentRefused(
            f"the form field '{name}' is not a signature field; {_alternatives(document)}"
        ) from None
    raise DocumentRefused(f"the PDF has no field named '{name}'; {_alternatives(document)}")


def _alternatives(document: DocumentFields) -> str:
    empty = [field.name for field in document.empty]
    if empty:
        return f"its empty signature fields: {', '.join(empty)}"
    if document.certification is not None:
        return "it has no empty signature field, so sign it invisibly (appearance none)"
    return "it has no empty signature field; leave the field out to add a new one"


def _lock(dictionary: generic.DictionaryObject) -> FieldLock:
    spec = FieldMDPSpec.from_pdf_object(dictionary)
    permission = MDPPerm(int(dictionary["/P"])) if "/P" in dictionary else None
    return FieldLock(spec.action, tuple(str(name) for name in spec.fields or ()), permission)


def _lock_of_signature(field: generic.DictionaryObject, signature: generic.PdfObject) -> FieldLock | None:
    """What a signed field locks: its signature's FieldMDP transform, else its field's /Lock."""
    references = _dictionary(signature).get("/Reference", generic.ArrayObject())
    for reference in references:
        transform = _dictionary(reference)
        if transform.get("/TransformMethod") == "/FieldMDP":
            return _lock(transform["/TransformParams"])
    return _lock(field["/Lock"]) if "/Lock" in field else None


def _widget_reference(field: generic.IndirectObject) -> generic.IndirectObject:
    """The field's widget: the field itself when merged with it, else its one kid."""
    kids = _dictionary(field).get("/Kids")
    if isinstance(kids, generic.ArrayObject) and len(kids) == 1:
        kid = kids.raw_get(0)
        if isinstance(kid, generic.IndirectObject):
            return kid
    return field


def _rect(widget: generic.DictionaryObject) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(value) for value in widget["/Rect"])
    except (KeyError, TypeError, ValueError):
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _widget_pages(reader: PdfFileReader) -> dict[generic.Reference, int]:
    """Page number (from 1) of every page object and of every annotation listed on a page."""
    pages: dict[generic.Reference, int] = {}
    for number, page in enumerate(_page_references(reader), start=1):
        pages[page.reference] = number
        annotations = _dictionary(page).get("/Annots")
        if not isinstance(annotations, generic.ArrayObject):
            continue
        for index in range(len(annotations)):
            entry = annotations.raw_get(index)
            if isinstance(entry, generic.IndirectObject):
                pages.setdefault(entry.reference, number)
    return pages


def _page_references(reader: PdfFileReader) -> Iterator[generic.IndirectObject]:
    for index in range(int(reader.root["/Pages"]["/Count"])):
        reference, _ = reader.find_page_for_modification(index)  # type: ignore[no-untyped-call]
        yield reference


def _page_of(widget: generic.IndirectObject, pages: dict[generic.Reference, int]) -> int | None:
    """Where the widget shows: the page that lists it, else the page its /P names."""
    if widget.reference in pages:
        return pages[widget.reference]
    dictionary = _dictionary(widget)
    page = dictionary.raw_get("/P") if "/P" in dictionary else None
    return pages.get(page.reference) if isinstance(page, generic.IndirectObject) else None


def _dictionary(value: generic.PdfObject) -> generic.DictionaryObject:
    resolved = value.get_object()  # type: ignore[no-untyped-call]
    if not isinstance(resolved, generic.DictionaryObject):
        raise InvalidDocument(f"the PDF's form holds a {type(resolved).__name__} where a dictionary belongs")
    return resolved
