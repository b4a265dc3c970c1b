"""PKCS#11 access to the HSM (OASIS PKCS #11 v2.40); the only module of govsign that imports `pkcs11`.

Facts about real tokens shape this module:

* A login belongs to the token and the process, not to a session: the first session logs in with the PIN
  and stays open for the life of the process; every other session is opened without a PIN and is already
  logged in (logging in twice raises ``UserAlreadyLoggedIn``).
* SoftHSM2 misbehaves when threads share a session, so each thread gets its own session.
* SoftHSM2 finds objects in time proportional to the number of objects in the token (about 128 ms at
  3,000 keys), so key objects are cached per thread session.
* A token can vanish under us (library finalised, network HSM restarted, token folder moved): an operation
  that fails for such a reason re-initialises the library and is tried again, up to three more times
  after growing pauses, then raises :class:`~ca.errors.HsmUnavailable`.
* SoftHSM2's file store rewrites ``token.object`` at every C_Login, and a process reading the token at
  that moment loses its view of it until C_Finalize. :mod:`ca.token_store_lock` keeps logins and calls
  apart across processes, so logins happen outside any call here.
* python-pkcs11 leaves a search open when C_FindObjectsInit fails and closes it when the object is
  garbage-collected; after a re-initialisation that handle number may be another thread's new session.
  So a failure's exception (whose traceback holds the search) is dropped before re-initialising.
* python-pkcs11 calls ``C_Initialize(NULL)``, which tells SoftHSM2 that no two threads will ever call it at
  once, so it switches its own mutexes off and crashes under threads even with one session per thread.
  :class:`ThreadSafeLibrary` initialises with CKF_OS_LOCKING_OK instead (PKCS #11 v2.40 §5.4, case 2).
* Private keys are generated inside the token with CKA_SENSITIVE true and CKA_EXTRACTABLE false; nothing
  here can export one.
"""

from __future__ import annotations

from ca.hsm.algorithms import HashName, KeyAlgorithm, KeyPair, PublicKey, SignatureAlgorithm, public_key_of
from ca.hsm.library import ThreadSafeLibrary, library_for
from ca.hsm.token import ThreadSession, Token, open_token, open_token_as

__all__ = [
    "HashName",
    "KeyAlgorithm",
    "KeyPair",
    "PublicKey",
    "SignatureAlgorithm",
    "ThreadSafeLibrary",
    "ThreadSession",
    "Token",
    "library_for",
    "open_token",
    "open_token_as",
    "public_key_of",
]
