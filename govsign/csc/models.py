"""The JSON both CSC versions share, and the mapping from the domain's answers to it.

Field names are the spec's, exactly (``credentialID``, ``SAD``, ``expiresIn``...), so that the OpenAPI
description reads like the spec. Requests ignore fields they do not use (``clientData``,
``description``): the spec lets a client send them to any service.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from ca.activation import MAX_HASHES
from govsign.csc.service import (
    Authorization,
    CertificateSelection,
    CredentialDescription,
    HashSigning,
    IssuedSad,
    decode_base64,
)

__all__ = [
    "AuthorizeResponse",
    "CertificateInfo",
    "CertificateOptions",
    "CredentialInfoCommon",
    "CredentialInfoRequest",
    "CscRequest",
    "InfoResponse",
    "KeyInfo",
    "OtpInfo",
    "PinInfo",
    "SignHashResponse",
    "authorization",
    "b64",
    "hash_signing",
]

SelectionName = Literal["none", "single", "chain"]
SERVICE_NAME = "govsign"
SERVICE_DESCRIPTION = "Dịch vụ ký số từ xa cho cán bộ, công chức (remote signing for public officials)"
METHODS = ["info", "credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash"]
AUTH_TYPES = ["external"]  # the bearer token is an account's API token, issued outside the CSC API


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def authorization(
    credential_id: str,
    num_signatures: int,
    hashes: Sequence[str],
    hash_oid: str | None,
    pin: str | None,
    otp: str | None,
) -> Authorization:
    """credentials/authorize as the domain takes it, whatever each version calls its fields."""
    return Authorization(credential_id, num_signatures, decode_base64(hashes, "hash"), hash_oid, pin, otp)


def hash_signing(
    credential_id: str,
    sad: str,
    hashes: Sequence[str],
    hash_oid: str | None,
    sign_oid: str,
    sign_params: str | None,
) -> HashSigning:
    """signatures/signHash as the domain takes it, whatever each version calls its fields."""
    params = decode_base64([sign_params], "signAlgoParams")[0] if sign_params else None
    return HashSigning(credential_id, sad, decode_base64(hashes, "hash"), hash_oid, sign_oid, params)


class InfoResponse(BaseModel):
    """info as both versions answer it; each version names its ``specs`` (and 2.0 adds algorithms)."""

    specs: str
    name: str = SERVICE_NAME
    logo: str = ""
    region: str = "VN"
    lang: str = "vi"
    description: str = SERVICE_DESCRIPTION
    authType: list[str] = Field(default_factory=lambda: list(AUTH_TYPES))
    methods: list[str] = Field(default_factory=lambda: list(METHODS))


class CscRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    clientData: str | None = Field(default=None, max_length=4096, description="ignored; never stored")


class KeyInfo(BaseModel):
    status: Literal["enabled", "disabled"]
    algo: list[str] = Field(description="the key's OID, then each signature OID signHash accepts for it")
    len: int = Field(description="key length in bits")
    curve: str | None = Field(default=None, description="the curve's OID, for EC keys")


class CertificateInfo(BaseModel):
    status: Literal["valid", "expired", "revoked"]
    certificates: list[str] | None = Field(default=None, description="base64 DER, signer first")
    issuerDN: str | None = None
    serialNumber: str | None = None
    subjectDN: str | None = None
    validFrom: str | None = Field(default=None, examples=["20260101000000Z"])
    validTo: str | None = None


class PinInfo(BaseModel):
    presence: Literal["true", "false", "optional"] = "true"
    format: Literal["A", "N"] = "A"
    label: str = "PIN"
    description: str = "Mã PIN kích hoạt chữ ký của bạn (your signature activation PIN)"


class OtpInfo(BaseModel):
    presence: Literal["true", "false", "optional"]
    type: Literal["offline", "online"] = "offline"
    format: Literal["A", "N"] = "N"
    ID: str = "totp"
    provider: str = SERVICE_NAME
    description: str = "Mã 6 chữ số từ ứng dụng xác thực của bạn (the code of your authenticator app)"


class CredentialInfoCommon(BaseModel):
    """credentials/info as CSC 1.0.4 shapes it; 2.0 adds ``auth`` (see models_v2)."""

    key: KeyInfo
    cert: CertificateInfo
    authMode: Literal["explicit"] = "explicit"
    PIN: PinInfo = Field(default_factory=PinInfo)
    OTP: OtpInfo
    SCAL: Literal["1", "2"] = "2"
    multisign: int = Field(default=MAX_HASHES, description="at most this many hashes per SAD")
    lang: str = "vi"

    @classmethod
    def fields(cls, found: CredentialDescription, cert_info: bool) -> dict[str, object]:
        """The fields as CSC 1.0.4 fills them (2.0 adds to them), for ``model_validate``."""
        details = (
            {
                "issuerDN": found.issuer_dn,
                "serialNumber": found.serial_number,
                "subjectDN": found.subject_dn,
                "validFrom": found.valid_from,
                "validTo": found.valid_to,
            }
            if cert_info
            else {}
        )
        return {
            "key": KeyInfo(
                status="enabled" if found.enabled else "disabled",
                algo=list(found.key.algorithms),
                len=found.key.length,
                curve=found.key.curve,
            ),
            "cert": CertificateInfo(
                status=found.certificate_status,
                certificates=[b64(der) for der in found.certificates] or None,
                **details,
            ),
            "OTP": OtpInfo(presence="true" if found.otp_required else "false"),
            "multisign": found.multisign,
        }

    @classmethod
    def of(cls, found: CredentialDescription, cert_info: bool) -> Self:
        return cls.model_validate(cls.fields(found, cert_info))


class CertificateOptions(CscRequest):
    """Which certificates and details credentials/list and credentials/info return."""

    certificates: SelectionName = Field(default="single", description="none, single (the signer's) or chain")
    certInfo: bool = False
    authInfo: bool = False
    lang: str | None = None

    def selection(self) -> CertificateSelection:
        return CertificateSelection(self.certificates)


class CredentialInfoRequest(CertificateOptions):
    credentialID: str = Field(max_length=64)


class AuthorizeResponse(BaseModel):
    SAD: str = Field(description="signature activation data: signs the authorised hashes once")
    expiresIn: int = Field(description="seconds the SAD stays valid")

    @classmethod
    def of(cls, issued: IssuedSad) -> AuthorizeResponse:
        return cls(SAD=issued.sad, expiresIn=issued.expires_in)


class SignHashResponse(BaseModel):
    signatures: list[str] = Field(description="base64 raw signatures, in the order of the hashes")

    @classmethod
    def of(cls, signatures: list[bytes]) -> SignHashResponse:
        return cls(signatures=[b64(signature) for signature in signatures])
