"""Opening PDFs encrypted with AES-256 revision 5 (Adobe's Extension Level 3 to ISO 32000-1, written by
Acrobat 9 and by ``qpdf --force-R5``), which pyHanko's standard security handler does not know.

Revision 5 differs from revision 6 (ISO 32000-2 §7.6.4.3.3) only in how a password is checked and the
file key unwrapped: one SHA-256 instead of the iterated hash of Algorithm 2.B. Once the file key is known,
objects are encrypted with AESV3 exactly as in revision 6, so pyHanko's crypt filters read and write the
file with that key, and the encryption dictionary stays as it is.
"""

from __future__ import annotations

import hashlib

from pyhanko.pdf_utils.crypt._saslprep import saslprep
from pyhanko.pdf_utils.crypt._util import aes_cbc_decrypt
from pyhanko.pdf_utils.crypt.api import AuthResult, AuthStatus
from pyhanko.pdf_utils.crypt.standard import StandardSecurityHandler, StandardSecuritySettingsRevision
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = ["authenticate_revision_5", "decrypt"]

_ZERO_IV = bytes(16)


def authenticate_revision_5(handler: StandardSecurityHandler, password: str | bytes) -> AuthResult:
    """Check ``password`` as the owner's, then the user's; on success give ``handler`` the file key."""
    secret = _prepared(password)
    owner, user = handler.odata, handler.udata
    if hashlib.sha256(secret + owner[32:40] + user[:48]).digest() == owner[:32]:
        status = AuthStatus.OWNER
        wrapping = hashlib.sha256(secret + owner[40:48] + user[:48]).digest()
        key = aes_cbc_decrypt(wrapping, handler.oeseed, _ZERO_IV, use_padding=False)  # type: ignore[no-untyped-call]
    elif hashlib.sha256(secret + user[32:40]).digest() == user[:32]:
        status = AuthStatus.USER
        wrapping = hashlib.sha256(secret + user[40:48]).digest()
        key = aes_cbc_decrypt(wrapping, handler.ueseed, _ZERO_IV, use_padding=False)  # type: ignore[no-untyped-call]
    else:
        return AuthResult(status=AuthStatus.FAILED, permission_flags=None)
    # pyHanko keeps the file key of an authenticated handler here; its crypt filters take it from there.
    handler._shared_key = key
    handler._auth_failed = False
    return AuthResult(status=status, permission_flags=handler.perms)


def decrypt(reader: PdfFileReader, password: str | None) -> AuthResult:
    """``reader.decrypt(password)``, revision 5 included: what every reader of a signed output uses."""
    handler = reader.security_handler
    if (
        isinstance(handler, StandardSecurityHandler)
        and handler.revision is StandardSecuritySettingsRevision.OTHER
    ):
        return authenticate_revision_5(handler, password or "")
    return reader.decrypt(password or "")


def _prepared(password: str | bytes) -> bytes:
    """The password as revisions 5 and 6 hash it: SASLprep'd UTF-8, at most 127 bytes."""
    if isinstance(password, str):
        password = saslprep(password).encode("utf-8") if password else b""
    return password[:127]
