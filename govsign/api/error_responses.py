"""One shape for every error the API answers, documented in /openapi.json.

Domain errors and FastAPI's own request validation both answer ``{"detail": "<a sentence for a
person>"}``; a malformed request adds ``errors`` (each field's location and problem, without the values
sent, which may be secrets such as a PIN header). The OpenAPI document declares this shape for every
error status instead of FastAPI's default 422 schema, so clients and schemathesis see what they get.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

__all__ = ["ERROR_RESPONSES", "ErrorMessage", "validation_error"]


class FieldProblem(BaseModel):
    location: list[str | int]
    problem: str
    kind: str


class ErrorMessage(BaseModel):
    detail: str = Field(description="what went wrong, written for the person who has to act on it")
    errors: list[FieldProblem] | None = Field(None, description="a malformed request: each field's problem")


_MEANINGS = {
    401: "no credentials, or unknown ones",
    403: "the caller's role does not allow this",
    404: "no such object",
    409: "the object's state does not allow this",
    413: "the upload is too large",
    422: "the request is not valid",
    423: "the credential is locked",
    429: "too many requests from this address",
    503: "a dependency (HSM, database) is unavailable; try again",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorMessage, "description": meaning} for status, meaning in _MEANINGS.items()
}


async def validation_error(_request: Request, error: Exception) -> JSONResponse:
    """FastAPI's request validation, answered in the common shape with a readable sentence."""
    assert isinstance(error, RequestValidationError)
    problems = [
        FieldProblem(location=list(item["loc"]), problem=str(item["msg"]), kind=str(item["type"]))
        for item in error.errors()
    ]
    sentence = "; ".join(f"{_where(p.location)}: {p.problem}" for p in problems[:5])
    body = ErrorMessage(detail=f"the request is not valid: {sentence}", errors=problems)
    return JSONResponse(body.model_dump(), status_code=422)


def _where(location: list[str | int]) -> str:
    """``["body", "level"]`` -> ``level``; a whole missing body stays ``body``."""
    return ".".join(str(part) for part in location[1:]) or str(location[0])
