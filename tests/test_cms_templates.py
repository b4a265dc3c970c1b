"""The per-key CMS templates (signing/cms_templates.py) give what pyHanko itself would have built.

A key's second and later signatures take their certificates, signer identifier and signed attributes
from DER kept after its first: each must equal, attribute for attribute, what pyHanko's own
``Signer.signed_attrs`` builds for that digest, and the SignedData must carry the same certificates
and verify with openssl.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import Signer

from ca.signing_keys import subscriber_key
from ca.status import StatusServices
from signing.appearance import AppearanceMode, AppearanceRequest
from signing.cms_signer import HsmSigner, signature_algorithm_for
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.pdf_samples import one_page_pdf


def _signed_data(path: Path) -> cms.SignedData:
    embedded = PdfFileReader(path.open("rb")).embedded_signatures[-1]
    return embedded.signed_data


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa2048"])
def test_later_signatures_of_a_key_equal_pyhankos_own_structures(
    sqlite_deployment: Deployment, tmp_path: Path, algorithm: str
) -> None:
    services = StatusServices(sqlite_deployment.authority)
    key = subscriber_key(sqlite_deployment.authority, issue_in_hsm(sqlite_deployment, algorithm=algorithm))
    options = SigningOptions(level=Level.B_T, appearance=AppearanceRequest(AppearanceMode.NONE))
    outputs = []
    for number in range(3):  # the first fills the templates, the others use them
        source = one_page_pdf(tmp_path / f"in-{number}.pdf", text=f"Van ban so {number}")
        target = tmp_path / f"out-{number}.pdf"
        sign_as_holder(services, key, source, target, options, actor="test")
        outputs.append(target)
    first, *later = (_signed_data(path) for path in outputs)
    for signed_data in later:
        assert {c.dump() for c in signed_data["certificates"]} == {c.dump() for c in first["certificates"]}
        info = signed_data["signer_infos"][0]
        assert info["sid"].dump() == first["signer_infos"][0]["sid"].dump()
        digest = info["signed_attrs"].native  # parsed, so the comparison below is by value
        message_digest = next(a["values"][0] for a in digest if a["type"] == "message_digest")
        reference = asyncio.run(
            Signer.signed_attrs(
                HsmSigner(key, signature_algorithm_for(key, pss=False)),
                message_digest,
                "sha256",
                use_pades=True,
            )
        )
        # the same SET OF, byte for byte (in the SignerInfo it is tagged [0] IMPLICIT)
        assert info["signed_attrs"].contents == cms.CMSAttributes.load(reference.dump()).contents
        assert info["unsigned_attrs"][0]["type"].native == "signature_time_stamp_token"
    for path in outputs:  # the CMS itself verifies (detached content: the byte ranges)
        embedded = PdfFileReader(path.open("rb")).embedded_signatures[-1]
        content = tmp_path / "content.bin"
        content.write_bytes(_signed_bytes(path, embedded))
        der = tmp_path / "cms.der"
        der.write_bytes(embedded.pkcs7_content)
        verified = subprocess.run(
            [
                "openssl",
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                str(der),
                "-content",
                str(content),
                "-noverify",
                "-out",
                "/dev/null",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert verified.returncode == 0, verified.stderr


def _signed_bytes(path: Path, embedded: object) -> bytes:
    data = path.read_bytes()
    start, first_length, second_start, second_length = embedded.byte_range  # type: ignore[attr-defined]
    return data[start : start + first_length] + data[second_start : second_start + second_length]
