"""What changed after a signature, named so a citizen understands it: the signed revision (the bytes the
signature's /ByteRange ends at) compared with the whole file, page by page and field by field.

pyHanko's difference analysis (:mod:`pyhanko.sign.diff_analysis`) decides whether the changes are allowed
(PAdES and the document's DocMDP permissions); it explains a refusal in object numbers ("unexplained xrefs
in revision 2"). This module says what those objects are: a page added, the content of a page replaced
(its /Contents streams or an XObject it paints, compared by digest: the "shadow attack", where a form or
image XObject is swapped after signing and the signed bytes stay intact), an annotation added, a form field
filled, a signature, a document time-stamp or validation data (DSS) added.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import pikepdf

from signing.validation.report import Change, ChangeKind
from signing.validation.texts import CHANGE_SENTENCES

__all__ = ["UNREADABLE", "Snapshot", "changes_between", "snapshot"]

# What qpdf (through pikepdf) raises on a file or a revision it cannot open or walk.
UNREADABLE = (pikepdf.PikepdfError, RuntimeError, ValueError, TypeError, KeyError, IndexError, RecursionError)

# Form XObjects may paint other form XObjects; a deeper (or cyclic) nesting is not followed further.
_MAX_XOBJECT_DEPTH = 8


@dataclass(frozen=True)
class PageSnapshot:
    """What a page shows, by digest, and which annotations it carries."""

    contents: str  # digest of its /Contents streams, decoded as stored
    contents_objects: tuple[str, ...]  # their object references
    xobjects: dict[str, tuple[str, str]]  # resource name -> (digest of the XObject tree, its reference)
    annotations: dict[str, str]  # key (reference or digest) -> subtype, widgets left out


@dataclass(frozen=True)
class FieldSnapshot:
    kind: str  # "/Sig", "/Tx", "/Btn", "/Ch" ...
    value: str  # the value's serialisation ("" when empty)
    value_ref: str  # the value's reference (signatures), or ""
    timestamp: bool  # a signature field holding a document time-stamp


@dataclass(frozen=True)
class Snapshot:
    """One revision of a document, as far as the comparison needs it."""

    pages: list[PageSnapshot]
    fields: dict[str, FieldSnapshot]
    dss: str | None  # serialisation of the /DSS dictionary, or None without one
    dss_objects: tuple[str, ...] = field(default=())


def snapshot(data: bytes, password: str | None) -> Snapshot:
    """The snapshot of the PDF in ``data`` (a whole file or a signed revision: the bytes up to its %%EOF);
    raises one of :data:`UNREADABLE` on a file qpdf cannot open."""
    with pikepdf.open(io.BytesIO(data), password=password or "") as pdf:
        pages = [_page(page.obj) for page in pdf.pages]
        fields: dict[str, FieldSnapshot] = {}
        acroform = pdf.Root.get("/AcroForm")
        if isinstance(acroform, pikepdf.Dictionary):
            for top in acroform.get("/Fields", pikepdf.Array()):
                _collect_fields(top, "", None, fields, set())
        dss = pdf.Root.get("/DSS")
        return Snapshot(
            pages=pages,
            fields=fields,
            dss=None if not isinstance(dss, pikepdf.Dictionary) else _dss_contents(dss),
            dss_objects=() if dss is None else (_ref(dss),),
        )


def _dss_contents(dss: pikepdf.Dictionary) -> str:
    """The DSS and the arrays and dictionaries it points to (a writer may extend an indirect /Certs or
    /VRI in place), serialised."""
    parts = [dss.unparse(resolved=True)]
    parts += [value.unparse(resolved=True) for _, value in sorted(dss.items()) if value.is_indirect]
    return b" ".join(parts).decode("latin-1")


def changes_between(signed: Snapshot, final: Snapshot, *, form_changes_allowed: bool) -> list[Change]:
    """Every change from ``signed`` to ``final`` that this module can name, in document order.

    ``form_changes_allowed`` is pyHanko's verdict on the annotations, form filling and later signatures
    (DocMDP); pages added, removed or repainted are never allowed, validation data and document time-stamps
    always are (PAdES)."""
    found: list[Change] = []
    for number, (before, after) in enumerate(zip(signed.pages, final.pages, strict=False), start=1):
        found += _page_changes(number, before, after, form_changes_allowed)
    for number in range(len(signed.pages) + 1, len(final.pages) + 1):
        found.append(_change(ChangeKind.PAGE_ADDED, False, page=number))
    for number in range(len(final.pages) + 1, len(signed.pages) + 1):
        found.append(_change(ChangeKind.OTHER, False, page=number, sentence="page_removed"))
    for name, after_field in final.fields.items():
        before_field = signed.fields.get(name)
        if after_field.value and (before_field is None or before_field.value != after_field.value):
            found.append(_field_change(name, after_field, form_changes_allowed))
    if final.dss is not None and final.dss != signed.dss:
        found.append(_change(ChangeKind.DSS_ADDED, True, objects=list(final.dss_objects)))
    return found


def _page_changes(number: int, before: PageSnapshot, after: PageSnapshot, allowed: bool) -> list[Change]:
    changes: list[Change] = []
    replaced = [f"/Contents {', '.join(after.contents_objects)}"] if before.contents != after.contents else []
    for name, (digest, reference) in after.xobjects.items():
        previous = before.xobjects.get(name)
        if previous is None or previous[0] != digest:
            was = f" (was {previous[1]})" if previous is not None else " (new)"
            replaced.append(f"/Resources /XObject {name}: {reference}{was}")
    if replaced:
        changes.append(_change(ChangeKind.PAGE_CONTENT_REPLACED, False, page=number, objects=replaced))
    for key, subtype in after.annotations.items():
        if key not in before.annotations:
            changes.append(
                _change(ChangeKind.ANNOTATION_ADDED, allowed, page=number, objects=[f"{subtype} {key}"])
            )
    return changes


def _field_change(name: str, after: FieldSnapshot, allowed: bool) -> Change:
    if after.kind != "/Sig":
        return _change(ChangeKind.FORM_FIELD_FILLED, allowed, field=name, objects=[after.value[:200]])
    if after.timestamp:
        return _change(ChangeKind.DOCUMENT_TIMESTAMP_ADDED, True, field=name, objects=[after.value_ref])
    return _change(ChangeKind.SIGNATURE_ADDED, allowed, field=name, objects=[after.value_ref])


def _change(
    kind: ChangeKind,
    allowed: bool,
    *,
    page: int | None = None,
    field: str | None = None,
    objects: list[str] | None = None,
    sentence: str | None = None,
) -> Change:
    vi, en = CHANGE_SENTENCES[sentence or kind.value]
    return Change(
        kind=kind,
        page=page,
        field_name=field,
        allowed=allowed,
        sentence_vi=vi.format(page=page, field=field),
        sentence_en=en.format(page=page, field=field),
        objects=objects or [],
    )


# -- reading a revision ---------------------------------------------------------------------------------


def _ref(obj: pikepdf.Object) -> str:
    number, generation = obj.objgen
    return f"{number} {generation} R" if number else "direct"


def _page(page: pikepdf.Dictionary) -> PageSnapshot:
    contents = page.get("/Contents")
    streams = (
        list(contents) if isinstance(contents, pikepdf.Array) else [contents] if contents is not None else []
    )
    digest = hashlib.sha256()
    for stream in streams:
        if isinstance(stream, pikepdf.Stream):
            digest.update(hashlib.sha256(stream.read_raw_bytes()).digest())
    return PageSnapshot(
        contents=digest.hexdigest(),
        contents_objects=tuple(_ref(stream) for stream in streams),
        xobjects=_xobjects(_inherited(page, "/Resources")),
        annotations=_annotations(page.get("/Annots")),
    )


def _inherited(page: pikepdf.Dictionary, key: str) -> pikepdf.Object | None:
    """``key`` of ``page`` or, as ISO 32000-1 7.7.3.4 allows for /Resources, of the nearest page tree node
    above it that has it."""
    node: pikepdf.Object | None = page
    for _ in range(64):  # deeper page trees than this do not occur; a cyclic /Parent chain ends here
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node.get(key)
        node = node.get("/Parent")
    return None


def _xobjects(resources: pikepdf.Object | None) -> dict[str, tuple[str, str]]:
    if not isinstance(resources, pikepdf.Dictionary):
        return {}
    xobjects = resources.get("/XObject")
    if not isinstance(xobjects, pikepdf.Dictionary):
        return {}
    return {
        str(name): (_xobject_digest(xobject, 0, set()), _ref(xobject))
        for name, xobject in xobjects.items()
        if isinstance(xobject, pikepdf.Stream)
    }


def _xobject_digest(xobject: pikepdf.Stream, depth: int, seen: set[tuple[int, int]]) -> str:
    """The digest of an XObject's data and of the XObjects it paints in turn (a form's own resources)."""
    digest = hashlib.sha256(xobject.read_raw_bytes())
    if xobject.objgen in seen or depth >= _MAX_XOBJECT_DEPTH:
        return digest.hexdigest()
    seen.add(xobject.objgen)
    for name, (inner, _) in sorted(_nested_xobjects(xobject, depth, seen).items()):
        digest.update(f"{name}={inner}".encode())
    return digest.hexdigest()


def _nested_xobjects(
    xobject: pikepdf.Stream, depth: int, seen: set[tuple[int, int]]
) -> dict[str, tuple[str, str]]:
    resources = xobject.get("/Resources")
    inner = resources.get("/XObject") if isinstance(resources, pikepdf.Dictionary) else None
    if not isinstance(inner, pikepdf.Dictionary):
        return {}
    return {
        str(name): (_xobject_digest(child, depth + 1, seen), _ref(child))
        for name, child in inner.items()
        if isinstance(child, pikepdf.Stream)
    }


def _annotations(annots: pikepdf.Object | None) -> dict[str, str]:
    """A page's annotations but its widgets (those belong to form and signature fields, compared as such)."""
    if not isinstance(annots, pikepdf.Array):
        return {}
    found: dict[str, str] = {}
    for annotation in annots:
        if not isinstance(annotation, pikepdf.Dictionary):
            continue
        subtype = str(annotation.get("/Subtype", "/Annot"))
        if subtype == "/Widget":
            continue
        key = _ref(annotation)
        if key == "direct":
            key = "direct " + hashlib.sha256(annotation.unparse(resolved=True)).hexdigest()[:16]
        found[key] = subtype
    return found


