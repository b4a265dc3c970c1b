"""The B-LT and B-LTA updates (ETSI EN 319 142-1 §5.4, §5.5) made here when pyHanko's signer cannot:

* over a document already archived by another trust service's TSA: pyHanko's B-LTA signing first
  validates the newest document time-stamp in the file, to carry its validation data forward, and
  refuses when it cannot (a TSA whose chain or revocation data we do not have). Ours is added after it
  all the same: the signature goes in at B-LT, our document time-stamp over it, and the result says which
  earlier time-stamp could not be validated here;
* over XMP metadata pyHanko cannot rewrite (signing.documents): its signer opens a writer of its own for
  the DSS and the time-stamp, which would try to. The signature goes in at B-T, and the DSS and the
  time-stamp follow in one update by our writer, which leaves the metadata as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import BinaryIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.signers.pdf_signer import TimestampDSSContentSettings
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.dss import collect_validation_info
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from ca.status import StatusServices
from signing.trust_services import InProcessTimeStamper

__all__ = ["add_long_term_data", "unvalidated_archive"]


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


def add_long_term_data(
    stream: BinaryIO,
    services: StatusServices,
    context: ValidationContext,
    reopen: Callable[[BinaryIO], IncrementalPdfFileWriter],
    *,
    dss: bool,
    archive: bool,
) -> None:
    """Append to the signed PDF in ``stream``, in one update written by ``reopen``'s writer: the DSS with
    the newest signature's validation data (``dss``, B-LT) and our document time-stamp (``archive``,
    B-LTA) — what pyHanko's signer does itself, done here when its own writer cannot (see the module)."""
    writer = reopen(stream)
    if dss:
        signature = writer.prev.embedded_regular_signatures[-1]
        paths = asyncio.run(collect_validation_info(signature, context))
        DocumentSecurityStore.supply_dss_in_writer(writer, None, validation_context=context, paths=paths)
    if archive:
        stamper = PdfTimeStamper(InProcessTimeStamper(services))
        # The TSA's validation data goes in this update, before the time-stamp: after it, pyHanko would
        # write it with a writer of its own.
        before = TimestampDSSContentSettings(update_before_ts=True, include_vri=False)
        stamper.timestamp_pdf(writer, "sha256", context, in_place=True, dss_settings=before)
    else:
        writer.write_in_place()  # type: ignore[no-untyped-call]
