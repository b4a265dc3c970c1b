"""The file as qpdf sees it (through pikepdf): what is damaged in its structure, and a repaired copy.

qpdf reads files that pyHanko's parser does not (broken cross-reference tables, wrong stream lengths,
loops in the page tree) and rebuilds them; it also names the harmless quirks it meets, which are not
damage (a linearized file's stale hint tables). These checks decide whether a file may be signed as it
is, needs a rewrite first, or cannot be read at all.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pikepdf
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from signing.errors import InvalidDocument

__all__ = ["carries_signatures", "damage", "repaired_copy", "shorten"]

_PAGE_TREE_LOOP = "Loop detected in /Pages"
_INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")  # ISO 32000-2 §7.7.3.4
_SIGNATURE_MARKER = re.compile(rb"/ByteRange\s*\[")


def damage(source: Path, password: str | None) -> list[str]:
    """What qpdf finds wrong with the file's structure (cross-reference table, end marker, stream lengths);
    raises InvalidDocument when nothing can be recovered at all."""
    try:
        with pikepdf.open(source, password=password or "") as pdf, _standard_streams_kept():
            hints = _linearization_warnings(pdf)
            return [str(p) for p in pdf.check_pdf_syntax() if str(p).removeprefix("WARNING: ") not in hints]
    except pikepdf.PasswordError:
        return []  # no way to look inside without the password; _unlock says so
    except (pikepdf.PdfError, ValueError) as error:
        if _PAGE_TREE_LOOP in str(error):
            return [str(error)]  # qpdf stops at the loop; repaired_copy can drop it
        if _encryption_filter(source) not in (None, "/Standard"):
            raise InvalidDocument(
                "the PDF is encrypted for the holders of certain certificates (public-key security, "
                f"{_encryption_filter(source)}): no password opens it, and this service cannot sign it"
            ) from None
        raise InvalidDocument(f"the PDF is damaged beyond repair ({shorten(str(error))})") from None


def _linearization_warnings(pdf: pikepdf.Pdf) -> set[str]:
    """qpdf's complaints about a linearized file's hint tables and first-page section: they only speed up
    page-at-a-time loading over the web, every reader reads the file without them, and an incremental
    update ends the linearization anyway. So they are no damage (Acrobat of 2000 wrote many such files)."""
    if not pdf.is_linearized:
        return set()
    pdf.get_warnings()  # set aside what opening the file reported, which check_pdf_syntax reports itself
    with contextlib.suppress(pikepdf.PdfError):
        pdf.check_linearization(io.StringIO())
    return {str(warning) for warning in pdf.get_warnings()}


def _encryption_filter(source: Path) -> str | None:
    """The /Filter of the file's security handler (/Standard for passwords), read without decrypting."""
    with source.open("rb") as stream:
        try:
            encryption = PdfFileReader(stream, strict=False).trailer.raw_get("/Encrypt")
            return str(encryption.get_object()["/Filter"]) if encryption is not None else None
        except (PdfError, ValueError, KeyError, TypeError, AttributeError):
            return None


@contextlib.contextmanager
def _standard_streams_kept() -> Iterator[None]:
    """Put back sys.stdout and sys.stderr after a library call: pikepdf's check_linearization (which
    check_pdf_syntax runs on linearized files) leaves sys.stderr set to the buffer it reported into, and
    every later message of the process, error messages included, would vanish there."""
    stdout, stderr = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def shorten(text: str) -> str:
    """A problem as a person reads it: without the temporary file's path, at most 160 characters."""
    text = text.removeprefix("WARNING: ").strip()
    text = re.sub(r"^\S+\.pdf(?: \(([^)]*)\))?: ", lambda m: f"{m.group(1)}: " if m.group(1) else "", text)
    return text if len(text) <= 160 else text[:157] + "..."


def carries_signatures(source: Path) -> bool:
    """A cheap look for a signature dictionary in a file too damaged to parse."""
    with source.open("rb") as stream:
        return any(_SIGNATURE_MARKER.search(chunk) for chunk in iter(lambda: stream.read(1 << 20), b""))


def repaired_copy(source: Path, password: str | None, scratch: Path) -> Path:
    """qpdf's reconstruction of a damaged file, written to ``scratch`` (encryption kept as it was)."""
    target = scratch / "repaired.pdf"
    try:
        # Pushing inherited page attributes down would walk the page tree before the loop is dropped.
        with pikepdf.open(source, password=password or "", inherit_page_attributes=False) as pdf:
            _drop_page_tree_loops(pdf)
            pdf.save(target, encryption=pdf.is_encrypted)  # True keeps the original encryption
    except pikepdf.PasswordError:
        raise InvalidDocument("the PDF is damaged and encrypted; give its password to repair it") from None
    except (pikepdf.PdfError, OSError, ValueError) as error:
        raise InvalidDocument(f"the PDF is damaged beyond repair ({shorten(str(error))})") from None
    return target


def _drop_page_tree_loops(pdf: pikepdf.Pdf) -> None:
    """A page tree with a loop (a /Pages node among its own descendants) becomes one flat node holding its
    pages in reading order, each met once; qpdf itself refuses to walk such a tree. The walk keeps its own
    stack: a hostile tree can be deeper than Python's recursion allows."""
    root = pdf.Root.get("/Pages")
    if not isinstance(root, pikepdf.Dictionary):
        return
    leaves: list[tuple[pikepdf.Dictionary, dict[str, pikepdf.Object]]] = []
    seen: set[tuple[int, int]] = set()
    looped = False
    stack: list[tuple[pikepdf.Object, dict[str, pikepdf.Object]]] = [(root, {})]
    while stack:
        node, inherited = stack.pop()
        if not isinstance(node, pikepdf.Dictionary):
            continue  # null or broken kids are qpdf's to judge
        if node.objgen != (0, 0) and node.objgen in seen:
            looped = True
            continue
        seen.add(node.objgen)
        here = {**inherited, **{key: node[key] for key in _INHERITABLE if key in node}}
        kids = node.get("/Kids")
        if isinstance(kids, pikepdf.Array):
            stack.extend((kid, here) for kid in reversed(list(kids)))
        else:
            leaves.append((node, here))
    if looped:
        for leaf, inherited in leaves:
            for key, value in inherited.items():
                leaf[key] = value  # the flat node no longer carries what the leaf inherited on its way
            leaf.Parent = root
        root.Kids = pikepdf.Array([leaf for leaf, _ in leaves])
        root.Count = len(leaves)
