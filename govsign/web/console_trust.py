"""The console's trust page (``ca_admin``): the other CAs' certificates the validator trusts.

The list, adding one with a window of trust (typed in Vietnam time) through
:func:`govsign.access.controlled_actions.trust` — which holds the addition for approvals when the
``trust.add`` policy asks for them, answering 202 with the request's id as every face does — and
removing one (:func:`govsign.access.trust_anchors.remove_trusted_certificate`), as `govsign trust` and
`/api/v1/trust-anchors` do.
"""

from __future__ import annotations

from typing import Annotated

from cryptography import x509
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from govsign.access.console_auth import ConsoleUser
from govsign.access.controlled_actions import trust, untrust
from govsign.access.trust_anchors import TrustRole, list_trusted_certificates
from govsign.access.trust_store import MAX_CERTIFICATE_BYTES, one_uploaded_certificate
from govsign.http.deps import AuthorityDep
from govsign.web.console import CA_ADMINS, PREFIX, console_text, form_of, signed_in
from govsign.web.console_display import notice, page, parse_local_time

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/trust", response_class=HTMLResponse)
def trust_page(
    request: Request, authority: AuthorityDep, user: Annotated[ConsoleUser, Depends(signed_in(CA_ADMINS))]
) -> Response:
    entries = list_trusted_certificates(authority)
    # RFC 4514 names, as everywhere in the console (the stored subject is asn1crypto's English labels)
    names = {
        e.id: x509.load_der_x509_certificate(e.certificate.dump()).subject.rfc4514_string() for e in entries
    }
    return page(request, "console_trust.html", user, entries=entries, names=names, roles=list(TrustRole))


@router.post("/trust", response_class=HTMLResponse)
def add(
    request: Request,
    authority: AuthorityDep,
    user: Annotated[ConsoleUser, Depends(form_of(CA_ADMINS))],
    certificate: Annotated[UploadFile, File()],
    name: Annotated[str, Form()],
    role: Annotated[TrustRole, Form()] = TrustRole.ANCHOR,
    trusted_from: Annotated[str, Form()] = "",
    trusted_until: Annotated[str, Form()] = "",
) -> Response:
    data = certificate.file.read(MAX_CERTIFICATE_BYTES + 1)
    parsed = one_uploaded_certificate(data, certificate.filename or "the upload")
    entry = trust(
        authority,
        parsed,
        name=name,
        role=role,
        trusted_from=parse_local_time(trusted_from),
        trusted_until=parse_local_time(trusted_until),
        actor=user.actor,
    )
    return notice(request, user, f"{console_text(request, 'trust_added')}: {entry.name}", back="trust")


@router.post("/trust/{entry_id}/remove", response_class=HTMLResponse)
def remove(
    request: Request,
    authority: AuthorityDep,
    entry_id: int,
    user: Annotated[ConsoleUser, Depends(form_of(CA_ADMINS))],
) -> Response:
    entry = untrust(authority, entry_id, actor=user.actor)
    return notice(request, user, f"{console_text(request, 'trust_removed')}: {entry.name}", back="trust")
