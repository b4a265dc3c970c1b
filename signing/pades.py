"""PAdES baseline signatures (ETSI EN 319 142-1) with keys in the HSM: B-B, B-T, B-LT and B-LTA.

pyHanko does the PDF and CMS work; this module decides what goes in: SubFilter ETSI.CAdES.detached with
the signing-certificate-v2 attribute and no CMS signing-time (the time goes in /M), the whole chain in
the CMS, a signature time-stamp from our TSA from B-T up, a DSS holding the certificates, OCSP responses
and CRLs of every chain (the TSA's too) from B-LT up, and a document time-stamp over it for B-LTA.

The document is changed by incremental update only and the output is written atomically: a temporary
file beside the target, flushed to disk, then renamed, so a failure leaves the target as it was.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.sign import fields as pdf_fields
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko_certvalidator.errors import PathValidationError, ValidationError

from ca.audit import AuditEvent, record
from ca.signing_keys import SubscriberKey
from ca.status import StatusServices
from ca.store import utc_now
from signing.appearance import (
    AppearanceMode,
    AppearanceRequest,
    appearance_style,
    existing_field_names,
    field_name_for,
    plan_appearance,
)
from signing.archive import add_long_term_data, unvalidated_archive
from signing.cms_signer import HsmSigner, signature_algorithm_for
from signing.documents import (
    OpenedDocument,
    file_sha256,
    open_for_signing,
    strict_reader_note,
    writer_after_signing,
)
from signing.errors import DocumentRefused, InvalidDocument, SigningError
from signing.fields import target_field
from signing.library_errors import LIBRARY_ERRORS, refusal_for
from signing.output_files import write_atomically
from signing.time_limit import within_time_limit
from signing.trust_services import InProcessTimeStamper, validation_context

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIME_LIMIT_SECONDS",
    "Certification",
    "Level",
    "SignedDocument",
    "SigningOptions",
    "sign_pdf",
    "sign_pdf_unrecorded",
]

DEFAULT_MAX_BYTES = 512 * 2**20
DEFAULT_TIME_LIMIT_SECONDS = 60.0
_SIGNATURE_AND_ATTRIBUTES = 2048  # an RSA-4096 signature, signed attributes and CMS framing, rounded up
_TIMESTAMP_TOKEN_WITHOUT_CERTIFICATE = 2048
_CMS_FRAMING = 512  # SignedData, SignerInfo and attribute headers, digest and signature algorithm fields
_PAYLOAD_TOO_LARGE = re.compile(r"larger than expected.*required (\d+) bytes", re.DOTALL)


class Level(StrEnum):
    """PAdES baseline levels, lowest first."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


class Certification(StrEnum):
    """DocMDP permissions of a certification signature (ISO 32000-2 §12.8.2.2)."""

    NO_CHANGES = "1"
    FORM_FILLING = "2"
    ANNOTATIONS = "3"


@dataclass(frozen=True)
class SigningOptions:
    level: Level = Level.B_T
    appearance: AppearanceRequest = field(default_factory=AppearanceRequest)
    pss: bool = False  # RSA keys: RSASSA-PSS instead of PKCS#1 v1.5
    certify: Certification | None = None
    password: str | None = None
    repair: bool = False
    reason: str | None = None
    location: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    time_limit_seconds: float = DEFAULT_TIME_LIMIT_SECONDS  # opening and signing one document, at most
    field: str | None = None  # an existing empty signature field to sign in; None: a new field

    def __post_init__(self) -> None:
        if self.field is not None and (self.appearance.box is not None or self.appearance.page is not None):
            raise InvalidDocument(
                f"a signature in the field '{self.field}' takes that field's page and rectangle; "
                "give no page or box with it"
            )


@dataclass(frozen=True)
class SignedDocument:
    """What was signed, for the caller and the audit log."""

    target: Path
    serial: str
    field_name: str
    level: Level
    appearance: AppearanceMode
    repaired: bool
    source_sha256: str
    signed_sha256: str
    strict_reader_note: str | None = None  # why a strict reader would not accept the output, if it would not
    archive_note: str | None = None  # an earlier archive time-stamp that could not be validated here

    def audit_event(self, actor: str) -> AuditEvent:
        """The ``document.sign`` entry that vouches for this output: its hashes, before and after."""
        details: dict[str, Any] = {
            "source_sha256": self.source_sha256,
            "signed_sha256": self.signed_sha256,
            "level": self.level.value,
            "field": self.field_name,
            "appearance": self.appearance.value,
            "repaired": self.repaired,
        }
        return AuditEvent(
            actor=actor, action="document.sign", object=f"certificate:{self.serial}", details=details
        )


