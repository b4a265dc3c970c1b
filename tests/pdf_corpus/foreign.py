"""Corpus files already signed or certified (DocMDP P=1 and P=2) by a foreign CA, made with pyHanko."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper

from tests.foreign_pki import ForeignCa, make_foreign_ca
from tests.pdf_corpus.content import _form_doc
from tests.pdf_corpus.documents import CorpusPdf, _basic, _bytes_entry, _to_bytes


def foreign_ca(
    ocsp_url: str | None = None, crl_url: str | None = None, leaf_lifetime: timedelta = timedelta(days=730)
) -> ForeignCa:
    """A fresh foreign CA (RSA, on the real clock); its leaf names ``ocsp_url`` and ``crl_url`` for
    revocation when given, and expires ``leaf_lifetime`` from now."""
    return make_foreign_ca(
        country="DE",
        organization="Foreign Test Trust Services",
        root_cn="Foreign Test Root CA",
        signer_cn="Foreign Test Signer",
        new_key=partial(rsa.generate_private_key, public_exponent=65537, key_size=2048),
        now=datetime.now(UTC),
        leaf_lifetime=leaf_lifetime,
        ocsp_url=ocsp_url,
        crl_url=crl_url,
    )


def pyhanko_sign(
    data: bytes,
    ca: ForeignCa,
    meta: signers.PdfSignatureMetadata,
    field: fields.SigFieldSpec | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(data)),
        meta,
        ca.signer,
        timestamper=timestamper,
        new_field_spec=field,
    )
    return bytes(output.getbuffer())


def _signed_foreign(folder: Path, ca: ForeignCa) -> CorpusPdf:
    name = "signed-foreign-approval"
    note = "visible approval signature by a foreign CA (pyHanko); it must stay valid after the new signature"
    meta = signers.PdfSignatureMetadata(field_name="ForeignApproval", reason="Approved", location="Berlin")
    field = fields.SigFieldSpec("ForeignApproval", on_page=0, box=(330, 60, 545, 120))
    data = pyhanko_sign(_to_bytes(_basic(name, note)), ca, meta, field)
    return _bytes_entry(folder, name, data, "sign", "", note)


def _certified_no_changes(folder: Path, ca: ForeignCa) -> CorpusPdf:
    name = "certified-docmdp-p1"
    note = "certified by a foreign CA with DocMDP P=1: no change at all is allowed"
    meta = signers.PdfSignatureMetadata(
        field_name="Certification",
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    data = pyhanko_sign(_to_bytes(_basic(name, note)), ca, meta)
    return _bytes_entry(folder, name, data, "refuse", "docmdp-forbids", note)


def _certified_fill_forms(folder: Path, ca: ForeignCa) -> CorpusPdf:
    name = "certified-docmdp-p2"
    note = (
        "certified by a foreign CA with DocMDP P=2 (form filling and signing allowed); empty field 'Approval'"
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Certification",
        certify=True,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    data = pyhanko_sign(_to_bytes(_form_doc(name, note)), ca, meta)
    # a new visible field would break the certification: the signature goes in the prepared one
    return replace(_bytes_entry(folder, name, data, "sign", "", note), field="Approval")
