"""Sole control, tried as the people it must hold against: an operator with both token PINs and the
database, an administrator making a second way in, revocation, and a deployment at scale.

The oracles are not ours: python-pkcs11 driven directly with the PINs an operator can read, and OpenSC's
`pkcs11-tool` listing what the tokens hold.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from sqlalchemy import select

from ca.activation import CredentialState, GrantKind, SigningCredential
from ca.errors import StateConflict
from ca.hsm import KeyAlgorithm, public_key_of
from ca.issuance import GenerateInHsm, issue_certificate
from ca.profiles import CertificateKind, parse_request
from ca.signing_keys import subscriber_key
from govsign.settings import DEFAULT_PKCS11_MODULE
from tests.conftest import DEMO, HOLDER_PIN, SOFTHSM_CONF, Deployment, issue_in_hsm
from tests.pdf_samples import one_page_pdf

_UNWRAP_MECHANISMS = (
    Mechanism.AES_KEY_WRAP_PAD,
    Mechanism.AES_KEY_WRAP,
    Mechanism.AES_CBC_PAD,
    Mechanism.AES_ECB,
)


def _token_pin(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def test_both_token_pins_and_the_database_make_no_signature_with_an_officials_key(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """Everything an operator can read on the server: no token object is the official's key, and the
    stored blob unwraps under no mechanism the KEK allows; `govsign sign` without the PIN writes nothing."""
    deployment = sqlite_deployment
    serial = issue_in_hsm(deployment)
    key = subscriber_key(deployment.authority, serial)
    official_public = key.certificate.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    with deployment.authority.database.transaction() as session:
        sealed = session.scalar(
            select(SigningCredential.sealed_key).where(SigningCredential.key_id == key.key_id)
        )
    assert sealed is not None
    settings = deployment.settings
    library = pkcs11.lib(DEFAULT_PKCS11_MODULE)
    for label, pin in (
        (settings.token_label, _token_pin(settings.service_pin_path)),
        (settings.keys_label, _token_pin(settings.keys_pin_path)),
    ):
        with library.get_token(token_label=label).open(user_pin=pin) as session:
            for private in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
                assert private[Attribute.ID] != bytes.fromhex(key.key_id)
                assert not private[Attribute.EXTRACTABLE] or private[Attribute.SENSITIVE]
            publics = [
                public_key_of(public).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
                for public in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY})
            ]
            assert official_public not in publics  # no pair in either token is the official's
            if label != settings.keys_label:
                continue
            kek: Any = session.get_key(object_class=ObjectClass.SECRET_KEY, label="govsign-subscriber-kek")
            for blob in (sealed, sealed[12:], sealed[12:-16], sealed[:-16]):
                for mechanism in _UNWRAP_MECHANISMS:
                    with pytest.raises(pkcs11.exceptions.PKCS11Error):
                        kek.unwrap_key(
                            ObjectClass.PRIVATE_KEY,
                            KeyType.EC,
                            blob,
                            mechanism=mechanism,
                            store=False,
                            capabilities=pkcs11.MechanismFlag.SIGN,
                        )
                    with pytest.raises(pkcs11.exceptions.PKCS11Error):
                        kek.decrypt(blob, mechanism=mechanism)
    document = one_page_pdf(tmp_path / "in.pdf")
    refused = deployment.cli(
        "sign", str(document), "-o", str(tmp_path / "out.pdf"), "--cert", serial, check=False
    )
    assert refused.returncode != 0 and "holder's PIN" in refused.stderr, refused.stderr
    assert not (tmp_path / "out.pdf").exists()


def test_a_certificate_has_one_account_so_no_administrator_opens_a_second_way_in(
    sqlite_deployment: Deployment,
) -> None:
    serial = issue_in_hsm(sqlite_deployment)
    sqlite_deployment.cli("account", "create-official", "--cert", serial)
    second = sqlite_deployment.cli("account", "create-official", "--cert", serial, check=False)
    assert second.returncode == 5 and "already" in second.stderr, second.stderr


def test_after_a_key_compromise_revocation_no_face_signs_with_the_key(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """Crypto-shredding: the sealed key is gone in the revocation's own transaction, so even the right PIN
    and a face that skipped the certificate's status could not sign."""
    deployment = sqlite_deployment
    serial = issue_in_hsm(deployment)
    key_id = subscriber_key(deployment.authority, serial).key_id
    deployment.cli("ca", "revoke", serial, "--reason", "key-compromised")
    module = deployment.authority.activation_module()
    assert module.status(key_id).state is CredentialState.DESTROYED
    with deployment.authority.database.transaction() as session:
        entry = session.scalar(select(SigningCredential).where(SigningCredential.key_id == key_id))
        assert entry is not None and entry.sealed_key is None and entry.destroyed_reason == "keyCompromise"
    document = one_page_pdf(tmp_path / "in.pdf")
    cli = deployment.cli(
        "sign",
        str(document),
        "-o",
        str(tmp_path / "out.pdf"),
        "--cert",
        serial,
        check=False,
        stdin=HOLDER_PIN + "\n",
    )
    assert cli.returncode != 0 and "revoked" in cli.stderr, cli.stderr
    with pytest.raises(StateConflict, match="destroyed"):
        module.authorize(
            key_id, HOLDER_PIN, [b"\0" * 32], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="t"
        )


@pytest.mark.slow
def test_two_hundred_officials_add_no_object_to_any_token(sqlite_deployment: Deployment) -> None:
    """pkcs11-tool (OpenSC) counts the private keys of the service token before and after 200 officials;
    the keys token holds no private key at all, and nothing in either is extractable."""
    settings = sqlite_deployment.settings

    def listing(label: str, pin_path: Path) -> str:
        return subprocess.run(
            ["pkcs11-tool", "--module", DEFAULT_PKCS11_MODULE, "--token-label", label, "--login",
             "--pin", _token_pin(pin_path), "--list-objects", "--type", "privkey"],
            capture_output=True, text=True, check=True,
            env={"SOFTHSM2_CONF": str(SOFTHSM_CONF), "PATH": "/usr/bin:/bin"},
        ).stdout  # fmt: skip

    before = listing(settings.token_label, settings.service_pin_path)
    request = parse_request(
        "individual", json.loads((DEMO / "official-nguyen-van-anh.json").read_text("utf-8"))
    )
    for _ in range(200):
        issue_certificate(
            sqlite_deployment.authority,
            CertificateKind.INDIVIDUAL,
            request,
            GenerateInHsm(KeyAlgorithm.EC_P256),
            actor="bulk registration",
        )
    after = listing(settings.token_label, settings.service_pin_path)
    assert after.count("Private Key Object") == before.count("Private Key Object") > 0
    assert "extractable" not in after.replace("never extractable", "")
    assert listing(settings.keys_label, settings.keys_pin_path).count("Private Key Object") == 0
