"""One PKCS #11 token, logged in once per process, with a session per thread (see :mod:`ca.hsm`)."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11_errors
from pkcs11.util.ec import encode_named_curve_parameters

from ca.errors import ConfigurationError, HsmError, HsmUnavailable
from ca.hsm.algorithms import (
    _CURVE_NAMES,
    KeyAlgorithm,
    KeyPair,
    PublicKey,
    SignatureAlgorithm,
    public_key_of,
    sign_digest,
)
from ca.hsm.library import _RETRY_PAUSES_SECONDS, is_transient, library_for
from ca.interruption import uninterrupted
from ca.metrics import hsm_operation

__all__ = ["Token", "TokenT", "open_token", "open_token_as"]

log = logging.getLogger("govsign.hsm")
T = TypeVar("T")
_PRIVATE_KEY_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}
_PUBLIC_KEY_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: False,
    Attribute.VERIFY: True,
    Attribute.ENCRYPT: False,
    Attribute.WRAP: False,
}


class _LoggedOut(Exception):
    """The library was re-initialised after this token logged in; log in again before the call."""


class ThreadSession(threading.local):
    """The calling thread's own session and the key objects it has already looked up."""

    generation: int = -1
    session: Any = None
    objects: dict[tuple[int, bytes | str], Any]

    def __init__(self) -> None:
        self.objects = {}


