"""The PKCS #11 library of the process: initialised for threads, re-initialised after an outage.

See :mod:`ca.hsm` for the facts about real tokens that shape it.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pkcs11 import _pkcs11 as p11_native
from pkcs11 import exceptions as p11_errors

from ca.errors import ConfigurationError, HsmUnavailable
from ca.token_store_lock import store_lock_for

__all__ = ["ThreadSafeLibrary", "is_transient", "library_for"]

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


class ThreadSafeLibrary(p11_native.lib):
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


_libraries: dict[str, ThreadSafeLibrary] = {}
_libraries_lock = threading.Lock()


def library_for(module_path: str) -> ThreadSafeLibrary:
    """The process's one library object per module. Two would each have their own call lock over the same
    C library, so one could finalise it under the other's calls (a segfault seen with four threads)."""
    library = _libraries.get(module_path)
    if library is not None:
        return library
    with _libraries_lock:
        library = _libraries.get(module_path)
        if library is None:
            try:
                library = _libraries[module_path] = ThreadSafeLibrary(module_path)
            except OSError as error:
                raise ConfigurationError(
                    f"cannot load the PKCS#11 module {module_path!r}: {error}"
                ) from error
        return library


def is_transient(error: Exception) -> bool:
    return isinstance(error, _TRANSIENT_ERRORS) or type(error) is p11_errors.PKCS11Error
