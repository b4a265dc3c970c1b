"""A PAdES B-LTA signature over a document already archived by another trust service's TSA.

pyHanko's B-LTA signing first validates the newest document time-stamp in the file, to carry its
validation data forward (ETSI EN 319 142-1 §5.5), and refuses when it cannot: a time-stamp of a TSA
whose chain or revocation data we do not have. Ours is then added after it all the same: the signature
goes in at B-LT, our document time-stamp over it, and the result says which earlier time-stamp could not
be validated here.
"""

from __future__ import annotations

import asyncio
from typing import BinaryIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from ca.status import StatusServices
from signing.trust_services import InProcessTimeStamper

__all__ = ["append_archive_timestamp", "unvalidated_archive"]


def unvalidated_archive(writer: IncrementalPdfFileWriter, context: ValidationContext) -> str | None:
    """Why the newest document time-stamp already in the file cannot be validated with ``context`` (what
    pyHanko's B-LTA signing would refuse over), or None when there is none or it validates."""
    stamps = writer.prev.embedded_timestamp_signatures
    if not stamps:
        return None
    newest = stamps[-1]
    validator = CertificateValidator(
        newest.signer_cert, intermediate_certs=newest.other_embedded_certs, validation_context=context
    )
    try:
        asyncio.run(validator.async_validate_usage(set(), extended_key_usage={"time_stamping"}))  # type: ignore[no-untyped-call]
    except (PathBuildingError, PathValidationError) as error:
        return (
            f"the archive time-stamp already in the PDF (by {newest.signer_cert.subject.human_friendly}) "
            f"could not be validated here ({error}); ours was added after it"
        )
    return None


def append_archive_timestamp(
    stream: BinaryIO, services: StatusServices, context: ValidationContext, password: str | None
) -> None:
    """Our document time-stamp, with its TSA's validation data, appended to the signed PDF in ``stream``."""
    writer = IncrementalPdfFileWriter(stream, strict=False)
    if writer.prev.encrypted:
        writer.encrypt(password or "")  # type: ignore[no-untyped-call]
    PdfTimeStamper(InProcessTimeStamper(services)).timestamp_pdf(writer, "sha256", context, in_place=True)
