"""CSC API 1.0.4.0 (as pyHanko's CSCSigner speaks it): request and response models and their mapping."""

from __future__ import annotations

from pydantic import BaseModel, Field

from govsign.csc.models import (
    CredentialInfoCommon,
    CscRequest,
    InfoResponse,
    authorization,
    hash_signing,
)
from govsign.csc.service import Authorization, HashSigning

__all__ = [
    "AuthorizeRequestV1",
    "CredentialInfoResponseV1",
    "InfoResponseV1",
    "ListRequestV1",
    "ListResponseV1",
    "SignHashRequestV1",
]


class InfoResponseV1(InfoResponse):
    specs: str = "1.0.4.0"


class ListRequestV1(CscRequest):
    userID: None = Field(default=None, description="must be absent: the token names the user")
    maxResults: int | None = None
    pageToken: str | None = None


class ListResponseV1(BaseModel):
    credentialIDs: list[str]


class CredentialInfoResponseV1(CredentialInfoCommon):
    """credentials/info of CSC 1.0.4: ``key``, ``cert``, ``authMode``, ``PIN``, ``OTP``."""


class AuthorizeRequestV1(CscRequest):
    credentialID: str = Field(max_length=64)
    numSignatures: int = Field(ge=1)
    hash: list[str] | None = Field(default=None, description="base64 hashes the SAD will sign (SCAL 2)")
    hashAlgo: str | None = Field(
        default=None, description="hash OID; not in CSC 1.0.4, inferred from the hashes' length when absent"
    )
    PIN: str | None = Field(default=None, max_length=256)
    OTP: str | None = Field(default=None, max_length=16)
    description: str | None = Field(default=None, max_length=500)

    def to_domain(self) -> Authorization:
        return authorization(
            self.credentialID, self.numSignatures, self.hash or [], self.hashAlgo, self.PIN, self.OTP
        )


class SignHashRequestV1(CscRequest):
    credentialID: str = Field(max_length=64)
    SAD: str = Field(max_length=256)
    hash: list[str] = Field(description="base64 hashes, each authorised by the SAD")
    hashAlgo: str | None = Field(default=None, description="hash OID (needed with a key OID as signAlgo)")
    signAlgo: str = Field(max_length=64, examples=["1.2.840.10045.4.3.2", "1.2.840.113549.1.1.10"])
    signAlgoParams: str | None = Field(default=None, description="base64 DER, e.g. RSASSA-PSS-params")

    def to_domain(self) -> HashSigning:
        return hash_signing(
            self.credentialID, self.SAD, self.hash, self.hashAlgo, self.signAlgo, self.signAlgoParams
        )