def _collect_fields(
    node: pikepdf.Object,
    prefix: str,
    inherited_kind: str | None,
    into: dict[str, FieldSnapshot],
    seen: set[tuple[int, int]],
) -> None:
    """The terminal fields under ``node`` by full name (a cyclic field tree is read once)."""
    if not isinstance(node, pikepdf.Dictionary) or (node.is_indirect and node.objgen in seen):
        return
    if node.is_indirect:
        seen.add(node.objgen)
    partial = node.get("/T")
    name = (
        f"{prefix}.{partial}"
        if prefix and partial is not None
        else str(partial)
        if partial is not None
        else prefix
    )
    kind = str(node.get("/FT", inherited_kind or ""))
    kids = [kid for kid in node.get("/Kids", pikepdf.Array()) if isinstance(kid, pikepdf.Dictionary)]
    named_kids = [kid for kid in kids if "/T" in kid]
    if named_kids:
        for kid in named_kids:
            _collect_fields(kid, name, kind, into, seen)
        return
    value = node.get("/V")
    into[name] = FieldSnapshot(
        kind=kind,
        value="" if value is None else _value(value, kind),
        value_ref="" if value is None else _ref(value),
        timestamp=isinstance(value, pikepdf.Dictionary) and str(value.get("/Type", "")) == "/DocTimeStamp",
    )


def _value(value: pikepdf.Object, kind: str) -> str:
    """A field's value to compare: a signature by its reference and contents' digest, other values as
    written."""
    if kind == "/Sig" and isinstance(value, pikepdf.Dictionary):
        contents = value.get("/Contents")
        raw = bytes(contents) if isinstance(contents, pikepdf.String) else b""
        return f"{_ref(value)} {hashlib.sha256(raw).hexdigest()[:16]}"
    if isinstance(value, pikepdf.String):
        return str(value)
    return value.unparse(resolved=True).decode("latin-1")
