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
  :class:`_ThreadSafeLibrary` initialises with CKF_OS_LOCKING_OK instead (PKCS #11 v2.40 §5.4, case 2).
* Private keys are generated inside the token with CKA_SENSITIVE true and CKA_EXTRACTABLE false; nothing
  here can export one.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeVar

import pkcs11
from asn1crypto import core as asn1_core
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import _pkcs11 as p11_native
from pkcs11 import exceptions as p11_errors
from pkcs11.util.ec import encode_ecdsa_signature, encode_named_curve_parameters

from ca.errors import ConfigurationError, HsmError, HsmUnavailable
from ca.token_store_lock import store_lock_for

__all__ = [
    "HashName",
    "KeyAlgorithm",
    "KeyPair",
    "PublicKey",
    "SignatureAlgorithm",
    "Token",
    "open_token",
    "open_token_as",
    "public_key_of",
]

log = logging.getLogger("govsign.hsm")
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
HashName = Literal["sha256", "sha384", "sha512"]
T = TypeVar("T")


class KeyAlgorithm(StrEnum):
    """Key types the Vietnamese crypto rules (Circular 15/2025) allow us to generate."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa")

    @property
    def rsa_bits(self) -> int:
        return int(self.value.removeprefix("rsa"))

    @property
    def curve(self) -> ec.EllipticCurve:
        return ec.SECP256R1() if self is KeyAlgorithm.EC_P256 else ec.SECP384R1()

    @classmethod
    def of(cls, public_key: object) -> KeyAlgorithm:
        """The algorithm of a `cryptography` public key, if it is one we use."""
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size in (2048, 3072, 4096):
            return cls(f"rsa{public_key.key_size}")
        if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in (
            "secp256r1",
            "secp384r1",
        ):
            return cls.EC_P256 if public_key.curve.name == "secp256r1" else cls.EC_P384
        raise ValueError(f"unsupported key {type(public_key).__name__}")

    @property
    def default_signature(self) -> SignatureAlgorithm:
        """The signature a CA makes with a key of this type: SHA-384 with P-384, SHA-256 otherwise."""
        if self.is_rsa:
            return SignatureAlgorithm("rsa-pkcs1v15", "sha256")
        return SignatureAlgorithm("ecdsa", "sha384" if self is KeyAlgorithm.EC_P384 else "sha256")


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A signature scheme and its hash; ``rsa-pss`` uses MGF1 with the same hash and a salt of hash length."""

    scheme: Literal["rsa-pkcs1v15", "rsa-pss", "ecdsa"]
    hash: HashName


@dataclass(frozen=True)
class KeyPair:
    """A key pair in the token: private and public objects share ``key_id`` (CKA_ID)."""

    key_id: bytes
    algorithm: KeyAlgorithm
    public_key: PublicKey


_HASH_SIZES: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}
_RSA_PKCS1_MECHANISMS = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_RSA_PSS_MECHANISMS = {
    "sha256": (Mechanism.SHA256_RSA_PKCS_PSS, Mechanism.SHA256, pkcs11.MGF.SHA256),
    "sha384": (Mechanism.SHA384_RSA_PKCS_PSS, Mechanism.SHA384, pkcs11.MGF.SHA384),
    "sha512": (Mechanism.SHA512_RSA_PKCS_PSS, Mechanism.SHA512, pkcs11.MGF.SHA512),
}
_CURVE_NAMES = {KeyAlgorithm.EC_P256: "secp256r1", KeyAlgorithm.EC_P384: "secp384r1"}

