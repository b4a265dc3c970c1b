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
from govsign.accounts import NotAuthenticated, NotAuthorised
from govsign.approvals import PendingApproval
from signing.errors import DocumentRefused, DocumentTooLarge, InvalidDocument, SigningError

__all__ = ["DomainError", "exit_code", "http_status"]

DomainError = CaError | SigningError

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
