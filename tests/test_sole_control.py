"""Sole control, tried as the people it must hold against: an operator with both token PINs and the
database, an administrator making a second way in, revocation, and a deployment at scale.

The oracles are not ours: python-pkcs11 driven directly with the PINs an operator can read, and OpenSC's
`pkcs11-tool` listing what the tokens hold.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pkcs11 import Mechanism
from sqlalchemy import select

from ca.activation import CredentialState, GrantKind, SigningCredential
from ca.audit_checkpoints import public_key_pem
from ca.errors import StateConflict
from ca.hsm import KeyAlgorithm
from ca.issuance import GenerateInHsm, SubjectKey, issue_certificate
from ca.profiles import CertificateKind, parse_request
from ca.signing_keys import subscriber_key
from ca.store import CertificateRecord
from govsign.config.settings import DEFAULT_PKCS11_MODULE
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


# What an operator could run on the server with both token PINs: python-pkcs11 alone, no govsign code.
ATTACKER = """
import json, sys
import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import PKCS11Error
module, tokens, key_id, sealed = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], bytes.fromhex(sys.argv[4])
library, found = pkcs11.lib(module), {"same_id": 0, "opened": 0, "private_keys": 0}
PRIVATE_ONLY = {a: pkcs11.constants.DEFAULT for a in (Attribute.ENCRYPT, Attribute.VERIFY, Attribute.WRAP)}
for label, pin in tokens:
    with library.get_token(token_label=label).open(user_pin=pin) as session:
        for private in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
            found["private_keys"] += 1
            found["same_id"] += private[Attribute.ID] == bytes.fromhex(key_id)
        for kek in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.UNWRAP: True}):
            for blob in (sealed, sealed[12:], sealed[12:-16], sealed[:-16]):
                for mechanism in (Mechanism.AES_KEY_WRAP_PAD, Mechanism.AES_KEY_WRAP):
                    for key_type in (KeyType.EC, KeyType.RSA):
                        try:
                            kek.unwrap_key(ObjectClass.PRIVATE_KEY, key_type, blob, mechanism=mechanism,
                                           capabilities=MechanismFlag.SIGN, template=PRIVATE_ONLY)
                            found["opened"] += 1
                        except (PKCS11Error, TypeError):
                            pass