# Failures that mean "the token or the library went away", worth one re-initialisation and retry.
# A plain PKCS11Error is what python-pkcs11 raises for return values it has no class for, among them
# CKR_CRYPTOKI_NOT_INITIALIZED after someone finalised the library.
_TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    p11_errors.SessionHandleInvalid,
    p11_errors.SessionClosed,
    p11_errors.DeviceRemoved,
    p11_errors.DeviceError,
    p11_errors.DeviceMemory,
    p11_errors.TokenNotPresent,
    p11_errors.TokenNotRecognised,
    p11_errors.GeneralError,
    p11_errors.FunctionFailed,
    p11_errors.UserNotLoggedIn,
    p11_errors.ObjectHandleInvalid,
    p11_errors.KeyHandleInvalid,
    p11_errors.NoSuchToken,
    # A token rewritten under a reader by a process outside govsign's store lock (softhsm2-util,
    # pkcs11-tool): no slot, no object, or an operation dropped between C_SignInit and C_Sign. govsign
    # never leaves an operation open between calls, so an uninitialised one can only be the token's doing.
    p11_errors.SlotIDInvalid,
    p11_errors.NoSuchKey,
    p11_errors.OperationNotInitialized,
)
# Pauses before the second, third and fourth attempt; each is stretched by a random factor of 1 to 2 so
# that processes recovering at the same moment do not log in (and rewrite SoftHSM2's token) in lockstep.
_RETRY_PAUSES_SECONDS = (0.05, 0.15, 0.4)
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


_CKF_OS_LOCKING_OK = 0x2


class _InitializeArgs(ctypes.Structure):
    """CK_C_INITIALIZE_ARGS."""

    _fields_ = (
        ("create_mutex", ctypes.c_void_p),
        ("destroy_mutex", ctypes.c_void_p),
        ("lock_mutex", ctypes.c_void_p),
        ("unlock_mutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("reserved", ctypes.c_void_p),
    )


_InitializeFunction = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)


class _FunctionListHead(ctypes.Structure):
    """The first members of CK_FUNCTION_LIST: the version, then C_Initialize and C_Finalize."""

    _fields_ = (
        ("major", ctypes.c_ubyte),
        ("minor", ctypes.c_ubyte),
        ("initialize", _InitializeFunction),
        ("finalize", _InitializeFunction),
    )


class _SharedExclusiveLock:
    """Many threads may call into PKCS#11 at once; re-initialisation waits until none is inside a call and
    keeps new calls out meanwhile (C_Finalize under a running call is undefined, and SoftHSM2 crashes)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._users = 0
        self._exclusive = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive)
            self._users += 1
        try:
            yield
        finally:
            with self._condition:
                self._users -= 1
                self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive)
            self._exclusive = True
            self._condition.wait_for(lambda: self._users == 0)
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


class _ThreadSafeLibrary(p11_native.lib):
    """python-pkcs11's library object, initialised for multi-threaded use (see the module docstring)."""

    def __init__(self, module_path: str) -> None:
        functions = ctypes.POINTER(_FunctionListHead)()
        if ctypes.CDLL(module_path).C_GetFunctionList(ctypes.byref(functions)) != 0:
            raise ConfigurationError(f"{module_path!r} has no usable C_GetFunctionList")
        self._functions = functions.contents
        self.calls = _SharedExclusiveLock()
        self.store_lock = store_lock_for(module_path)
        # Bumped by every re-initialisation: session and object handles from an older generation are dead,
        # and SoftHSM2 hands their numbers out again, so using one could reach another token's key.
        self.generation = 0
        super().__init__(module_path)

    def initialize(self) -> None:
        arguments = _InitializeArgs(flags=_CKF_OS_LOCKING_OK)
        with self.store_lock.shared():  # C_Initialize reads every token
            return_value = self._functions.initialize(ctypes.cast(ctypes.pointer(arguments), ctypes.c_void_p))
        if return_value not in (0, 0x191):  # CKR_OK, CKR_CRYPTOKI_ALREADY_INITIALIZED
            raise HsmUnavailable(
                f"HSM unavailable (C_Initialize returned CKR 0x{return_value:x}), try again shortly"
            )

    def finalize(self) -> None:
        self._functions.finalize(None)

    def reinitialize_after(self, seen_generation: int) -> None:
        """C_Finalize + C_Initialize, unless another token already did so since ``seen_generation``."""
        with self.calls.exclusive():
            if self.generation != seen_generation:
                return
            self.generation += 1
            self.reinitialize()


