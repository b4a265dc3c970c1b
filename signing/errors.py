"""The errors of the signing service, each written for the person who sent the document.

The faces map them to HTTP status codes and CLI exit codes in one place (:mod:`govsign.errors`).
"""

__all__ = [
    "DocumentRefused",
    "DocumentTooLarge",
    "DocumentTookTooLong",
    "DrawingBusy",
    "InvalidDocument",
    "SigningError",
]


class SigningError(Exception):
    """Base of every error the signing service reports to a person; nothing was written."""


class InvalidDocument(SigningError):
    """The input is not a PDF we can read: not a PDF at all, truncated, damaged, or locked by a password."""


class DocumentRefused(SigningError):
    """The PDF is readable but may not be signed: its certification (DocMDP) or permissions forbid it, or
    the requested appearance does not fit it (an agency seal on a document no official has signed)."""


class DocumentTooLarge(SigningError):
    """The PDF is larger than this deployment accepts."""


class DocumentTookTooLong(DocumentRefused):
    """Signing the PDF ran past the time limit per document and was stopped; nothing was written."""


class DrawingBusy(SigningError):
    """Other documents' pages are being drawn (a visual comparison); try again in a few seconds."""
