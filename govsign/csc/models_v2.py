"""CSC API 2.0: request and response models and their mapping.

2.0 renames ``hash`` to ``hashes`` and ``hashAlgo`` to ``hashAlgorithmOID``, and (2.0.0.2) moves PIN and
OTP into ``authData`` objects and the credential's authentication into ``auth``. Both spellings of the
activation data are accepted; credentials/info answers in both shapes.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field

from govsign.csc.algorithms import HASH_OIDS, SIGN_ALGORITHMS
from govsign.csc.models import (
    CertificateOptions,
    CredentialInfoCommon,
    CscRequest,
    InfoResponse,
    authorization,
    hash_signing,
)
from govsign.csc.service import Authorization, CredentialDescription, HashSigning

__all__ = [
    "AuthorizeRequestV2",
    "CredentialInfoResponseV2",
    "InfoResponseV2",
    "ListRequestV2",
    "ListResponseV2",
    "SignHashRequestV2",
]


class SignAlgorithms(BaseModel):
    algos: list[str] = Field(default_factory=lambda: list(SIGN_ALGORITHMS))


class InfoResponseV2(InfoResponse):
    specs: str = "2.0.0.2"
    signAlgorithms: SignAlgorithms = Field(default_factory=SignAlgorithms)
    hashAlgorithms: list[str] = Field(default_factory=lambda: list(HASH_OIDS))


class AuthenticationType(BaseModel):
    type: Literal["Password"] = "Password"
    id: Literal["PIN", "OTP"]
    format: Literal["A", "N"]
    generator: Literal["totp"] | None = None
    label: str
    description: str


_PIN = AuthenticationType(
    id="PIN", format="A", label="PIN", description="Mã PIN kích hoạt chữ ký (signature activation PIN)"
)
_OTP = AuthenticationType(
    id="OTP",
    format="N",
    generator="totp",
    label="OTP",
    description="Mã 6 chữ số từ ứng dụng xác thực (the code of your authenticator app)",
)


class Authentication(BaseModel):
    mode: Literal["explicit"] = "explicit"
    expression: str
    objects: list[AuthenticationType]

    @classmethod
    def of(cls, otp_required: bool) -> Authentication:
        if otp_required:
            return cls(expression="PIN AND OTP", objects=[_PIN, _OTP])
        return cls(expression="PIN", objects=[_PIN])


class CredentialInfoResponseV2(CredentialInfoCommon):
    """credentials/info of CSC 2.0: the 1.0.4 fields and ``auth``."""

    auth: Authentication

    @classmethod
    def fields(cls, found: CredentialDescription, cert_info: bool) -> dict[str, object]:
        return {**super().fields(found, cert_info), "auth": Authentication.of(found.otp_required)}


class CredentialListing(CredentialInfoResponseV2):
    credentialID: str

    @classmethod
    def fields(cls, found: CredentialDescription, cert_info: bool) -> dict[str, object]:
        return {**super().fields(found, cert_info), "credentialID": found.credential_id}


class ListRequestV2(CertificateOptions):
    userID: None = Field(default=None, description="must be absent: the token names the user")
    credentialInfo: bool = False
    onlyValid: bool = False


class ListResponseV2(BaseModel):
    credentialIDs: list[str]
    credentialInfos: list[CredentialListing] | None = None
    onlyValid: bool | None = None

    @classmethod
    def of(cls, found: list[CredentialDescription], request: ListRequestV2) -> Self:
        shown = [item for item in found if item.enabled or not request.onlyValid]
        infos = [CredentialListing.of(item, request.certInfo) for item in shown]
        return cls(
            credentialIDs=[item.credential_id for item in shown],
            credentialInfos=infos if request.credentialInfo else None,
            onlyValid=True if request.onlyValid else None,
        )


class AuthenticationObject(BaseModel):
    id: str = Field(max_length=16)
    value: str = Field(max_length=256)


class AuthorizeRequestV2(CscRequest):
    credentialID: str = Field(max_length=64)
    numSignatures: int = Field(ge=1)
    hashes: list[str] | None = Field(default=None, description="base64 hashes the SAD will sign (SCAL 2)")
    hashAlgorithmOID: str | None = Field(
        default=None, description="inferred from the hashes' length when absent"
    )
    authData: list[AuthenticationObject] | None = Field(default=None, max_length=4)
    PIN: str | None = Field(default=None, max_length=256, description="or authData {id: PIN}")
    OTP: str | None = Field(default=None, max_length=16, description="or authData {id: OTP}")
    description: str | None = Field(default=None, max_length=500)

    def to_domain(self) -> Authorization:
        given = {item.id: item.value for item in self.authData or []}
        pin, otp = self.PIN or given.get("PIN"), self.OTP or given.get("OTP")
        return authorization(
            self.credentialID, self.numSignatures, self.hashes or [], self.hashAlgorithmOID, pin, otp
        )


class SignHashRequestV2(CscRequest):
    credentialID: str = Field(max_length=64)
    SAD: str = Field(max_length=256)
    hashes: list[str] = Field(description="base64 hashes, each authorised by the SAD")
    hashAlgorithmOID: str | None = Field(default=None, description="needed with a key OID as signAlgo")
    signAlgo: str = Field(max_length=64, examples=["1.2.840.10045.4.3.2", "1.2.840.113549.1.1.10"])
    signAlgoParams: str | None = Field(default=None, description="base64 DER, e.g. RSASSA-PSS-params")
    operationMode: Literal["S"] = Field(default="S", description="synchronous only")

    def to_domain(self) -> HashSigning:
        algorithms = (self.hashAlgorithmOID, self.signAlgo, self.signAlgoParams)
        return hash_signing(self.credentialID, self.SAD, self.hashes, *algorithms)
