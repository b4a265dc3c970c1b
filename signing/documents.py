"""Opening what offices really send for signing, or saying clearly why it cannot be signed.

A signature is an incremental update (ISO 32000-2 §7.5.6): the original bytes stay as they are, which is
what keeps earlier signatures valid. So a readable file is never rewritten. A damaged one (broken
cross-reference table, missing end-of-file marker, wrong stream lengths) is rewritten by qpdf, through
pikepdf, only when the caller allows it and only when it carries no signature yet, since rewriting would
break every signature in it; a signed file whose only faults are quirks pyHanko's tolerant reader gets past
(whitespace before a cross-reference table) is signed as it is. Encryption is kept: the update is
encrypted like the original. What qpdf finds is in :mod:`signing.pdf_structure`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyhanko.pdf_utils.crypt.api import AuthResult, AuthStatus
from pyhanko.pdf_utils.crypt.standard import StandardSecurityHandler
from pyhanko.pdf_utils.generic import DictionaryObject, IndirectObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.info import update_info_dict
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import read_certification_data

from signing.aes256_revision5 import authenticate_revision_5, decrypt
from signing.errors import DocumentRefused, DocumentTooLarge, InvalidDocument
from signing.pdf_structure import carries_signatures, damage, repaired_copy, shorten

__all__ = ["OpenedDocument", "file_sha256", "open_for_signing", "strict_reader_note", "writer_after_signing"]

_HEADER_WINDOW = 1024  # ISO 32000 lets readers find %PDF- within the first 1024 bytes
_AES256_REVISION_5 = 5  # Acrobat 9's, which pyHanko does not open: signing.aes256_revision5
# A user-level opener may sign when annotations/form filling (bit 6) or filling fields, signature fields
# included (bit 9), is allowed (ISO 32000-2 Table 22).
_SIGNING_PERMISSION_BITS = 32 | 256


@dataclass
class OpenedDocument:
    """A PDF ready for an incremental update, and whether it had to be rewritten first."""

    writer: _SigningWriter
    stream: BinaryIO
    repaired: bool
    archive_note: str | None = None  # an earlier archive time-stamp we cannot validate (signing.archive)

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
    problems = damage(source, password)
    found = f"the PDF is damaged ({shorten(problems[0])})" if problems else ""
    if not problems:
        document = _open_incremental(source, repaired=False)
    elif carries_signatures(source):
        # qpdf's warnings about quirks (whitespace before xref, a wrong /Size) do not stop pyHanko's
        # tolerant reader: such a file is signed as it is, an update appended, its signatures intact.
        document = _open_signed_as_it_is(source, found)
    elif repair:
        document = _open_incremental(repaired_copy(source, password, scratch), repaired=True)
    else:
        raise InvalidDocument(f"{found}; allow repair to have it rewritten before signing")
    try:
        _unlock(document.writer, password)
        _check_certification(document.writer)
        document.writer.xmp_problem = _xmp_problem(document.writer)
    except BaseException:
        document.close()
        raise
    return document


def _open_signed_as_it_is(source: Path, found: str) -> OpenedDocument:
    try:
        return _open_incremental(source, repaired=False)
    except InvalidDocument:
        raise InvalidDocument(
            f"{found}; it carries signatures, so it cannot be rewritten without breaking them"
        ) from None


class _SigningWriter(IncrementalPdfFileWriter):
    """pyHanko's incremental writer, told to leave an XMP metadata stream it cannot rewrite faithfully as it
    is: one kept in clear text in an encrypted file (/EncryptMetadata false, without the /Identity crypt
    filter pyHanko expects: it would "decrypt" the clear text and fail), or one whose XML it cannot parse.
    The document information dictionary still gets its modification date."""

    xmp_problem: str | None = None  # why the XMP metadata is left as it is, when it is

    @property
    def needs_own_updates(self) -> bool:
        """Whether updates after the signature (DSS, archive time-stamp) must be written by this writer, not
        by pyHanko's own: it would rewrite the metadata, or not open revision 5 encryption."""
        return self.xmp_problem is not None or _standard_revision(self) == _AES256_REVISION_5

    def encrypt(self, user_pwd: str | bytes) -> AuthResult:
        """Authenticate like pyHanko, then make a direct /Encrypt dictionary (which older writers put in
        the trailer itself) an indirect object of the update: pyHanko's writer expects one."""
        handler = self.prev.security_handler
        if isinstance(handler, StandardSecurityHandler) and _standard_revision(self) == _AES256_REVISION_5:
            result = authenticate_revision_5(handler, user_pwd)
            self._encrypt = self.prev.trailer.raw_get("/Encrypt")
        else:
            result = super().encrypt(user_pwd)  # type: ignore[no-untyped-call]
        if isinstance(self._encrypt, DictionaryObject):
            self._encrypt = self.add_object(self._encrypt)
        return result

    def _update_meta(self) -> None:
        if self.xmp_problem is None:
            super()._update_meta()  # type: ignore[no-untyped-call]
            return
        self._meta.last_modified = "now"
        info = self._info
        if isinstance(info, IndirectObject) and update_info_dict(
            self._meta,
            info.get_object(),  # type: ignore[no-untyped-call]
            only_update_existing=True,
        ):
            self.mark_update(info)


