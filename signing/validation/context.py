"""What a signature is validated against: the trust store, the revocation data the document carries,
and pyhanko-certvalidator's validation contexts, which fetch the rest only through
:mod:`signing.fetch_policy`.

Revocation data is required for every certificate below a trust anchor, as EU DSS's default validation
policy requires it: a certificate that names no CRL or OCSP responder, and whose document carries none
for it, cannot be shown not to be revoked, so its signature is INDETERMINATE / TRY_LATER rather than
TOTAL_PASSED (anchors themselves need none).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from asn1crypto import crl, ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError, ValidationError
from pyhanko_certvalidator.fetchers.api import FetcherBackend
from pyhanko_certvalidator.validate import async_validate_path

from signing.fetch_policy import FetchPolicy, guarded_fetcher_backend

__all__ = ["MALFORMED", "Contexts", "Embedded", "TrustAnchor", "TrustStore"]

# What a malformed PDF or CMS structure raises from deep inside pyHanko and asn1crypto (RecursionError:
# objects nested thousands deep, which pyHanko's recursive parser cannot descend).
MALFORMED = (
    PdfError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    LookupError,
    RecursionError,
)


@dataclass(frozen=True)
class TrustAnchor:
    """A certificate that ends paths, trusted only for signatures made inside its window (when set)."""

    name: str
    certificate: asn1_x509.Certificate
    trusted_from: dt.datetime | None = None
    trusted_until: dt.datetime | None = None

    def trusted_at(self, moment: dt.datetime) -> bool:
        return (self.trusted_from is None or self.trusted_from <= moment) and (
            self.trusted_until is None or moment < self.trusted_until
        )


@dataclass(frozen=True)
class TrustStore:
    """Roots a verifier trusts (ours by default, other CAs added by name) and intermediates that help
    build paths for leaf-only signatures."""

    anchors: tuple[TrustAnchor, ...]
    intermediates: tuple[asn1_x509.Certificate, ...] = ()

    def roots_at(self, moment: dt.datetime | None) -> list[asn1_x509.Certificate]:
        """The anchors' certificates trusted at ``moment`` (now when None)."""
        when = moment or dt.datetime.now(dt.UTC)
        return [anchor.certificate for anchor in self.anchors if anchor.trusted_at(when)]

    def anchor_name(self, certificate: asn1_x509.Certificate | None) -> str | None:
        for anchor in self.anchors:
            if certificate is not None and anchor.certificate.dump() == certificate.dump():
                return anchor.name
        return None


@dataclass(frozen=True)
class Embedded:
    """What the document itself carries for validation: the DSS's certificates, OCSP responses and CRLs."""

    certificates: list[asn1_x509.Certificate]
    ocsps: list[Any]
    crls: list[Any]
    vri: frozenset[str] = frozenset()  # the signatures with a VRI entry, by their PAdES key (SHA-1, hex)

    @classmethod
    def of(cls, handler: PdfHandler) -> Embedded:
        """What ``handler``'s DSS holds (a reader: the whole file; a historical resolver: one revision)."""
        try:
            dss = DocumentSecurityStore.read_dss(handler)
            return cls(
                certificates=list(dss.load_certs()),
                ocsps=[_load(ocsp.OCSPResponse, ref, DecodePurpose.OCSP_RESPONSE) for ref in dss.ocsps],
                crls=[_load(crl.CertificateList, ref, DecodePurpose.CRL) for ref in dss.crls],
                vri=frozenset(str(key).lstrip("/").upper() for key in dss.vri_entries),
            )
        except NoDSSFoundError:
            return cls([], [], [])
        except MALFORMED:
            return cls([], [], [])  # a broken DSS proves nothing; the signatures are judged without it


def _load(asn1_type: Any, reference: Any, purpose: DecodePurpose) -> Any:
    return asn1_type.load(reference.get_object().read_data(purpose))


class Contexts:
    """Validation contexts for one signature, and the fetchers they open, closed in the same event loop
    (aiohttp sessions belong to the loop that made them)."""

    def __init__(self, trust: TrustStore, fetching: FetchPolicy, embedded: Embedded) -> None:
        self.trust, self.fetching, self.embedded = trust, fetching, embedded
        self._backends: list[FetcherBackend] = []

    def at(self, moment: dt.datetime | None) -> ValidationContext:
        """Revocation data from the document first, then (if allowed) the network; at ``moment`` when a
        time-stamp proves the signature existed then, with revocation data issued later accepted for it."""
        backend = guarded_fetcher_backend(self.fetching) if self.fetching.enabled else None
        if backend is not None:
            self._backends.append(backend)
        return ValidationContext(
            trust_roots=self.trust.roots_at(moment),
            other_certs=[*self.trust.intermediates, *self.embedded.certificates],
            ocsps=self.embedded.ocsps,
            crls=self.embedded.crls,
            moment=moment,
            best_signature_time=moment,
            retroactive_revinfo=moment is not None,
            allow_fetching=self.fetching.enabled,
            fetcher_backend=backend,
            revocation_mode="require",
        )

    async def close(self) -> None:
        for backend in self._backends:
            await backend.close()  # type: ignore[no-untyped-call]


async def missing_revocation(status: PdfSignatureStatus, context: ValidationContext) -> str | None:
    """Why the path failed for want of revocation data (none named, none embedded, or none fetched),
    or None when it failed for another reason.

    pyHanko reports every path validation error as CERTIFICATE_CHAIN_GENERAL_FAILURE; the path is
    validated again, in the same context (whose fetchers keep what they fetched or failed to fetch), to
    tell "no revocation data to be had" (EN 319 102-1's TRY_LATER) from a broken chain.
    """
    path = status.validation_path
    if status.trust_problem_indic is not AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE or path is None:
        return None
    try:
        await async_validate_path(context, path)
    except InsufficientRevinfoError as error:
        return str(error.failure_msg)[:300]
    except ValidationError:
        return None
    return None
