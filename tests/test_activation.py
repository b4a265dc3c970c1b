"""The signature activation module: keys that exist only wrapped and sign only for their holder's PIN.

Every signature here is checked with `cryptography` against the public key the module reported; the
keys are SoftHSM2's, the grants PostgreSQL's and SQLite's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import select

from ca import clock
from ca.activation import (
    MAX_ATTEMPTS,
    MAX_LOCKS,
    ActivationModule,
    CredentialLocked,
    CredentialState,
    GrantKind,
    SadRejected,
    SigningCredential,
    WrongActivation,
)
from ca.errors import HsmError, InvalidRequest, StateConflict
from ca.hsm import KeyAlgorithm, SignatureAlgorithm
from tests.conftest import Deployment

PIN = "135792468"
Scheme = Literal["rsa-pkcs1v15", "rsa-pss", "ecdsa"]


def module_of(deployment: Deployment) -> ActivationModule:
    return deployment.authority.activation_module()


def active_credential(deployment: Deployment, algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256) -> str:
    module = module_of(deployment)
    made = module.create_credential(algorithm, actor="test")
    module.take_control(made.key_id, made.setup_code.lower(), PIN, actor="holder")  # case and dashes forgiven
    return made.key_id


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def check_signature(
    module: ActivationModule, key_id: str, signature: bytes, hashed: bytes, scheme: str
) -> None:
    public = module.public_key(key_id)
    algorithm = Prehashed(hashes.SHA256())
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, hashed, ec.ECDSA(algorithm))
    elif scheme == "rsa-pss":
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, hashed, padding.PSS(padding.MGF1(hashes.SHA256()), 32), algorithm)
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, hashed, padding.PKCS1v15(), algorithm)


@pytest.mark.parametrize(
    ("algorithm", "scheme"),
    [
        (KeyAlgorithm.EC_P256, "ecdsa"),
        (KeyAlgorithm.RSA2048, "rsa-pkcs1v15"),
        (KeyAlgorithm.RSA2048, "rsa-pss"),
    ],
)
def test_a_holder_authorises_hashes_and_the_module_signs_exactly_those(
    deployment: Deployment, algorithm: KeyAlgorithm, scheme: Scheme
) -> None:
    module = module_of(deployment)
    key_id = active_credential(deployment, algorithm)
    wanted = [digest("quyết định 1"), digest("quyết định 2")]
    grant = module.authorize(
        key_id, PIN, wanted, kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
    )
    signatures = module.sign_hashes(
        key_id,
        grant.sad,
        wanted,
        SignatureAlgorithm(scheme, "sha256"),
        actor="holder",
    )
    for signature, hashed in zip(signatures, wanted, strict=True):
        check_signature(module, key_id, signature, hashed, scheme)


def test_a_sad_is_single_use_bound_to_its_hashes_and_its_credential(deployment: Deployment) -> None:
    module = module_of(deployment)
    key_id, other = active_credential(deployment), active_credential(deployment)
    scheme = SignatureAlgorithm("ecdsa", "sha256")
    approved = [digest("công văn")]
    grant = module.authorize(
        key_id, PIN, approved, kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
    )
    with pytest.raises(SadRejected, match="not among"):
        module.sign_hashes(key_id, grant.sad, [digest("something else")], scheme, actor="holder")
    with pytest.raises(SadRejected, match="not known"):
        module.sign_hashes(other, grant.sad, approved, scheme, actor="thief")
    module.sign_hashes(key_id, grant.sad, approved, scheme, actor="holder")
    with pytest.raises(SadRejected):
        module.sign_hashes(key_id, grant.sad, approved, scheme, actor="holder")


def test_a_sad_expires_after_five_minutes(deployment: Deployment) -> None:
    """Time moves on the module's clock (ca.clock), not by waiting five minutes."""
    module = module_of(deployment)
    key_id = active_credential(deployment)
    approved = [digest("tờ trình")]
    scheme = SignatureAlgorithm("ecdsa", "sha256")
    with clock.frozen() as now:
        grant = module.authorize(
            key_id, PIN, approved, kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
        )
        assert grant.expires_at - now.now() == dt.timedelta(minutes=5)
        now.advance(dt.timedelta(minutes=5))
        with pytest.raises(SadRejected, match="expired"):
            module.sign_hashes(key_id, grant.sad, approved, scheme, actor="holder")
        second = module.authorize(
            key_id, PIN, approved, kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
        )
        now.advance(dt.timedelta(minutes=4, seconds=59))
        module.sign_hashes(
            key_id, second.sad, approved, scheme, actor="holder"
        )  # still inside its five minutes


