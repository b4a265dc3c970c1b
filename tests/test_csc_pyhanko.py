"""pyHanko's own CSCSigner (a client we did not write) signs a PDF at B-T through /csc/v1 of a real
`govsign serve`, with our TSA's time-stamp; pdfsig (only our root trusted) and pyHanko's validator judge it,
and the audit log has the hashes the holder authorised and the module signed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as pdf_fields
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko.sign.timestamps import HTTPTimeStamper

from signing.pades import Level
from tests.conftest import HOLDER_PIN, Deployment
from tests.csc_client import Official, entries_of, officials_of
from tests.pdf_samples import one_page_pdf
from tests.test_pades import assert_pdfsig_valid_and_trusted, assert_pyhanko_valid


@pytest.fixture(scope="module")
def officials(sqlite_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Official]:
    return officials_of(sqlite_deployment, tmp_path_factory.mktemp("officials"))


class PinAuthorization(CSCAuthorizationManager):
    """What a signing application does: the holder's PIN, for exactly the hashes pyHanko is about to sign."""

    def __init__(
        self,
        info: CSCServiceSessionInfo,
        credential: CSCCredentialInfo,
        session: aiohttp.ClientSession,
        pin: str,
    ) -> None:
        super().__init__(info, credential)
        self.session, self.pin = session, pin

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        request = self.format_csc_auth_request(pin=self.pin, hash_b64s=hash_b64s)
        url = f"{self.csc_session_info.service_url}/csc/v1/credentials/authorize"
        async with self.session.post(
            url, json=request, headers=self.auth_headers, raise_for_status=True
        ) as answer:
            return self.parse_csc_auth_response(await answer.json())


async def sign_with_csc_signer(
    base: str, official: Official, source: Path, target: Path
) -> CSCCredentialInfo:
    async with aiohttp.ClientSession() as session:
        info = CSCServiceSessionInfo(base, official.credential_id, oauth_token=official.token)
        credential = await fetch_certs_in_csc_credential(session, info)
        signer = CSCSigner(session, PinAuthorization(info, credential, session, HOLDER_PIN))
        metadata = PdfSignatureMetadata(field_name="Signature1", subfilter=pdf_fields.SigSeedSubFilter.PADES)
        pdf_signer = PdfSigner(metadata, signer, timestamper=HTTPTimeStamper(f"{base}/pki/tsa"))
        with source.open("rb") as stream, target.open("wb") as output:
            await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(stream), output=output)
        return credential


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa2048"])
def test_pyhanko_csc_signer_signs_a_pdf_at_b_t_that_pdfsig_and_pyhanko_trust(
    algorithm: str,
    officials: dict[str, Official],
    sqlite_deployment: Deployment,
    public_server: str,
    nss_db: str,
    tmp_path: Path,
) -> None:
    official = officials[algorithm]
    source, target = one_page_pdf(tmp_path / "don.pdf"), tmp_path / "don-signed.pdf"
    credential = asyncio.run(sign_with_csc_signer(public_server, official, source, target))
    assert credential.hash_pinning_required and credential.max_batch_size >= 1
    assert len(credential.chain) == 2  # the issuing CA and the root, from credentials/info "chain"
    assert_pdfsig_valid_and_trusted(nss_db, target, expected=1)
    assert_pyhanko_valid(target, sqlite_deployment, Level.B_T)
    authorised = entries_of(sqlite_deployment, "credential.authorize", official)[-1]
    signed = entries_of(sqlite_deployment, "credential.sign", official)[-1]
    assert authorised.result == "success" and json.loads(authorised.details)["hashes"]
    assert json.loads(signed.details)["hashes"] == json.loads(authorised.details)["hashes"]
