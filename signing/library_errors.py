"""What pyHanko's (and pikepdf's) exceptions mean for the person who sent the PDF, in words that are true.

pyHanko raises its own errors for structures it cannot handle, but also plain ValueError, KeyError,
IndexError, TypeError or AttributeError from deep inside its object model when a file breaks an assumption
(a direct /Encrypt dictionary, a string that does not decrypt, a missing /Kids). Each becomes a refusal
that says what failed and that nothing was signed, never "unexpected ...".
"""

from __future__ import annotations

import pikepdf
from pyhanko.pdf_utils.misc import PdfError

from signing.errors import InvalidDocument

__all__ = ["LIBRARY_ERRORS", "refusal_for"]

LIBRARY_ERRORS = (
    RecursionError,
    PdfError,
    pikepdf.PdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
)
_DECRYPTION_WORDS = ("padding", "block length", "multiple of the block")


def refusal_for(error: BaseException, *, encrypted: bool) -> InvalidDocument:
    """The refusal to raise for ``error``, one of :data:`LIBRARY_ERRORS`, met while signing a PDF."""
    detail = f"{type(error).__name__}: {error}"[:200]
    if isinstance(error, RecursionError):
        # pyHanko walks form fields and objects recursively: 100,000 nested /Kids are a hostile file
        return InvalidDocument(
            "the PDF nests its objects (form fields, arrays or dictionaries) too deeply to be signed"
        )
    if isinstance(error, PdfError):
        return InvalidDocument(f"the PDF's structure cannot be signed as it is ({error})")
    if isinstance(error, pikepdf.PdfError):
        return InvalidDocument(f"qpdf cannot read or rewrite the PDF ({detail}); nothing was signed")
    if encrypted and isinstance(error, ValueError) and any(w in str(error) for w in _DECRYPTION_WORDS):
        return InvalidDocument(
            "an object of the encrypted PDF that the signature's update must write again does not decrypt "
            f"with the file's key ({detail}); nothing was signed"
        )
    return InvalidDocument(f"pyHanko cannot sign this PDF as it is ({detail}); nothing was signed")
