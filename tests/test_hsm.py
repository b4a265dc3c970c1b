"""The HSM layer against a real SoftHSM2 token, judged by opensc's pkcs11-tool and by PKCS#11 itself."""

from __future__ import annotations

import ctypes
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pkcs11
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11_errors

from ca.errors import HsmUnavailable
from ca.hsm import KeyAlgorithm, SignatureAlgorithm, Token, open_token
from ca.softhsm import provision_token
from govsign.config.settings import DEFAULT_PKCS11_MODULE
from tests.conftest import SOFTHSM_CONF

LABEL = "hsm-tests"
PIN = secrets.token_hex(8)
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


@pytest.fixture(scope="module")
def token() -> Token:
    provision_token(SOFTHSM_CONF, LABEL, PIN, secrets.token_hex(8))
    return open_token(DEFAULT_PKCS11_MODULE, LABEL, PIN)


@pytest.fixture(scope="module")
def key_pairs(token: Token) -> dict[KeyAlgorithm, bytes]:
    algorithms = (KeyAlgorithm.RSA2048, KeyAlgorithm.RSA3072, KeyAlgorithm.EC_P256)
    return {
        algorithm: token.generate_key_pair(algorithm, f"test-{algorithm.value}").key_id
        for algorithm in algorithms
    }


def _pkcs11_tool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "pkcs11-tool",
            "--module",
            DEFAULT_PKCS11_MODULE,
            "--token-label",
            LABEL,
            "--login",
            "--pin",
            PIN,
            *arguments,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def _verify(public_key: object, signature: bytes, data: bytes, algorithm: SignatureAlgorithm) -> None:
    digest = HASHES[algorithm.hash]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(digest))
    else:
        assert isinstance(public_key, rsa.RSAPublicKey)
        scheme = (
            padding.PSS(padding.MGF1(digest), digest.digest_size)
            if algorithm.scheme == "rsa-pss"
            else padding.PKCS1v15()
        )
        public_key.verify(signature, data, scheme, digest)


@pytest.mark.parametrize(
    ("algorithm", "scheme", "hash_name"),
    [
        (KeyAlgorithm.RSA2048, "rsa-pkcs1v15", "sha256"),
        (KeyAlgorithm.RSA2048, "rsa-pkcs1v15", "sha384"),
        (KeyAlgorithm.RSA2048, "rsa-pkcs1v15", "sha512"),
        (KeyAlgorithm.RSA3072, "rsa-pss", "sha256"),
        (KeyAlgorithm.RSA3072, "rsa-pss", "sha384"),
        (KeyAlgorithm.RSA2048, "rsa-pss", "sha512"),
        (KeyAlgorithm.EC_P256, "ecdsa", "sha256"),
        (KeyAlgorithm.EC_P256, "ecdsa", "sha384"),
    ],
)
def test_signatures_made_in_the_token_verify_with_cryptography(
    token: Token, key_pairs: dict[KeyAlgorithm, bytes], algorithm: KeyAlgorithm, scheme: str, hash_name: str
) -> None:
    signature_algorithm = SignatureAlgorithm(scheme, hash_name)  # type: ignore[arg-type]
    data = secrets.token_bytes(1000)
    signature = token.sign(key_pairs[algorithm], data, signature_algorithm)
    _verify(token.public_key(key_pairs[algorithm]), signature, data, signature_algorithm)


def test_pkcs11_tool_lists_every_private_key_sensitive_and_never_extractable(
    token: Token, key_pairs: dict[KeyAlgorithm, bytes]
) -> None:
    listing = _pkcs11_tool("--list-objects", "--type", "privkey")
    assert listing.returncode == 0, listing.stderr
    blocks = [block for block in listing.stdout.split("Private Key Object") if block.strip()]
    assert len(blocks) >= len(key_pairs)
    for block in blocks:
        assert "Access:     sensitive, always sensitive, never extractable" in block, block
    for key_id in key_pairs.values():
        assert key_id.hex() in listing.stdout
        public_listing = _pkcs11_tool("--list-objects", "--type", "pubkey", "--id", key_id.hex())
        assert key_id.hex() in public_listing.stdout  # the public half shares the CKA_ID