def sign_pdf(
    services: StatusServices,
    key: SubscriberKey,
    source: Path,
    target: Path,
    options: SigningOptions,
    *,
    actor: str,
) -> SignedDocument:
    """Sign ``source`` into ``target`` with ``key`` at ``options.level``; audit the signature.

    Raises :class:`~signing.errors.SigningError` subclasses for documents that cannot be signed (nothing
    is written), and ``ca`` errors for the HSM or the certificate.
    """
    signed = sign_pdf_unrecorded(services, key, source, target, options)
    record(services.authority.database, services.authority.token, signed.audit_event(actor))
    return signed


def sign_pdf_unrecorded(
    services: StatusServices, key: SubscriberKey, source: Path, target: Path, options: SigningOptions
) -> SignedDocument:
    """:func:`sign_pdf` without its audit entry, for a caller that appends ``signed.audit_event(actor)``
    itself, in the transaction that reports the document signed: a batch records many documents in one
    commit (one lock of the audit head, one move of its HSM anchor) instead of one commit each. Until
    that commit the output must not be handed to anyone; if it never comes, the output must go.
    """
    with tempfile.TemporaryDirectory(prefix=".govsign-", dir=target.parent) as scratch:
        # Read once into a private copy: what is hashed (and approved) is what is signed, even if
        # someone rewrites the file in its own folder meanwhile.
        source = _private_copy(source, Path(scratch))
        source_digest = file_sha256(source)
        if key.document_sha256 is not None and key.document_sha256.hex() != source_digest:
            raise SigningError("the holder approved another document than this one; nothing was signed")
        document, field_name = within_time_limit(
            options.time_limit_seconds,
            partial(_open_and_sign, services, key, source, target, options, Path(scratch)),
        )
    return SignedDocument(
        target=target,
        serial=key.serial,
        field_name=field_name,
        level=options.level,
        appearance=options.appearance.mode,
        repaired=document.repaired,
        source_sha256=source_digest,
        signed_sha256=file_sha256(target),
        strict_reader_note=strict_reader_note(target, options.password),
        archive_note=document.archive_note,
    )


def _open_and_sign(
    services: StatusServices,
    key: SubscriberKey,
    source: Path,
    target: Path,
    options: SigningOptions,
    scratch: Path,
) -> tuple[OpenedDocument, str]:
    try:
        document = open_for_signing(
            source,
            password=options.password,
            repair=options.repair,
            max_bytes=options.max_bytes,
            scratch=scratch,
        )
    except LIBRARY_ERRORS as error:
        raise refusal_for(error, encrypted=False) from None
    try:
        if options.level is Level.B_LTA:
            document.archive_note = unvalidated_archive(document.writer, validation_context(services, key))
        return document, _sign_into(services, key, document, target, options, source, scratch)
    except LIBRARY_ERRORS as error:
        raise refusal_for(error, encrypted=document.writer.prev.encrypted) from None
    finally:
        document.close()


def _sign_into(
    services: StatusServices,
    key: SubscriberKey,
    document: OpenedDocument,
    target: Path,
    options: SigningOptions,
    source: Path,
    scratch: Path,
) -> str:
    """Run pyHanko once, or twice when the signature turned out larger than the room reserved for it."""
    visible = options.appearance.mode is not AppearanceMode.NONE
    existing = target_field(document.writer.prev, options.field, visible=visible)
    field_name = (
        existing.name
        if existing is not None
        else field_name_for(options.appearance.mode, key.serial, existing_field_names(document.writer))
    )
    sign = partial(_run_pyhanko, services, key, options=options, field_name=field_name)
    try:
        write_atomically(target, partial(sign, document))
    except _ReserveMore as needed:
        reserved = needed.size
    else:
        return field_name
    reopened = open_for_signing(
        source, password=options.password, repair=options.repair, max_bytes=options.max_bytes, scratch=scratch
    )
    reopened.archive_note = document.archive_note
    try:
        write_atomically(target, partial(sign, reopened, bytes_reserved=reserved))
    finally:
        reopened.close()
    return field_name


def _private_copy(source: Path, scratch: Path) -> Path:
    copy = scratch / "source.pdf"
    try:
        shutil.copyfile(source, copy)
    except OSError as error:
        raise InvalidDocument(f"{source.name} cannot be read: {error.strerror}") from None
    return copy


