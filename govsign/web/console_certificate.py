"""The console's certificate page: everything recorded about one certificate, its downloads, renewal and
change of information.

Any administrator reads the page (as `GET /api/v1/certificates/{serial}` allows) and downloads the
certificate as PEM or DER; registration officers renew it (same key) and change its information (a new
certificate, the old one revoked as superseded), the holder's accounts moving to the new certificate
either way (:mod:`govsign.access.holder_certificates`, as `govsign ca renew`, `govsign ca change-info`
and the API do); changing an agency seal's or a device's information waits for approvals when the
policy says so, as issuing one does. Officials and clerks have no business here.
"""

from __future__ import annotations

from typing import Annotated

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ca.profiles import CertificateKind
from govsign.access import controlled_actions
from govsign.access.certificate_dossier import certificate_dossier
from govsign.access.console_auth import ConsoleUser
from govsign.access.holder_certificates import renew_holder_certificate
from govsign.http.deps import AuthorityDep
from govsign.web.console import ADMINISTRATORS, OFFICERS, PREFIX, form_of, language, signed_in
from govsign.web.console_display import page
from govsign.web.console_officers import REQUEST_FIELDS

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_MEDIA = {"pem": "application/x-pem-file", "der": "application/pkix-cert"}
_CHANGEABLE = {
    "requesting_agency",
    "request_ref",
    *(name for names in REQUEST_FIELDS.values() for name in names),
}


@router.get("/certificates/{serial}", response_class=HTMLResponse)
def certificate_page(
    request: Request,
    authority: AuthorityDep,
    serial: str,
    user: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS))],
    done: str = "",
) -> Response:
    dossier = certificate_dossier(authority, serial)
    kind = CertificateKind(dossier.profile)
    fields = REQUEST_FIELDS.get(kind, ())
    return page(request, "console_certificate.html", user, c=dossier, fields=fields, done=done)


@router.get("/certificates/{serial}/{encoding}")
def download(
    authority: AuthorityDep,
    serial: str,
    encoding: str,
    _: Annotated[ConsoleUser, Depends(signed_in(ADMINISTRATORS))],
) -> Response:
    """The certificate itself, as ``pem`` or ``der`` (a ``.cer`` file, as Windows opens it)."""
    if encoding not in _MEDIA:
        return Response(status_code=404)
    dossier = certificate_dossier(authority, serial)
    pem = encoding == "pem"
    body = x509.load_der_x509_certificate(dossier.der).public_bytes(Encoding.PEM) if pem else dossier.der
    name = f"chung-thu-{dossier.serial}.{'pem' if pem else 'cer'}"
    return Response(
        body, media_type=_MEDIA[encoding], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post("/certificates/{serial}/renew")
async def renew(
    request: Request,
    authority: AuthorityDep,
    serial: str,
    user: Annotated[ConsoleUser, Depends(form_of(OFFICERS))],
    years: Annotated[int, Form(ge=1, le=3)] = 3,
) -> Response:
    # the HSM, the database and pkilint block: off the event loop
    issued = await run_in_threadpool(
        renew_holder_certificate, authority, serial, actor=user.actor, years=years
    )
    return _to_certificate(request, issued.serial_hex, "renewed")


@router.post("/certificates/{serial}/change")
async def change(
    request: Request,
    authority: AuthorityDep,
    serial: str,
    user: Annotated[ConsoleUser, Depends(form_of(OFFICERS))],
) -> Response:
    form = await request.form()
    values = {key: value.strip() for key, value in form.items() if isinstance(value, str) and value.strip()}
    subject = {name: values[name] for name in _CHANGEABLE if name in values}  # the profile's check follows
    issued = await run_in_threadpool(
        controlled_actions.change_information, authority, serial, subject, csr=None, actor=user.actor
    )
    return _to_certificate(request, issued.serial_hex, "changed")


def _to_certificate(request: Request, serial: str, done: str) -> Response:
    """To the new certificate's page, which says what was done (a reload does not do it again)."""
    return RedirectResponse(
        f"{PREFIX}/certificates/{serial}?lang={language(request)}&done={done}", status_code=303
    )
