"""Raising a signed PDF's PAdES level after the fact (ETSI EN 319 142-1 §5.4 and §5.5).

* B-T -> B-LT: a DSS with the certificates, OCSP responses and CRLs of every signature's and
  time-stamp's chains, appended as incremental updates.
* B-LT -> B-LTA: a document time-stamp over the document and its DSS.
* B-LTA -> B-LTA (renewal): the validation data of the newest document time-stamp, then a new one, so
  that the chain of proofs outlives the TSA certificate and the algorithms (renew before either ends).

Only signatures made with our certificates are extended: their revocation data comes from our own
responder and CRLs, in-process.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext

from ca.audit import AuditEvent, record
from ca.status import StatusServices
from signing.errors import DocumentRefused, InvalidDocument
from signing.pades import Level
from signing.trust_services import InProcessTimeStamper, chain_validation_context

__all__ = ["ExtendedDocument", "extend_pdf"]

Step = Callable[[BinaryIO, BinaryIO], None]


@dataclass(frozen=True)
class ExtendedDocument:
    target: Path
    level: Level
    renewed: bool  # an existing B-LTA got a new document time-stamp


def extend_pdf(
    services: StatusServices, source: Path, target: Path, level: Level, *, actor: str
) -> ExtendedDocument:
    """Write ``source`` raised to ``level`` (B-LT or B-LTA) to ``target``, atomically, and audit it."""
    if level.rank < Level.B_LT.rank:
        raise InvalidDocument("signatures are extended to B-LT or B-LTA; B-B and B-T are made when signing")
    serials, archived = _inspect(services, source)
    context = chain_validation_context(services, serials)
    stamper = PdfTimeStamper(InProcessTimeStamper(services))
    renewed = level is Level.B_LTA and archived
    if renewed:
        steps = [_renew_archive(stamper, context)]
    else:
        steps = [_add_dss(context, index) for index in range(len(serials))]
        if level is Level.B_LTA:
            steps.append(_archive(stamper, context))
    with tempfile.TemporaryDirectory(prefix=".govsign-", dir=target.parent) as scratch:
        current = source
        for number, step in enumerate(steps):
            staged = Path(scratch) / f"step-{number}.pdf"
            with current.open("rb") as reading, staged.open("wb") as writing:
                step(reading, writing)
                writing.flush()
                os.fsync(writing.fileno())
            current = staged
        os.replace(current, target)
    event = AuditEvent(
        actor,
        "document.extend",
        f"document:{target.name}",
        details={"level": level.value, "renewed": renewed},
    )
    record(services.authority.database, services.authority.token, event)
    return ExtendedDocument(target, level, renewed)


def _inspect(services: StatusServices, source: Path) -> tuple[list[str], bool]:
    """The serials of the document's signatures (all ours, or refused) and whether it has an archive
    time-stamp already."""
    ours = {ca.certificate.subject.public_bytes() for ca in services.authority.issuing_cas()}
    with source.open("rb") as stream:
        try:
            reader = PdfFileReader(stream, strict=False)
            signatures = reader.embedded_regular_signatures
            archived = bool(reader.embedded_timestamp_signatures)
        except (PdfError, ValueError, KeyError) as error:
            raise InvalidDocument(f"the PDF cannot be read ({error})") from None
        if not signatures:
            raise DocumentRefused("the PDF carries no signature to extend")
        serials = []
        for signature in signatures:
            certificate = signature.signer_cert
            if certificate.issuer.dump() not in ours:
                raise DocumentRefused(
                    f"signature {signature.field_name} was made with a certificate of another CA "
                    f"({certificate.issuer.human_friendly}); only our own can be extended here"
                )
            serials.append(format(certificate.serial_number, "x"))
    return serials, archived


def _add_dss(context: ValidationContext, index: int) -> Step:
    def step(reading: BinaryIO, writing: BinaryIO) -> None:
        signature = PdfFileReader(reading, strict=False).embedded_regular_signatures[index]
        add_validation_info(signature, context, output=writing)

    return step


def _archive(stamper: PdfTimeStamper, context: ValidationContext) -> Step:
    def step(reading: BinaryIO, writing: BinaryIO) -> None:
        writer = IncrementalPdfFileWriter(reading, strict=False)
        stamper.timestamp_pdf(writer, "sha256", context, output=writing)

    return step


def _renew_archive(stamper: PdfTimeStamper, context: ValidationContext) -> Step:
    def step(reading: BinaryIO, writing: BinaryIO) -> None:
        reader = PdfFileReader(reading, strict=False)
        stamper.update_archival_timestamp_chain(reader, context, in_place=False, output=writing)

    return step