class _ReserveMore(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _run_pyhanko(
    services: StatusServices,
    key: SubscriberKey,
    document: OpenedDocument,
    output: BinaryIO,
    *,
    options: SigningOptions,
    field_name: str,
    bytes_reserved: int | None = None,
) -> None:
    level = options.level
    # What pyHanko's signer cannot do for this file is done by signing.archive (see there why).
    long_term_ourselves = level.rank >= Level.B_LT.rank and document.writer.needs_own_updates
    archive_ourselves = level is Level.B_LTA and (long_term_ourselves or document.archive_note is not None)
    if options.field is None:
        plan = plan_appearance(
            options.appearance,
            document.writer,
            key.certificate,
            utc_now(),
            field_name,
            password=options.password,
        )
        style, new_field = plan.style, plan.field
    else:
        style, new_field = appearance_style(options.appearance, key.certificate, utc_now()), None
    metadata = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=pdf_fields.SigSeedSubFilter.PADES,
        embed_validation_info=level.rank >= Level.B_LT.rank and not long_term_ourselves,
        use_pades_lta=level is Level.B_LTA and not archive_ourselves,
        validation_context=validation_context(services, key) if level.rank >= Level.B_LT.rank else None,
        certify=options.certify is not None,
        docmdp_permissions=pdf_fields.MDPPerm(int(options.certify or Certification.FORM_FILLING)),
        name=_common_name(key),
        reason=options.reason,
        location=options.location,
    )
    reserved = bytes_reserved or _reservation(key, level, services)

    def fits(signed_part: int) -> None:
        needed = 2 * (_carried(key, level, services) + signed_part + _CMS_FRAMING)
        if needed > reserved:
            raise _ReserveMore(_with_spare(needed))

    signer = PdfSigner(
        metadata,
        signer=HsmSigner(key, signature_algorithm_for(key, pss=options.pss), before_signing=fits),
        timestamper=InProcessTimeStamper(services) if level.rank >= Level.B_T.rank else None,
        stamp_style=style,
        new_field_spec=new_field,
    )
    try:
        signer.sign_pdf(
            document.writer,
            existing_fields_only=options.field is not None,
            bytes_reserved=reserved,
            output=output,
        )
        if long_term_ourselves or archive_ourselves:
            reopen = partial(writer_after_signing, document=document, password=options.password)
            context = metadata.validation_context
            assert context is not None
            add_long_term_data(
                output, services, context, reopen, dss=long_term_ourselves, archive=archive_ourselves
            )
    except PyhankoSigningError as error:
        needed = _PAYLOAD_TOO_LARGE.search(str(error))
        if needed and bytes_reserved is None:
            raise _ReserveMore(_with_spare(int(needed.group(1)))) from None
        raise DocumentRefused(f"pyHanko refused to sign: {error}") from None
    except (PathValidationError, ValidationError) as error:
        raise SigningError(f"the signer's certificate chain does not validate: {error}") from None


def _reservation(key: SubscriberKey, level: Level, services: StatusServices) -> int:
    """Room for the CMS in /Contents, in hex digits: the certificates it carries, the signature, the signed
    attributes and, from B-T, the TSA's token with its certificate; with a quarter to spare.

    Giving pyHanko the size spares it a dry-run CMS per signature, which cost as much as the real one (and,
    from B-T, a dummy time-stamp). A signature that would outgrow it is made again at its real size: the
    signer measures it before the HSM signs (see ``fits`` in :func:`_run_pyhanko`).
    """
    return _with_spare(2 * (_carried(key, level, services) + _SIGNATURE_AND_ATTRIBUTES))


def _carried(key: SubscriberKey, level: Level, services: StatusServices) -> int:
    """Bytes of the CMS besides the signed attributes and their signature: the chain, and from B-T the TSA's
    token with its certificate."""
    size = sum(len(certificate.public_bytes(Encoding.DER)) for certificate in (key.certificate, *key.chain))
    if level.rank >= Level.B_T.rank:
        size += len(services.tsa_certificate().dump()) + _TIMESTAMP_TOKEN_WITHOUT_CERTIFICATE
    return size


def _with_spare(hex_digits: int) -> int:
    """``hex_digits`` with a quarter to spare, rounded up to whole bytes: pyHanko refuses an odd count."""
    padded = hex_digits + hex_digits // 4
    return padded + padded % 2


def _common_name(key: SubscriberKey) -> str:
    names = key.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else key.serial
