"""CSC errors: every refusal of the /csc routes as the spec's JSON, mapped here and nowhere else.

The CSC API answers ``{"error": ..., "error_description": ...}`` with 400 for a bad request (401 for a
bad token), not this service's usual ``{"detail": ...}``. The domain (the activation module, accounts,
certificates) raises its own errors; :func:`csc_error` turns each into a :class:`CscProblem` and
:func:`error_response` into the status and the code the caller's API version uses (CSC 1.0.4 and 2.0
name a wrong PIN differently).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ca.activation import ActivationError, CredentialLocked, SadRejected, WrongActivation
from ca.errors import CaError, ConfigurationError, HsmUnavailable, NotFound
from govsign.access.errors import AccessError, NotAuthenticated, NotAuthorised
from govsign.access.second_factor import SecondFactorLocked, SecondFactorMissing, WrongSecondFactor
from signing.errors import SigningError

__all__ = ["CscError", "CscErrorBody", "CscProblem", "Version", "csc_error", "error_response"]

Version = Literal["v1", "v2"]


class CscProblem(StrEnum):
    INVALID_REQUEST = "invalid-request"
    INVALID_CREDENTIAL = "invalid-credential"  # unknown, or someone else's: the same answer
    INVALID_SAD = "invalid-sad"
    WRONG_PIN = "wrong-pin"
    WRONG_OTP = "wrong-otp"
    LOCKED = "locked"
    NOT_AUTHENTICATED = "not-authenticated"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"


class CscError(Exception):
    """A refusal in CSC terms; ``description`` says what to do, in English as the spec's are."""

    def __init__(self, problem: CscProblem, description: str) -> None:
        super().__init__(description)
        self.problem = problem
        self.description = description


class CscErrorBody(BaseModel):
    """The spec's error message (CSC API 2.0, section 10.2)."""

    error: str = Field(examples=["invalid_request"])
    error_description: str = Field(examples=["Invalid parameter SAD: the SAD was used already"])


# problem -> HTTP status, the error code and the spec's description, per version where they differ
_STATUS = {CscProblem.NOT_AUTHENTICATED: 401, CscProblem.FORBIDDEN: 403, CscProblem.UNAVAILABLE: 503}
_CODES: dict[CscProblem, tuple[str, str]] = {
    CscProblem.INVALID_REQUEST: ("invalid_request", ""),
    CscProblem.INVALID_CREDENTIAL: ("invalid_request", "Invalid parameter credentialID"),
    CscProblem.INVALID_SAD: ("invalid_request", "Invalid parameter SAD"),
    CscProblem.WRONG_PIN: ("invalid_authentication_data", "The authentication data is invalid"),
    CscProblem.WRONG_OTP: ("invalid_authentication_data", "The authentication data is invalid"),
    CscProblem.LOCKED: ("invalid_request", "Credential locked"),
    CscProblem.NOT_AUTHENTICATED: ("invalid_token", ""),
    CscProblem.FORBIDDEN: ("access_denied", ""),
    CscProblem.UNAVAILABLE: ("temporarily_unavailable", ""),
}
_V1_CODES: dict[CscProblem, tuple[str, str]] = {  # CSC API 1.0.4.0, section 11.6
    CscProblem.WRONG_PIN: ("invalid_pin", "The PIN is invalid"),
    CscProblem.WRONG_OTP: ("invalid_otp", "The OTP is invalid"),
    CscProblem.LOCKED: ("invalid_request", "PIN locked"),
}


def csc_error(error: Exception) -> CscError | None:
    """The CSC refusal for a domain error (None: not one of ours, let it propagate)."""
    match error:
        case CscError():
            return error
        case RequestValidationError():
            return CscError(CscProblem.INVALID_REQUEST, _validation_description(error))
        case SecondFactorMissing():
            return CscError(
                CscProblem.INVALID_REQUEST, f"Missing (or invalid type) string parameter OTP: {error}"
            )
        case WrongSecondFactor():
            return CscError(CscProblem.WRONG_OTP, str(error))
        case SecondFactorLocked():
            return CscError(CscProblem.LOCKED, str(error))
        case NotAuthenticated():
            return CscError(CscProblem.NOT_AUTHENTICATED, str(error))
        case NotAuthorised():
            return CscError(CscProblem.FORBIDDEN, str(error))
        case CredentialLocked():
            return CscError(CscProblem.LOCKED, str(error))
        case WrongActivation():
            return CscError(CscProblem.WRONG_PIN, str(error))
        case SadRejected():
            return CscError(CscProblem.INVALID_SAD, str(error))
        case NotFound():
            return CscError(CscProblem.INVALID_CREDENTIAL, "no such credential for this account")
        case HsmUnavailable() | ConfigurationError():
            return CscError(CscProblem.UNAVAILABLE, f"{error}; try again shortly")
        case ActivationError() | CaError() | AccessError() | SigningError():
            return CscError(CscProblem.INVALID_REQUEST, str(error))
    return None


def error_response(error: CscError, version: Version) -> JSONResponse:
    code, spec_text = (_V1_CODES if version == "v1" else {}).get(error.problem) or _CODES[error.problem]
    description = f"{spec_text}: {error.description}" if spec_text else error.description
    body = CscErrorBody(error=code, error_description=description)
    return JSONResponse(body.model_dump(), status_code=_STATUS.get(error.problem, 400))


def _validation_description(error: RequestValidationError) -> str:
    """The spec's wording for a missing or mistyped parameter: "Missing (or invalid type) ... X"."""
    problems = []
    for item in error.errors()[:5]:
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        name = ".".join(location) or "request body (a JSON object)"
        problems.append(f"Missing (or invalid type) parameter {name}: {item.get('msg', 'invalid')}")
    return "; ".join(problems) or "Malformed request"
