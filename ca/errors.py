"""The errors of the certificate authority.

Every message is written for the person who has to act on it (an RA officer, an operator); the faces map
the classes to HTTP status codes and CLI exit codes in one place and never show a stack trace.
"""

__all__ = [
    "CaError",
    "ConfigurationError",
    "HsmError",
    "HsmUnavailable",
    "InvalidRequest",
    "LintFailed",
    "NotFound",
    "StateConflict",
]


class CaError(Exception):
    """Base of every error the CA reports to a person."""


class InvalidRequest(CaError):
    """The request (subject data, CSR, validity) breaks a rule; nothing was stored."""


class LintFailed(CaError):
    """pkilint found an ERROR or FATAL in the certificate about to be signed; nothing was signed."""


class NotFound(CaError):
    """The certificate, CA or intent asked for does not exist."""


class StateConflict(CaError):
    """The action does not fit the object's current state (renewing a revoked certificate, init twice)."""


class ConfigurationError(CaError):
    """The deployment is missing something: a token, a PIN, a ceremony file, an initialised database."""


class HsmError(CaError):
    """The HSM refused an operation for a reason that retrying will not fix."""


class HsmUnavailable(HsmError):
    """The HSM cannot be reached right now (token gone, library finalised); try again shortly."""