def test_a_document_grant_signs_each_approved_document_once(deployment: Deployment) -> None:
    module = module_of(deployment)
    key_id = active_credential(deployment)
    documents = [digest("a.pdf"), digest("b.pdf")]
    grant = module.authorize(
        key_id, PIN, documents, kind=GrantKind.DOCUMENTS, hash_algorithm="sha256", actor="holder"
    )
    scheme = SignatureAlgorithm("ecdsa", "sha256")
    signed = module.sign_document(
        key_id, grant.sad, documents[0], digest("attributes a"), scheme, actor="batch"
    )
    check_signature(module, key_id, signed, digest("attributes a"), "ecdsa")
    with pytest.raises(SadRejected, match="already"):
        module.sign_document(key_id, grant.sad, documents[0], digest("attributes a2"), scheme, actor="batch")
    with pytest.raises(SadRejected, match="not among"):
        module.sign_document(
            key_id, grant.sad, digest("c.pdf"), digest("attributes c"), scheme, actor="batch"
        )
    with pytest.raises(SadRejected):  # a document grant is not a hash grant
        module.sign_hashes(key_id, grant.sad, [documents[1]], scheme, actor="batch")
    module.sign_document(key_id, grant.sad, documents[1], digest("attributes b"), scheme, actor="batch")


def test_a_document_listed_twice_is_signed_twice_and_no_more(deployment: Deployment) -> None:
    """Two byte-identical files in one batch (the same form filed twice) have one hash: the holder who
    approved both signs both, and the grant counts, so neither a third signature nor a hash grant's repeat
    gets through."""
    module = module_of(deployment)
    key_id = active_credential(deployment)
    form = digest("đơn đề nghị.pdf")
    grant = module.authorize(
        key_id, PIN, [form, form], kind=GrantKind.DOCUMENTS, hash_algorithm="sha256", actor="holder"
    )
    scheme = SignatureAlgorithm("ecdsa", "sha256")
    for copy in ("first", "second"):
        signed = module.sign_document(key_id, grant.sad, form, digest(copy), scheme, actor="batch")
        check_signature(module, key_id, signed, digest(copy), "ecdsa")
    with pytest.raises(SadRejected):
        module.sign_document(key_id, grant.sad, form, digest("third"), scheme, actor="batch")
    once = module.authorize(
        key_id, PIN, [form], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
    )
    with pytest.raises(SadRejected, match="already"):
        module.sign_hashes(key_id, once.sad, [form, form], scheme, actor="holder")


