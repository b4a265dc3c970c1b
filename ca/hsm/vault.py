"""The keys token: subscriber keys that exist only wrapped, and the secrets that bind them to their holders.

This is the PKCS #11 half of the signature activation module (docs/SOLE-CONTROL.md); :mod:`ca.hsm` is the
one package allowed to import ``pkcs11``. The token holds two things and no subscriber key:

* the key-encryption key (KEK): AES-256, made by the token's security officer with ``CKA_TRUSTED`` so
  that subscriber keys marked ``CKA_WRAP_WITH_TRUSTED`` can be wrapped by it and by nothing the operator
  makes (SoftHSM2 enforces both: only the SO may set ``CKA_TRUSTED``);
* the activation pepper: an HMAC secret mixed into every PIN-derived key, so that guessing a PIN needs
  this HSM for every guess.

A subscriber key pair is generated as session objects, wrapped (``CKM_AES_KEY_WRAP_PAD``, RFC 5649) and
destroyed at once; to sign, the wrapped key is unwrapped into a session object that cannot be extracted
or wrapped again, used for the hashes of one request, and destroyed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11_errors
from pkcs11.constants import DEFAULT
from pkcs11.util.ec import encode_named_curve_parameters

from ca.errors import ConfigurationError, HsmError
from ca.hsm.algorithms import KeyAlgorithm, PublicKey, SignatureAlgorithm, public_key_of, sign_digest
from ca.hsm.library import library_for
from ca.hsm.token import ThreadSession, Token

__all__ = ["KEK_LABEL", "PEPPER_LABEL", "KeyVault", "WrappedKeyPair", "create_trusted_kek"]

KEK_LABEL = "govsign-subscriber-kek"
PEPPER_LABEL = "govsign-activation-pepper"
_WRAP = Mechanism.AES_KEY_WRAP_PAD
_CURVES = {KeyAlgorithm.EC_P256: "secp256r1", KeyAlgorithm.EC_P384: "secp384r1"}
# A session private key that can be wrapped by the KEK alone and is never readable.
_WRAPPABLE_PRIVATE = {
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: True,
    Attribute.WRAP_WITH_TRUSTED: True,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}
_SESSION_PUBLIC = {
    Attribute.TOKEN: False,
    Attribute.VERIFY: True,
    Attribute.ENCRYPT: False,
    Attribute.WRAP: False,
}
# What an unwrapped key may be: a private signing key, not extractable (python-pkcs11 would otherwise add
# capability attributes such as CKA_ENCRYPT that a private key does not have).
_UNWRAPPED_PRIVATE = {
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.WRAP_WITH_TRUSTED: True,
    Attribute.SIGN: True,
    Attribute.ENCRYPT: DEFAULT,
    Attribute.VERIFY: DEFAULT,
    Attribute.WRAP: DEFAULT,
    Attribute.UNWRAP: DEFAULT,
    Attribute.DECRYPT: DEFAULT,
    Attribute.DERIVE: DEFAULT,
}


@dataclass(frozen=True)
class WrappedKeyPair:
    """A subscriber key as it may be stored: wrapped under the KEK, with its public half."""

    wrapped: bytes
    algorithm: KeyAlgorithm
    public_key: PublicKey


def create_trusted_kek(module_path: str, label: str, so_pin: Callable[[], str]) -> bool:
    """Ceremony step: the KEK, made by the security officer of token ``label``; False if it exists already
    (seen from a session without any login, so ``so_pin`` is asked for only when the KEK is to be made).

    Only the SO may set ``CKA_TRUSTED``, and an SO session sees only public objects, so the KEK is a
    public object: anyone may see that it exists, but wrapping and unwrapping still need a user login and
    it can be neither read, changed nor destroyed. Call before any user session of this process opens
    the token (a token has one login at a time).
    """
    library = library_for(module_path)
    token = None
    for attempt in range(2):
        seen = library.generation
        with library.calls.shared():
            try:
                token = library.get_token(token_label=label)
                break
            except p11_errors.NoSuchToken:
                if attempt:
                    raise ConfigurationError(f"no token labelled {label!r} for the subscriber keys") from None
        # A token made by softhsm2-util after this process loaded the library: C_Initialize again sees it.
        library.reinitialize_after(seen)
    assert token is not None
    with library.calls.shared(), token.open() as public:
        if any(True for _ in public.get_objects({Attribute.LABEL: KEK_LABEL})):
            return False
    with (
        library.calls.shared(),
        library.store_lock.exclusive(),
        token.open(rw=True, so_pin=so_pin()) as session,
    ):
        if any(True for _ in session.get_objects({Attribute.LABEL: KEK_LABEL})):
            return False
        session.generate_key(
            KeyType.AES,
            256,
            label=KEK_LABEL,
            store=True,
            template={
                Attribute.PRIVATE: False,
                Attribute.TRUSTED: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.MODIFIABLE: False,
                Attribute.DESTROYABLE: False,
                Attribute.WRAP: True,
                Attribute.UNWRAP: True,
                Attribute.ENCRYPT: False,
                Attribute.DECRYPT: False,
                Attribute.SIGN: False,
                Attribute.VERIFY: False,
            },
        )
    return True


class KeyVault(Token):
    """The keys token, logged in as its user: wrap new subscriber keys, sign with wrapped ones."""

    def _kek(self, local: ThreadSession) -> Any:
        try:
            kek = self._secret_key(local, KEK_LABEL)
        except p11_errors.NoSuchKey:
            raise ConfigurationError(
                f"token {self.label!r} has no key-encryption key: run `govsign keys init`"
            ) from None
        if not kek[Attribute.TRUSTED]:
            raise ConfigurationError(f"the key-encryption key of token {self.label!r} is not trusted")
        return kek

    def generate_wrapped_key_pair(self, algorithm: KeyAlgorithm) -> WrappedKeyPair:
        """Steps A1-A2: a key pair born in the token, leaving it only wrapped under the KEK."""

        def generate(local: ThreadSession) -> WrappedKeyPair:
            kek = self._kek(local)
            if algorithm.is_rsa:
                public, private = local.session.generate_keypair(
                    KeyType.RSA,
                    algorithm.rsa_bits,
                    store=False,
                    public_template=_SESSION_PUBLIC,
                    private_template=_WRAPPABLE_PRIVATE,
                )
            else:
                parameters = local.session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[algorithm])},
                    local=True,
                )
                public, private = parameters.generate_keypair(
                    store=False, public_template=_SESSION_PUBLIC, private_template=_WRAPPABLE_PRIVATE
                )
            try:
                wrapped = bytes(kek.wrap_key(private, mechanism=_WRAP))
                return WrappedKeyPair(wrapped, algorithm, public_key_of(public))
            finally:
                private.destroy()
                public.destroy()

        return self._run("generate_wrapped_key", generate)

    def sign_digests(
        self,
        wrapped: bytes,
        key_algorithm: KeyAlgorithm,
        digests: Sequence[bytes],
        scheme: SignatureAlgorithm,
    ) -> list[bytes]:
        """Step D3: unwrap into a session object, sign each precomputed digest, destroy the key."""

        def sign(local: ThreadSession) -> list[bytes]:
            kek = self._kek(local)
            try:
                private = kek.unwrap_key(
                    ObjectClass.PRIVATE_KEY,
                    KeyType.RSA if key_algorithm.is_rsa else KeyType.EC,
                    wrapped,
                    mechanism=_WRAP,
                    store=False,
                    capabilities=MechanismFlag.SIGN,
                    template=_UNWRAPPED_PRIVATE,
                )
            except (p11_errors.WrappedKeyInvalid, p11_errors.EncryptedDataInvalid) as error:
                raise HsmError("the wrapped key does not open under this token's KEK") from error
            try:
                return [sign_digest(private, digest, scheme) for digest in digests]
            finally:
                private.destroy()

        return self._run("sign_wrapped", sign)