_libraries: dict[str, _ThreadSafeLibrary] = {}
_libraries_lock = threading.Lock()


def _library(module_path: str) -> _ThreadSafeLibrary:
    """The process's one library object per module. Two would each have their own call lock over the same
    C library, so one could finalise it under the other's calls (a segfault seen with four threads)."""
    library = _libraries.get(module_path)
    if library is not None:
        return library
    with _libraries_lock:
        library = _libraries.get(module_path)
        if library is None:
            try:
                library = _libraries[module_path] = _ThreadSafeLibrary(module_path)
            except OSError as error:
                raise ConfigurationError(
                    f"cannot load the PKCS#11 module {module_path!r}: {error}"
                ) from error
        return library


def _is_transient(error: Exception) -> bool:
    return isinstance(error, _TRANSIENT_ERRORS) or type(error) is p11_errors.PKCS11Error


class _LoggedOut(Exception):
    """The library was re-initialised after this token logged in; log in again before the call."""


class _ThreadSession(threading.local):
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
        self._local = _ThreadSession()

    # -- session management -------------------------------------------------------------------------

    def _log_in(self) -> None:
        """Log in unless this library generation has a login session already.

        Runs outside any PKCS#11 call of this thread: the login holds the token store exclusively.
        """
        library = _library(self.module_path)
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

    def _thread_session(self) -> _ThreadSession:
        """This thread's session; call inside ``library.calls.shared()`` so the generation holds still."""
        generation = _library(self.module_path).generation
        if self._session_generation != generation:
            raise _LoggedOut
        local = self._local
        if local.generation != generation or local.session is None:
            local.session = self._token.open(rw=True)
            local.generation = generation
            local.objects = {}
        return local

    def _run(self, operation: Callable[[_ThreadSession], T], *, rewrites: bool = False) -> T:
        """Run ``operation`` with this thread's session; after a transient failure re-initialise the library
        (once, whichever thread notices first; every token then reconnects) and try again. ``rewrites``:
        the operation rewrites an existing object in place, so it holds the token store exclusively, as a
        login does (a reader in another process would find the file empty and lose the object)."""
        if os.getpid() != _owner_pid:
            raise HsmError("a PKCS#11 token object cannot cross a fork; open the token in the child")
        library = _library(self.module_path)
        pauses = iter(_RETRY_PAUSES_SECONDS)
        while True:
            seen_generation = library.generation
            try:
                self._log_in()
                store = library.store_lock.exclusive() if rewrites else library.store_lock.shared()
                with library.calls.shared(), store:
                    return operation(self._thread_session())
            except _LoggedOut:
                continue  # re-initialised between our login and our call: log in again
            except HsmUnavailable as error:
                pause = next(pauses, None)
                if pause is None:
                    raise
                failure = str(error)
            except p11_errors.PKCS11Error as error:
                if not _is_transient(error):
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

    def _object(self, local: _ThreadSession, object_class: ObjectClass, key_id: bytes) -> Any:
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

        def generate(local: _ThreadSession) -> None:
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

        self._run(generate)
        return KeyPair(key_id, algorithm, self.public_key(key_id))

    def public_key(self, key_id: bytes) -> PublicKey:
        """The public half of the pair ``key_id``, as a `cryptography` key."""

        return self._run(lambda local: public_key_of(self._object(local, ObjectClass.PUBLIC_KEY, key_id)))

    def sign(self, key_id: bytes, data: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign ``data`` with the private key ``key_id``; the hash is part of the scheme.

        ECDSA hashes on the host and signs with CKM_ECDSA (SoftHSM2 2.6 lacks CKM_ECDSA_SHA256) and returns
        the DER ``ECDSA-Sig-Value`` that X.509 and CMS carry, not PKCS#11's raw r||s.
        """

        def sign_with(local: _ThreadSession) -> bytes:
            private = self._object(local, ObjectClass.PRIVATE_KEY, key_id)
            if algorithm.scheme == "ecdsa":
                digest = hashlib.new(algorithm.hash, data).digest()
                raw: bytes = private.sign(digest, mechanism=Mechanism.ECDSA)
                return bytes(encode_ecdsa_signature(raw))
            if algorithm.scheme == "rsa-pss":
                mechanism, hash_mechanism, mgf = _RSA_PSS_MECHANISMS[algorithm.hash]
                parameters = (hash_mechanism, mgf, _HASH_SIZES[algorithm.hash])
                return bytes(private.sign(data, mechanism=mechanism, mechanism_param=parameters))
            return bytes(private.sign(data, mechanism=_RSA_PKCS1_MECHANISMS[algorithm.hash]))

        return self._run(sign_with)

    def ensure_hmac_key(self, label: str) -> None:
        """Create the generic-secret key ``label`` for HMAC-SHA256 unless the token has it already."""

        def ensure(local: _ThreadSession) -> None:
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

        self._run(ensure)

    def hmac_sha256(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under the secret key ``label``, computed inside the token."""

        def mac(local: _ThreadSession) -> bytes:
            cache_key = (int(ObjectClass.SECRET_KEY), label)
            key = local.objects.get(cache_key)
            if key is None:
                try:
                    key = local.session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
                except p11_errors.NoSuchKey:
                    raise p11_errors.NoSuchKey(f"no secret key {label!r}") from None
                local.objects[cache_key] = key
            return bytes(key.sign(data, mechanism=Mechanism.SHA256_HMAC))

        return self._run(mac)

    def probe(self) -> None:
        """A cheap round trip to the token (C_GenerateRandom); raises HsmUnavailable when it is gone."""
        self._run(lambda local: local.session.generate_random(64))

    def destroy_key_pair(self, key_id: bytes) -> None:
        """Destroy both halves of the token's key pair ``key_id`` (a retired key: nothing signs with it)."""

        def destroy(local: _ThreadSession) -> None:
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                self._object(local, object_class, key_id).destroy()
                local.objects.pop((int(object_class), key_id), None)

        self._run(destroy)

    def count_objects(self) -> int:
        """How many objects the token holds (what SoftHSM2's look-up time grows with)."""
        return self._run(lambda local: sum(1 for _ in local.session.get_objects()))

    # -- tagged data objects (the audit anchor) -------------------------------------------------------
    # A small record kept in the token itself, which only the holder of the user PIN can see or change.
    # Its text lives in CKA_LABEL: the one attribute PKCS #11 lets a program change on every storage object
    # (a data object's CKA_VALUE is fixed at creation; SoftHSM2 answers C_SetAttributeValue with
    # CKR_ATTRIBUTE_READ_ONLY). Rewriting one attribute of one object keeps the cost flat however many keys
    # the token holds (~0.1 ms to read, ~0.5 ms to write on SoftHSM2), where create-and-destroy would search
    # the whole token each time. The handle is cached per thread session, and the object is never destroyed.
    # SoftHSM2 rewrites the object's file in place, so a write holds the token store lock exclusively.

    def _tagged_data(self, local: _ThreadSession, application: str) -> Any | None:
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

        def read(local: _ThreadSession) -> str | None:
            found = self._tagged_data(local, application)
            return None if found is None else str(found[Attribute.LABEL])

        return self._run(read)

    def write_tagged_text(self, application: str, text: str) -> None:
        """Replace the text of the data object tagged ``application``, creating it (private: CKA_PRIVATE,
        so only a session logged in with the user PIN sees or changes it) the first time."""

        def write(local: _ThreadSession) -> None:
            found = self._tagged_data(local, application)
            if found is not None:
                found[Attribute.LABEL] = text
                return
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

        self._run(write, rewrites=True)


def public_key_of(public: Any) -> PublicKey:
    """A PKCS#11 public key object as a `cryptography` key."""
    if public.key_type == KeyType.RSA:
        modulus = int.from_bytes(public[Attribute.MODULUS], "big")
        exponent = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    point = asn1_core.OctetString.load(public[Attribute.EC_POINT]).native
    curve = ec.SECP384R1() if len(point) > 65 else ec.SECP256R1()
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


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
