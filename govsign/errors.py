"""One mapping from domain errors to CLI exit codes and HTTP status codes (exit code 3 means "pending")."""

from __future__ import annotations

from ca.activation import ActivationError, CredentialLocked
from ca.errors import (
    CaError,
    ConfigurationError,
    HsmUnavailable,
    InvalidRequest,
    LintFailed,
    NotFound,
    StateConflict,
)
from govsign.access.errors import AccessError, NotAuthenticated, NotAuthorised, PendingApproval
from signing.errors import DocumentRefused, DocumentTooLarge, DrawingBusy, InvalidDocument, SigningError

__all__ = ["DOMAIN_ERRORS", "exit_code", "http_status"]

# What a person reads as one line (never a traceback): the CA's, the access rooms' and the signer's refusals.
DOMAIN_ERRORS: tuple[type[Exception], ...] = (CaError, AccessError, SigningError)

_CODES: list[tuple[type[Exception], int, int]] = [
    # (error, CLI exit code, HTTP status)
    (PendingApproval, 3, 202),
    (InvalidRequest, 2, 422),
    (LintFailed, 2, 422),
    (InvalidDocument, 2, 422),
    (DocumentTooLarge, 2, 413),
    (NotAuthenticated, 8, 401),
    (CredentialLocked, 8, 423),
    (ActivationError, 8, 403),
    (NotAuthorised, 8, 403),
    (NotFound, 4, 404),
    (StateConflict, 5, 409),
    (DocumentRefused, 5, 409),
    (HsmUnavailable, 7, 503),
    (DrawingBusy, 7, 503),
    (ConfigurationError, 6, 503),
]


def _lookup(error: Exception) -> tuple[int, int]:
    for error_class, code, status in _CODES:
        if isinstance(error, error_class):
            return code, status
    return 1, 500


def exit_code(error: Exception) -> int:
    return _lookup(error)[0]


def http_status(error: Exception) -> int:
    return _lookup(error)[1]