print(json.dumps(found))
"""


def test_both_token_pins_and_the_database_make_no_signature_with_an_officials_key(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """Everything an operator can read on the server (both token PINs, every table), used with
    python-pkcs11 alone: no token object is the official's key and the stored blob opens under no key and
    mechanism of either token; `govsign sign` without the PIN writes nothing."""
    deployment = sqlite_deployment
    serial = issue_in_hsm(deployment)
    key = subscriber_key(deployment.authority, serial)
    with deployment.authority.database.transaction() as session:
        sealed = session.scalar(
            select(SigningCredential.sealed_key).where(SigningCredential.key_id == key.key_id)
        )
    assert sealed is not None
    settings = deployment.settings
    assert not settings.keys_so_pin_path.exists()  # nobody on the server can make another trusted key
    tokens = [
        (settings.token_label, _token_pin(settings.service_pin_path)),
        (settings.keys_label, _token_pin(settings.keys_pin_path)),
    ]
    attempt = subprocess.run(
        [sys.executable, "-c", ATTACKER, DEFAULT_PKCS11_MODULE, json.dumps(tokens), key.key_id, sealed.hex()],
        capture_output=True, text=True, env={**deployment.env},
    )  # fmt: skip
    assert attempt.returncode == 0, attempt.stderr
    found = json.loads(attempt.stdout)
    assert found["private_keys"] > 0, "the attacker saw the CA's own keys: the PINs worked"
    assert (found["same_id"], found["opened"]) == (0, 0), found
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
    # a renewal keeps the key under a new serial: still the same holder's one account
    short = issue_in_hsm(sqlite_deployment, demo="official-tran-thi-binh-60-days.json")
    sqlite_deployment.cli("account", "create-official", "--cert", short)
    renewed = sqlite_deployment.cli("ca", "renew", short).stdout.strip().splitlines()[-1]
    third = sqlite_deployment.cli("account", "create-official", "--cert", renewed, check=False)
    assert third.returncode == 5 and "already" in third.stderr, third.stderr


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

    environment = {"SOFTHSM2_CONF": str(SOFTHSM_CONF), "PATH": "/usr/bin:/bin"}
    slots = subprocess.run(
        ["pkcs11-tool", "--module", DEFAULT_PKCS11_MODULE, "--list-token-slots"],
        capture_output=True, text=True, env=environment, check=True,
    ).stdout  # fmt: skip

    def listing(label: str, pin_path: Path) -> str:
        """The token's private keys, by pkcs11-tool. Its --token-label matches a prefix (service-sqlite
        would find service-sqlite-keys too), so the slot is found by the exact label first."""
        slot = re.search(
            r"^Slot \d+ \((0x[0-9a-f]+)\):.*\n\s+token label\s+: " + re.escape(label) + r"\n", slots, re.M
        )
        assert slot is not None, slots
        result = subprocess.run(
            ["pkcs11-tool", "--module", DEFAULT_PKCS11_MODULE, "--slot", slot.group(1), "--login",
             "--pin", _token_pin(pin_path), "--list-objects", "--type", "privkey"],
            capture_output=True, text=True, env=environment,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    with sqlite_deployment.authority.database.transaction() as session:
        public_key_pem(
            session, sqlite_deployment.authority.token
        )  # the audit's own key exists before we count
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


def test_keys_made_before_sole_control_are_re_keyed_for_their_holders(sqlite_deployment: Deployment) -> None:
    """A subscriber key left in the service token by an older version (non-extractable: it cannot be
    wrapped) does not sign; `govsign keys migrate --apply` replaces it for the same holder and subject."""
    deployment = sqlite_deployment
    authority = deployment.authority
    pair = authority.token.generate_key_pair(KeyAlgorithm.EC_P256, "legacy-subscriber")
    request = parse_request(
        "individual", json.loads((DEMO / "official-nguyen-van-anh.json").read_text("utf-8"))
    )
    legacy = issue_certificate(
        authority,
        CertificateKind.INDIVIDUAL,
        request,
        SubjectKey("hsm", pair.public_key, pair.key_id),
        actor="v1",
    ).serial_hex
    account = deployment.cli("account", "create-official", "--cert", legacy).stdout.split(":")[0].split()[-1]
    assert not subscriber_key(authority, legacy).held
    listed = deployment.cli("keys", "migrate").stdout
    assert f"would re-key {legacy}" in listed
    objects = authority.token.count_objects()
    applied = deployment.cli("keys", "migrate", "--apply").stdout
    line = next(line for line in applied.splitlines() if line.startswith(legacy))
    new_serial, setup_code = line.split(" -> ")[1].split()[0], line.rsplit(" ", 1)[-1]
    assert f"accounts {account}" in line
    assert authority.token.count_objects() == objects - 2  # the old pair is gone from the service token
    shown = deployment.cli("ca", "show", legacy).stdout
    assert "revoked" in shown and "superseded" in shown
    new_key = subscriber_key(authority, new_serial)
    assert new_key.held and new_key.certificate.not_valid_after_utc == subscriber_key_end(deployment, legacy)
    deployment.cli("account", "set-pin", account, stdin=f"{setup_code}\n{HOLDER_PIN}\n")
    assert deployment.cli("keys", "migrate").stdout.strip().endswith("under its holder's sole control")


def subscriber_key_end(deployment: Deployment, serial: str) -> object:
    with deployment.authority.database.transaction() as session:
        record = session.scalar(select(CertificateRecord).where(CertificateRecord.serial == serial))
        assert record is not None
        return record.not_after


def test_a_compromised_key_is_revoked_under_every_serial_it_carries(sqlite_deployment: Deployment) -> None:
    """A renewal keeps the key: when that key is compromised, the renewed certificate goes too (relying
    parties must not keep trusting it), and the key is destroyed once."""
    deployment = sqlite_deployment
    first = issue_in_hsm(deployment, demo="official-tran-thi-binh-60-days.json")
    renewed = deployment.cli("ca", "renew", first).stdout.strip().splitlines()[-1]
    deployment.cli("ca", "revoke", first, "--reason", "key-compromised")
    for serial in (first, renewed):
        shown = deployment.cli("ca", "show", serial).stdout
        assert "revoked" in shown and "keyCompromise" in shown, shown
