"""Opening what offices really send for signing, or saying clearly why it cannot be signed.

A signature is an incremental update (ISO 32000-2 §7.5.6): the original bytes stay as they are, which is
what keeps earlier signatures valid. So a readable file is never rewritten. A damaged one (broken
cross-reference table, missing end-of-file marker, wrong stream lengths) is rewritten by qpdf, through
pikepdf, only when the caller allows it and only when it carries no signature yet, since rewriting would
break every signature in it. Encryption is kept: the update is encrypted like the original.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pikepdf
from pyhanko.pdf_utils.crypt.api import AuthStatus
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import read_certification_data

from signing.errors import DocumentRefused, DocumentTooLarge, InvalidDocument

__all__ = ["OpenedDocument", "file_sha256", "open_for_signing", "strict_reader_note"]

_HEADER_WINDOW = 1024  # ISO 32000 lets readers find %PDF- within the first 1024 bytes
_SIGNATURE_MARKER = re.compile(rb"/ByteRange\s*\[")
# A user-level opener may sign when annotations/form filling (bit 6) or filling fields, signature fields
# included (bit 9), is allowed (ISO 32000-2 Table 22).
_SIGNING_PERMISSION_BITS = 32 | 256


@dataclass
class OpenedDocument:
    """A PDF ready for an incremental update, and whether it had to be rewritten first."""

    writer: IncrementalPdfFileWriter
    stream: BinaryIO
    repaired: bool

    def close(self) -> None:
        self.stream.close()


def open_for_signing(
    source: Path, *, password: str | None, repair: bool, max_bytes: int, scratch: Path
) -> OpenedDocument:
    """Open ``source`` for signing; a repaired copy, when one is needed and allowed, goes in ``scratch``.

    Raises InvalidDocument, DocumentRefused or DocumentTooLarge with a message for the sender.
    """
    size = source.stat().st_size
    if size > max_bytes:
        raise DocumentTooLarge(
            f"the PDF is {size / 2**20:.0f} MiB; this service accepts up to {max_bytes / 2**20:.0f} MiB"
        )
    with source.open("rb") as probe:
        head = probe.read(_HEADER_WINDOW)
    if b"%PDF-" not in head:
        raise InvalidDocument("this file is not a PDF (it does not start with %PDF-)")
    problems = _damage(source, password)
    if not problems:
        document = _open_incremental(source, repaired=False)
    elif _carries_signatures(source):
        # qpdf's warnings about quirks (whitespace before xref, a wrong /Size) do not stop pyHanko's
        # tolerant reader: such a file is signed as it is, an update appended, its signatures intact.
        document = _open_signed_as_it_is(source, damage=f"the PDF is damaged ({_shorten(problems[0])})")
    elif repair:
        document = _open_incremental(_repaired_copy(source, password, scratch), repaired=True)
    else:
        damage = f"the PDF is damaged ({_shorten(problems[0])})"
        raise InvalidDocument(f"{damage}; allow repair to have it rewritten before signing")
    try:
        _unlock(document.writer, password)
        _check_certification(document.writer)
    except BaseException:
        document.close()
        raise
    return document


def _open_signed_as_it_is(source: Path, *, damage: str) -> OpenedDocument:
    try:
        return _open_incremental(source, repaired=False)
    except InvalidDocument:
        raise InvalidDocument(
            f"{damage}; it carries signatures, so it cannot be rewritten without breaking them"
        ) from None


def _damage(source: Path, password: str | None) -> list[str]:
    """What qpdf finds wrong with the file's structure (cross-reference table, end marker, stream lengths);
    raises InvalidDocument when nothing can be recovered at all."""
    try:
        with pikepdf.open(source, password=password or "") as pdf, _standard_streams_kept():
            return [str(problem) for problem in pdf.check_pdf_syntax()]
    except pikepdf.PasswordError:
        return []  # no way to look inside without the password; _unlock says so
    except (pikepdf.PdfError, ValueError) as error:
        raise InvalidDocument(f"the PDF is damaged beyond repair ({_shorten(str(error))})") from None


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


def _open_incremental(source: Path, *, repaired: bool) -> OpenedDocument:
    stream = source.open("rb")
    try:
        writer = IncrementalPdfFileWriter(stream, strict=False)
        writer.root  # noqa: B018  (resolving the catalogue finds a broken cross-reference table now)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as error:
        stream.close()
        detail = f"{type(error).__name__}: {_shorten(str(error))}"
        if repaired:
            raise InvalidDocument(f"the PDF is damaged beyond repair ({detail})") from None
        raise InvalidDocument(f"the PDF's structure cannot be read ({detail})") from None
    return OpenedDocument(writer, stream, repaired)


def _shorten(text: str) -> str:
    """A problem as a person reads it: without the temporary file's path, at most 160 characters."""
    text = text.removeprefix("WARNING: ").strip()
    text = re.sub(r"^\S+\.pdf(?: \(([^)]*)\))?: ", lambda m: f"{m.group(1)}: " if m.group(1) else "", text)
    return text if len(text) <= 160 else text[:157] + "..."