def _xmp_problem(writer: IncrementalPdfFileWriter) -> str | None:
    """Why pyHanko could not read, update and write back the document's XMP metadata, or None."""
    if "/Metadata" not in writer.root:
        return None
    handler = writer.security_handler
    if handler is not None and not handler.encrypt_metadata:
        return "the PDF keeps its XMP metadata in clear text inside an encrypted file"
    try:
        metadata = writer.root["/Metadata"]
        if isinstance(metadata, MetadataStream):
            metadata.xmp  # noqa: B018  (parses the XML, as pyHanko's update will)
    except (PdfError, ValueError, KeyError, TypeError) as error:  # XmpXmlProcessingError is a ValueError
        return f"the PDF's XMP metadata cannot be read ({shorten(str(error))})"
    return None


def _open_incremental(source: Path, *, repaired: bool) -> OpenedDocument:
    stream = source.open("rb")
    try:
        writer = _SigningWriter(stream, strict=False)
        writer.root  # noqa: B018  (resolving the catalogue finds a broken cross-reference table now)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as error:
        stream.close()
        detail = f"{type(error).__name__}: {shorten(str(error))}"
        if repaired:
            raise InvalidDocument(f"the PDF is damaged beyond repair ({detail})") from None
        raise InvalidDocument(f"the PDF's structure cannot be read ({detail})") from None
    return OpenedDocument(writer, stream, repaired)


def _unlock(writer: _SigningWriter, password: str | None) -> None:
    """Authenticate to an encrypted file; with no password, try the empty user password (owner-only)."""
    if not writer.prev.encrypted:
        return
    try:
        result = writer.encrypt(password or "")
    except PdfError as error:
        raise InvalidDocument(f"the PDF's encryption cannot be opened ({shorten(str(error))})") from None
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


def _standard_revision(writer: IncrementalPdfFileWriter) -> int | None:
    if not writer.prev.encrypted:
        return None
    encryption = writer.prev.trailer["/Encrypt"]
    revision = encryption.get("/R") if encryption.get("/Filter") == "/Standard" else None
    return int(revision) if isinstance(revision, int) else None


def writer_after_signing(stream: BinaryIO, document: OpenedDocument, password: str | None) -> _SigningWriter:
    """A writer for a further update of the signed output in ``stream``, unlocked with ``password`` and
    treating the XMP metadata as the signature's update did."""
    writer = _SigningWriter(stream, strict=False)
    writer.xmp_problem = document.writer.xmp_problem
    if writer.prev.encrypted:
        writer.encrypt(password or "")
    return writer


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
                decrypt(reader, password)
            reader.root  # noqa: B018  (the catalogue resolves, or the reader says why not)
        except (PdfError, ValueError, KeyError, TypeError, IndexError) as error:
            return f"pyHanko's strict reader cannot read the signed PDF ({shorten(str(error))})"
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