def test_five_wrong_pins_lock_the_credential_until_an_administrator_unlocks(deployment: Deployment) -> None:
    module = module_of(deployment)
    key_id = active_credential(deployment)
    for attempt in range(1, MAX_ATTEMPTS):
        with pytest.raises(WrongActivation, match=f"{MAX_ATTEMPTS - attempt} attempts left"):
            module.authorize(
                key_id, "000000", [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="guess"
            )
    with pytest.raises(CredentialLocked):
        module.authorize(
            key_id, "000000", [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="guess"
        )
    with pytest.raises(CredentialLocked):  # the right PIN does not open a locked credential
        module.authorize(
            key_id, PIN, [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
        )
    module.unlock(key_id, actor="admin")
    module.authorize(
        key_id, PIN, [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
    )


def test_wrong_pin_locks_are_lifted_twice_and_the_third_stays(deployment: Deployment) -> None:
    """Whoever may unlock (and reissue the holder's API token) could otherwise guess five PINs a cycle for
    ever: after MAX_LOCKS locks the credential stays locked, for the right PIN too, and only a new key helps."""
    module = module_of(deployment)
    key_id = active_credential(deployment)

    def authorize(pin: str) -> None:
        module.authorize(
            key_id, pin, [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="a"
        )

    def lock() -> None:
        for _ in range(MAX_ATTEMPTS - 1):
            with pytest.raises(WrongActivation):
                authorize("000000")
        with pytest.raises(CredentialLocked):
            authorize("000000")

    for _ in range(MAX_LOCKS - 1):
        lock()
        module.unlock(key_id, actor="admin")
    lock()
    with pytest.raises(StateConflict, match="cannot be unlocked again"):
        module.unlock(key_id, actor="admin")
    with pytest.raises(CredentialLocked):
        authorize(PIN)


def test_a_new_key_signs_only_after_its_holder_chose_a_pin_with_the_setup_code(
    deployment: Deployment,
) -> None:
    module = module_of(deployment)
    made = module.create_credential(KeyAlgorithm.EC_P256, actor="officer")
    assert module.status(made.key_id).state is CredentialState.AWAITING_HOLDER
    with pytest.raises(StateConflict, match="set-up code"):
        module.authorize(
            made.key_id,
            made.setup_code,
            [digest("x")],
            kind=GrantKind.HASHES,
            hash_algorithm="sha256",
            actor="x",
        )
    with pytest.raises(WrongActivation, match="set-up code"):
        module.take_control(made.key_id, "AAAA-BBBB-CCCC-DDDD", PIN, actor="impostor")
    with pytest.raises(InvalidRequest):
        module.take_control(made.key_id, made.setup_code, "123", actor="holder")
    module.take_control(made.key_id, made.setup_code, PIN, actor="holder")
    with pytest.raises(StateConflict, match="spent"):
        module.take_control(made.key_id, made.setup_code, "another pin", actor="impostor")
    module.change_pin(made.key_id, PIN, "a new PIN 2026", actor="holder")
    with pytest.raises(WrongActivation):
        module.authorize(
            made.key_id, PIN, [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
        )
    module.authorize(
        made.key_id,
        "a new PIN 2026",
        [digest("x")],
        kind=GrantKind.HASHES,
        hash_algorithm="sha256",
        actor="holder",
    )


def test_a_destroyed_key_signs_nothing_even_with_a_live_sad(deployment: Deployment) -> None:
    module = module_of(deployment)
    key_id = active_credential(deployment)
    grant = module.authorize(
        key_id, PIN, [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
    )
    with deployment.authority.database.transaction() as session:
        assert module.destroy(session, key_id, reason="keyCompromise", actor="officer")
    with pytest.raises(SadRejected):
        module.sign_hashes(
            key_id, grant.sad, [digest("x")], SignatureAlgorithm("ecdsa", "sha256"), actor="holder"
        )
    with pytest.raises(StateConflict, match="destroyed"):
        module.authorize(
            key_id, PIN, [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
        )
    with deployment.authority.database.transaction() as session:
        row = session.execute(
            select(SigningCredential).where(SigningCredential.key_id == key_id)
        ).scalar_one()
        assert row.sealed_key is None and row.state == "destroyed"


def test_the_keys_token_pin_and_the_database_do_not_unwrap_a_sealed_key(deployment: Deployment) -> None:
    """What an operator holds (both token PINs, every table) does not open a holder's key: the stored
    blob is sealed under the PIN-derived key, so the KEK refuses it as a wrapped key."""
    module = module_of(deployment)
    key_id = active_credential(deployment)
    with deployment.authority.database.transaction() as session:
        sealed = session.execute(
            select(SigningCredential.sealed_key).where(SigningCredential.key_id == key_id)
        ).scalar_one()
    assert sealed is not None
    for blob in (sealed, sealed[12:], sealed[12:-16]):
        with pytest.raises(HsmError):
            module.vault.sign_digests(
                blob, KeyAlgorithm.EC_P256, [digest("x")], SignatureAlgorithm("ecdsa", "sha256")
            )


def test_subscriber_keys_are_never_token_objects(deployment: Deployment) -> None:
    vault = module_of(deployment).vault
    service = deployment.authority.token
    before = (vault.count_objects(), service.count_objects())
    for _ in range(3):
        active_credential(deployment, KeyAlgorithm.RSA2048)
    assert (vault.count_objects(), service.count_objects()) == before


def test_parallel_guesses_cannot_overtake_the_lock_and_a_late_right_pin_is_refused(
    deployment: Deployment,
) -> None:
    """Attempts are spent before the (slow) check, and a locked credential refuses even the right PIN:
    twelve wrong guesses at once count as at most five, and the holder's PIN after them finds it locked."""
    module = module_of(deployment)
    key_id = active_credential(deployment)

    def guess(number: int) -> str:
        try:
            module.authorize(
                key_id,
                f"wrong-{number:04}",
                [digest("x")],
                kind=GrantKind.HASHES,
                hash_algorithm="sha256",
                actor="thief",
            )
        except (WrongActivation, CredentialLocked, StateConflict) as refusal:
            return type(refusal).__name__  # StateConflict: the attempts left were all being judged
        return "signed"

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(guess, range(12)))
    assert "signed" not in outcomes and outcomes.count("WrongActivation") <= MAX_ATTEMPTS - 1
    status = module.status(key_id)
    assert status.locked and status.attempts_left == 0
    with pytest.raises(CredentialLocked):
        module.authorize(
            key_id, PIN, [digest("x")], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="holder"
        )