class Token:
    """One PKCS#11 token, logged in once for this process, with a session per thread.

    Use :func:`open_token` rather than the constructor so that a process holds one instance per token.
    """

    def __init__(self, module_path: str, label: str, pin: str) -> None:
        self.module_path = module_path
        self.label = label
        self._pin = pin
        self._lock = threading.RLock()
        self._session_generation = -1  # the library generation the login session belongs to
        self._login_session: Any = None
        self._token: Any = None
        self._local = ThreadSession()

    # -- session management -------------------------------------------------------------------------

    def _log_in(self) -> None:
        """Log in unless this library generation has a login session already.

        Runs outside any PKCS#11 call of this thread: the login holds the token store exclusively.
        """
        library = library_for(self.module_path)
        with self._lock, library.calls.shared():
            generation = library.generation
            if self._login_session is not None and self._session_generation == generation:
                return
            self._login_session = None
            try:
                token = library.get_token(token_label=self.label)
            except p11_errors.NoSuchToken as error:
                raise HsmUnavailable(f"no token labelled {self.label!r} in the HSM") from error
            with library.store_lock.exclusive():
                try:
                    self._login_session = token.open(rw=True, user_pin=self._pin)
                except p11_errors.UserAlreadyLoggedIn:
                    self._login_session = token.open(rw=True)
                except (p11_errors.PinIncorrect, p11_errors.PinLocked, p11_errors.PinInvalid) as error:
                    raise ConfigurationError(
                        f"the HSM refused the PIN of token {self.label!r} ({type(error).__name__})"
                    ) from error
            # Readers check the generation first, so the token must be in place before it is.
            self._token = token
            self._session_generation = generation

    def _thread_session(self) -> ThreadSession:
        """This thread's session; call inside ``library.calls.shared()`` so the generation holds still."""
        generation = library_for(self.module_path).generation
        if self._session_generation != generation:
            raise _LoggedOut
        local = self._local
        if local.generation != generation or local.session is None:
            local.session = self._token.open(rw=True)
            local.generation = generation
            local.objects = {}
        return local

    def _run(self, name: str, operation: Callable[[ThreadSession], T], *, rewrites: bool = False) -> T:
        """Run ``operation`` with this thread's session, timed as ``name`` for monitoring (:mod:`ca.metrics`:
        the one door every HSM call goes through); after a transient failure re-initialise the library
        (once, whichever thread notices first; every token then reconnects) and try again. ``rewrites``:
        the operation rewrites an existing object in place, so it holds the token store exclusively, as a
        login does (a reader in another process would find the file empty and lose the object)."""
        if os.getpid() != _owner_pid:
            raise HsmError("a PKCS#11 token object cannot cross a fork; open the token in the child")
        with hsm_operation(name):
            return self._run_with_retries(operation, rewrites)

    def _run_with_retries(self, operation: Callable[[ThreadSession], T], rewrites: bool) -> T:
        library = library_for(self.module_path)
        pauses = iter(_RETRY_PAUSES_SECONDS)
        while True:
            seen_generation = library.generation
            try:
                self._log_in()
                store = library.store_lock.exclusive() if rewrites else library.store_lock.shared()
                with uninterrupted(), library.calls.shared(), store:
                    return operation(self._thread_session())
            except _LoggedOut:
                continue  # re-initialised between our login and our call: log in again
            except HsmUnavailable as error:
                pause = next(pauses, None)
                if pause is None:
                    raise
                failure = str(error)
            except p11_errors.PKCS11Error as error:
                if not is_transient(error):
                    raise HsmError(f"the HSM refused the operation: {type(error).__name__}") from error
                pause = next(pauses, None)
                if pause is None and isinstance(error, p11_errors.NoSuchKey):
                    raise HsmError(f"{error} in token {self.label!r}") from error
                if pause is None:
                    raise HsmUnavailable(
                        f"HSM unavailable ({type(error).__name__}), try again shortly"
                    ) from error
                failure = f"{type(error).__name__} ({error})"
            # The exception is gone by now (module docstring: open searches must close before we re-init).
            log.warning("token %s: %s; re-initialising the PKCS#11 library", self.label, failure)
            time.sleep(pause * random.uniform(1, 2))
            library.reinitialize_after(seen_generation)

    def _object(self, local: ThreadSession, object_class: ObjectClass, key_id: bytes) -> Any:
        cache_key = (int(object_class), key_id)
        found = local.objects.get(cache_key)
        if found is None:
            try:
                found = local.session.get_key(object_class=object_class, id=key_id)
            except p11_errors.NoSuchKey:
                raise p11_errors.NoSuchKey(f"no {object_class.name.lower()} with id {key_id.hex()}") from None
            local.objects[cache_key] = found
        return found

    # -- public operations --------------------------------------------------------------------------

    def generate_key_pair(self, algorithm: KeyAlgorithm, label: str) -> KeyPair:
        """Generate a signing key pair inside the token; the private key is sensitive and never extractable."""
        key_id = secrets.token_bytes(16)

        def generate(local: ThreadSession) -> None:
            attributes: dict[str, Any] = {
                "id": key_id,
                "label": label,
                "store": True,
                "public_template": _PUBLIC_KEY_TEMPLATE,
                "private_template": _PRIVATE_KEY_TEMPLATE,
            }
            if algorithm.is_rsa:
                local.session.generate_keypair(KeyType.RSA, algorithm.rsa_bits, **attributes)
            else:
                parameters = local.session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVE_NAMES[algorithm])},
                    local=True,
                )
                parameters.generate_keypair(**attributes)

        self._run("generate_key_pair", generate)
        return KeyPair(key_id, algorithm, self.public_key(key_id))

    def public_key(self, key_id: bytes) -> PublicKey:
        """The public half of the pair ``key_id``, as a `cryptography` key."""

        return self._run(
            "public_key", lambda local: public_key_of(self._object(local, ObjectClass.PUBLIC_KEY, key_id))
        )

    def sign(self, key_id: bytes, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``data`` with the private key ``key_id``; the hash is part of the scheme, computed here."""
        return self.sign_digest(key_id, hashlib.new(algorithm.hash, data).digest(), algorithm)

    def sign_digest(self, key_id: bytes, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``digest``, the ``algorithm.hash`` of a message hashed by the caller (a CRL is hashed while
        it is written), with the private key ``key_id`` (:func:`ca.hsm.algorithms.sign_digest`)."""
        return self._run(
            "sign",
            lambda local: sign_digest(
                self._object(local, ObjectClass.PRIVATE_KEY, key_id), digest, algorithm
            ),
        )

    def ensure_hmac_key(self, label: str) -> None:
        """Create the generic-secret key ``label`` for HMAC-SHA256 unless the token has it already."""

        def ensure(local: ThreadSession) -> None:
            try:
                local.session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
            except p11_errors.NoSuchKey:
                local.session.generate_key(
                    KeyType.GENERIC_SECRET,
                    256,
                    label=label,
                    store=True,
                    template={
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True,
                        Attribute.VERIFY: True,
                        Attribute.ENCRYPT: False,
                        Attribute.DECRYPT: False,
                        Attribute.WRAP: False,
                        Attribute.UNWRAP: False,
                    },
                )

        self._run("ensure_hmac_key", ensure)

    def hmac_sha256(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under the secret key ``label``, computed inside the token."""

        def mac(local: ThreadSession) -> bytes:
            return bytes(self._secret_key(local, label).sign(data, mechanism=Mechanism.SHA256_HMAC))

        return self._run("hmac", mac)

    def _secret_key(self, local: ThreadSession, label: str) -> Any:
        """The secret key ``label``, looked up once per thread session."""
        cache_key = (int(ObjectClass.SECRET_KEY), label)
        key = local.objects.get(cache_key)
        if key is None:
            try:
                key = local.session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
            except p11_errors.NoSuchKey:
                raise p11_errors.NoSuchKey(f"no secret key {label!r}") from None
            local.objects[cache_key] = key
        return key

    def probe(self) -> None:
        """A cheap round trip to the token (C_GenerateRandom); raises HsmUnavailable when it is gone."""
        self._run("probe", lambda local: local.session.generate_random(64))

    def destroy_key_pair(self, key_id: bytes) -> None:
        """Destroy both halves of the token's key pair ``key_id`` (a retired key: nothing signs with it)."""

        def destroy(local: ThreadSession) -> None:
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                self._object(local, object_class, key_id).destroy()
                local.objects.pop((int(object_class), key_id), None)

        self._run("destroy_key_pair", destroy)

    def count_objects(self) -> int:
        """How many objects the token holds (what SoftHSM2's look-up time grows with)."""
        return self._run("count_objects", lambda local: sum(1 for _ in local.session.get_objects()))

    # -- tagged data objects (the audit anchor) -------------------------------------------------------
    # A small record kept in the token itself, which only the holder of the user PIN can see or change.
    # Its text lives in CKA_LABEL: the one attribute PKCS #11 lets a program change on every storage object
    # (a data object's CKA_VALUE is fixed at creation; SoftHSM2 answers C_SetAttributeValue with
    # CKR_ATTRIBUTE_READ_ONLY). Rewriting one attribute of one object keeps the cost flat however many keys
    # the token holds (~0.1 ms to read, ~0.5 ms to write on SoftHSM2), where create-and-destroy would search
    # the whole token each time. The handle is cached per thread session, and the object is never destroyed.
    # SoftHSM2 rewrites the object's file in place, so a write holds the token store lock exclusively.

    def _tagged_data(self, local: ThreadSession, application: str) -> Any | None:
        cache_key = (int(ObjectClass.DATA), application)
        found = local.objects.get(cache_key)
        if found is None:
            template = {Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: application}
            matches = list(local.session.get_objects(template))
            if len(matches) > 1:
                raise HsmError(
                    f"token {self.label!r} holds {len(matches)} data objects {application!r}; expected one"
                )
            if not matches:
                return None
            found = local.objects[cache_key] = matches[0]
        return found

    def read_tagged_text(self, application: str) -> str | None:
        """The text of the private data object tagged ``application`` (CKA_APPLICATION), None if none."""

        def read(local: ThreadSession) -> str | None:
            found = self._tagged_data(local, application)
            return None if found is None else str(found[Attribute.LABEL])

        return self._run("read_tagged_text", read)

    def write_tagged_text(self, application: str, text: str) -> None:
        """Replace the text of the data object tagged ``application``, creating it (private: CKA_PRIVATE,
        so only a session logged in with the user PIN sees or changes it) the first time."""
        self.revise_tagged_text(application, lambda _current: text)

    def revise_tagged_text(self, application: str, revise: Callable[[str | None], str | None]) -> bool:
        """Read the text tagged ``application`` and write ``revise(text)`` unless that is None, with no
        other process's write in between (both under the token store's exclusive lock), so that writers
        racing each other can keep a value that only moves forward. True when it wrote."""

        def write(local: ThreadSession) -> bool:
            found = self._tagged_data(local, application)
            text = revise(None if found is None else str(found[Attribute.LABEL]))
            if text is None:
                return False
            if found is not None:
                found[Attribute.LABEL] = text
                return True
            local.objects[(int(ObjectClass.DATA), application)] = local.session.create_object(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.MODIFIABLE: True,
                    Attribute.APPLICATION: application,
                    Attribute.LABEL: text,
                    Attribute.VALUE: b"",
                }
            )
            return True

        return self._run("write_tagged_text", write, rewrites=True)


_owner_pid = os.getpid()
_tokens: dict[tuple[str, str], Token] = {}
_tokens_lock = threading.Lock()
TokenT = TypeVar("TokenT", bound=Token)


def open_token_as(kind: type[TokenT], module_path: str, label: str, pin: str) -> TokenT:
    """The process's one ``kind`` for ``label``; created, and logged in lazily, on first use."""
    global _owner_pid
    with _tokens_lock:
        if os.getpid() != _owner_pid:
            # Forked child: the parent's sessions are not ours; start afresh (PKCS#11 wants spawn anyway).
            _tokens.clear()
            _owner_pid = os.getpid()
        token = _tokens.get((module_path, label))
        if not isinstance(token, kind):
            token = kind(module_path, label, pin)
            _tokens[(module_path, label)] = token
        return token


def open_token(module_path: str, label: str, pin: str) -> Token:
    """The process's one :class:`Token` for ``label``; created, and logged in lazily, on first use."""
    return open_token_as(Token, module_path, label, pin)