def test_private_key_material_cannot_be_read_or_wrapped(
    token: Token, key_pairs: dict[KeyAlgorithm, bytes]
) -> None:
    # C_GetAttributeValue and C_WrapKey directly: pkcs11-tool cannot even try to read a private key.
    session = _raw_session()
    try:
        rsa_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_pairs[KeyAlgorithm.RSA2048])
        with pytest.raises(p11_errors.AttributeSensitive):
            _ = rsa_key[Attribute.PRIVATE_EXPONENT]
        ec_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_pairs[KeyAlgorithm.EC_P256])
        with pytest.raises(p11_errors.AttributeSensitive):
            _ = ec_key[Attribute.VALUE]
        wrapping_key = session.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
        assert isinstance(wrapping_key, pkcs11.WrapMixin)  # python-pkcs11 adds the mixin for CKA_WRAP keys
        with pytest.raises((p11_errors.KeyUnextractable, p11_errors.KeyNotWrappable)):
            wrapping_key.wrap_key(rsa_key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
    finally:
        session.close()


def _raw_session() -> pkcs11.Session:
    """A plain PKCS#11 session on the test token through the library object govsign already initialised."""
    from ca import hsm

    return hsm.library_for(DEFAULT_PKCS11_MODULE).get_token(token_label=LABEL).open(rw=True)


def test_threads_each_get_their_own_session(token: Token, key_pairs: dict[KeyAlgorithm, bytes]) -> None:
    key_id = key_pairs[KeyAlgorithm.EC_P256]
    public_key = token.public_key(key_id)
    algorithm = SignatureAlgorithm("ecdsa", "sha256")
    failures: list[BaseException] = []

    def sign_many() -> None:
        try:
            for _ in range(40):
                data = secrets.token_bytes(64)
                _verify(public_key, token.sign(key_id, data, algorithm), data, algorithm)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=sign_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_recovers_after_the_library_is_finalised_behind_its_back(
    token: Token, key_pairs: dict[KeyAlgorithm, bytes]
) -> None:
    key_id = key_pairs[KeyAlgorithm.EC_P256]
    algorithm = SignatureAlgorithm("ecdsa", "sha256")
    token.sign(key_id, b"before", algorithm)
    assert ctypes.CDLL(DEFAULT_PKCS11_MODULE).C_Finalize(None) == 0
    signature = token.sign(key_id, b"after", algorithm)
    _verify(token.public_key(key_id), signature, b"after", algorithm)


def test_token_folder_moved_away_gives_hsm_unavailable_then_recovers(
    token: Token, key_pairs: dict[KeyAlgorithm, bytes]
) -> None:
    key_id = key_pairs[KeyAlgorithm.EC_P256]
    algorithm = SignatureAlgorithm("ecdsa", "sha256")
    token_folder = SOFTHSM_CONF.parent / "tokens"
    parked = Path(str(token_folder) + ".parked")
    token_folder.rename(parked)
    try:
        assert (
            ctypes.CDLL(DEFAULT_PKCS11_MODULE).C_Finalize(None) == 0
        )  # the HSM "restarts" without its tokens
        with pytest.raises(HsmUnavailable, match=r"try again|no token"):
            token.sign(key_id, b"while gone", algorithm)
    finally:
        parked.rename(token_folder)
    signature = token.sign(key_id, b"back", algorithm)
    _verify(token.public_key(key_id), signature, b"back", algorithm)
    token.probe()


HANDLE_REUSE_CHILD = """
import secrets, sys
from pathlib import Path
from ca.hsm import KeyAlgorithm, SignatureAlgorithm, open_token
from ca.softhsm import provision_token
conf = Path(sys.argv[1])
module = "/usr/lib/softhsm/libsofthsm2.so"
first_pin = secrets.token_hex(8)
provision_token(conf, "first", first_pin, secrets.token_hex(8))
first = open_token(module, "first", first_pin)
pair = first.generate_key_pair(KeyAlgorithm.EC_P256, "first-key")
algorithm = SignatureAlgorithm("ecdsa", "sha256")
first.sign(pair.key_id, b"cache the handles", algorithm)
for label in ("second", "third"):  # the third needs a slot this process has not seen: re-initialisation
    pin = secrets.token_hex(8)
    provision_token(conf, label, pin, secrets.token_hex(8))
third = open_token(module, "third", pin)
third.generate_key_pair(KeyAlgorithm.EC_P256, "third-key")
signature = first.sign(pair.key_id, b"after", algorithm)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
pair.public_key.verify(signature, b"after", ec.ECDSA(hashes.SHA256()))
print("verified")
"""


def test_a_token_created_later_does_not_confuse_the_handles_of_an_open_token(tmp_path: Path) -> None:
    """Opening a token made after the library loaded re-initialises PKCS#11, and SoftHSM2 then hands out
    session and object numbers from 1 again: every open token must reconnect, or a cached handle reaches
    another token's key (seen in the benchmark before the library generation existed). A fresh process
    makes the numbers collide for certain."""
    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(
        SOFTHSM_CONF.read_text().replace(str(SOFTHSM_CONF.parent / "tokens"), str(tmp_path / "tokens"))
    )
    result = subprocess.run(
        [sys.executable, "-c", HANDLE_REUSE_CHILD, str(conf)],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "verified", result.stderr


SIGNING_CHILD = """
import sys, threading
from ca.hsm import SignatureAlgorithm, open_token
label, pin, key_id, rounds = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), int(sys.argv[4])
token = open_token("/usr/lib/softhsm/libsofthsm2.so", label, pin)
algorithm = SignatureAlgorithm("ecdsa", "sha256")
signed = []
def sign() -> None:
    token.sign(key_id, b"official decision", algorithm)
    signed.append(1)
for _ in range(rounds):  # fresh threads: fresh sessions and key look-ups every round
    threads = [threading.Thread(target=sign) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
print(len(signed))
"""


def _children(script: str, count: int, *arguments: str) -> list[subprocess.Popen[str]]:
    """``count`` Python processes running ``script`` against this module's token, started together."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", script, LABEL, PIN, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def _newcomers(key_id: str, count: int) -> None:
    """``count`` processes, one after the other, each logging in, looking its key up and signing 4 times:
    every one must succeed."""
    for _ in range(count):
        newcomer = subprocess.run(
            [sys.executable, "-c", SIGNING_CHILD, LABEL, PIN, key_id, "1"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert newcomer.returncode == 0 and newcomer.stdout.strip() == "4", newcomer.stderr


def _undisturbed(children: list[subprocess.Popen[str]], expected: str) -> None:
    """Each child printed ``expected`` and never needed a recovery."""
    for child in children:
        stdout, stderr = child.communicate(timeout=180)
        assert child.returncode == 0 and stdout.strip() == expected, stderr or stdout[-300:]
        assert "re-initialising" not in stderr, stderr


def test_processes_starting_while_others_sign_disturb_no_one(
    token: Token, key_pairs: dict[KeyAlgorithm, bytes]
) -> None:
    """SoftHSM2 rewrites the token file at every C_Login, and a process reading the token at that moment
    used to lose its keys until it re-initialised, logging in again and knocking the next one over (CI
    failed this way). With the store lock, processes that start and log in while three others sign from
    fresh threads cause no failure and not even a recovery."""
    key_id = key_pairs[KeyAlgorithm.EC_P256].hex()
    signers = _children(SIGNING_CHILD, 3, key_id, "150")
    _newcomers(key_id, 6)
    _undisturbed(signers, "600")


REWRITING_CHILD = """
import sys
from ca.hsm import open_token
label, pin, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
token = open_token("/usr/lib/softhsm/libsofthsm2.so", label, pin)
seen = []
def count_up(current):
    seen.append(int(current or 0))
    return str(int(current or 0) + 1)
for _ in range(rounds):
    token.revise_tagged_text("test-counter", count_up)
    seen.append(int(token.read_tagged_text("test-counter") or 0))
print("monotone" if seen == sorted(seen) else f"went back: {seen}")
"""


def test_rewrites_of_one_object_neither_interleave_nor_disturb_signers(
    token: Token, key_pairs: dict[KeyAlgorithm, bytes]
) -> None:
    """An in-place rewrite (the audit anchor's move) holds the token store exclusively, and this is why:
    three processes count one data object up while three others sign with a key of the same token and
    newcomers log in and look keys up. Every increment lands (no read-then-write interleaves), every value a
    process reads only grows, and no signer even needs a recovery. (Held only shared plus a lock of the
    object's own, as SoftHSM2's per-object file locks would suggest is enough, the signers lose their key
    handles: ObjectHandleInvalid and a re-initialisation in every run, seen on SoftHSM 2.6.1.)"""
    token.write_tagged_text("test-counter", "0")
    key_id = key_pairs[KeyAlgorithm.EC_P256].hex()
    counters = _children(REWRITING_CHILD, 3, "200")
    signers = _children(SIGNING_CHILD, 3, key_id, "100")
    _newcomers(key_id, 3)
    _undisturbed(signers, "400")
    _undisturbed(counters, "monotone")
    assert token.read_tagged_text("test-counter") == "600"