def _carries_signatures(source: Path) -> bool:
    """A cheap look for a signature dictionary in a file too damaged to parse."""
    with source.open("rb") as stream:
        return any(_SIGNATURE_MARKER.search(chunk) for chunk in iter(lambda: stream.read(1 << 20), b""))


def _repaired_copy(source: Path, password: str | None, scratch: Path) -> Path:
    """qpdf's reconstruction of a damaged file, written to ``scratch`` (encryption kept as it was)."""
    target = scratch / "repaired.pdf"
    try:
        with pikepdf.open(source, password=password or "") as pdf:
            pdf.save(target, encryption=pdf.is_encrypted)  # True keeps the original encryption
    except pikepdf.PasswordError:
        raise InvalidDocument("the PDF is damaged and encrypted; give its password to repair it") from None
    except (pikepdf.PdfError, OSError, ValueError) as error:
        raise InvalidDocument(f"the PDF is damaged beyond repair ({_shorten(str(error))})") from None
    return target


def _unlock(writer: IncrementalPdfFileWriter, password: str | None) -> None:
    """Authenticate to an encrypted file; with no password, try the empty user password (owner-only)."""
    if not writer.prev.encrypted:
        return
    try:
        result = writer.encrypt(password or "")  # type: ignore[no-untyped-call]
    except PdfError as error:
        raise InvalidDocument(f"the PDF's encryption cannot be opened ({_shorten(str(error))})") from None
    if result.status is AuthStatus.FAILED:
        if password is None:
            raise InvalidDocument("the PDF is encrypted; give its password to sign it")
        raise InvalidDocument("the password does not open this PDF")
    granted = result.permission_flags
    if (
        result.status is AuthStatus.USER
        and granted is not None
        and not granted.value & _SIGNING_PERMISSION_BITS
    ):
        raise DocumentRefused("the PDF's permissions forbid adding signatures (form filling and annotations)")


def _check_certification(writer: IncrementalPdfFileWriter) -> None:
    certification = read_certification_data(writer.prev)
    if certification is not None and certification.permission is MDPPerm.NO_CHANGES:
        raise DocumentRefused(
            "the PDF is certified with DocMDP P=1 (no changes allowed): a new signature would invalidate it"
        )


def strict_reader_note(signed: Path, password: str | None) -> str | None:
    """Why pyHanko's strict reader (what a strict validator uses) would not accept ``signed``, or None.

    Poppler, Adobe Reader and pyHanko's tolerant mode read such a file and its signatures; the note lets
    the sender know that a strict validator may not.
    """
    with signed.open("rb") as stream:
        try:
            reader = PdfFileReader(stream, strict=True)
            if reader.encrypted:
                reader.decrypt(password or "")
            reader.root  # noqa: B018  (the catalogue resolves, or the reader says why not)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as error:
            return f"pyHanko's strict reader cannot read the signed PDF ({_shorten(str(error))})"
        if reader.xrefs.hybrid_xrefs_present:
            return (
                "the PDF is a hybrid-reference file (a cross-reference table and a cross-reference stream): "
                "pyHanko's strict validation refuses to validate its signatures"
            )
    return None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (scanned PDFs run to hundreds of megabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
