"""The pure steps, without an HSM, a database or a server: the fast tier (`pytest -m "not hsm"`).

Each is a step the HSM-backed tests also pass through; here it is judged alone, with `cryptography`
as the independent check where a signature is involved.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ca.activation.rules import checked_hashes, normalise_code, setup_code
from ca.activation.sealing import Unsealed, new_salt, open_seal, sad_digest, sad_key, seal
from ca.certificate_building import assemble_certificate, build_tbs, random_serial
from ca.errors import InvalidRequest
from ca.hsm import KeyAlgorithm
from signing.appearance import AppearanceMode, AppearanceRequest
from signing.batch_store import options_from_json, options_to_json
from signing.pades import Certification, Level, SigningOptions

pytestmark = pytest.mark.pure


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def test_the_tbs_signed_elsewhere_assembles_into_a_certificate_its_issuer_verifies() -> None:
    """Steps 3 and 6 of docs/ISSUANCE-CYCLE.md with a software issuer in place of the HSM."""
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    issuer = (
        x509.CertificateBuilder()
        .subject_name(_name("Issuer"))
        .issuer_name(_name("Issuer"))
        .public_key(issuer_key.public_key())
        .serial_number(random_serial())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(issuer_key, hashes.SHA256())
    )
    subject_key = ec.generate_private_key(ec.SECP256R1())
    serial = random_serial()
    lint_copy, tbs = build_tbs(
        subject=_name("Nguyễn Văn Ánh"),
        public_key=subject_key.public_key(),
        serial=serial,
        not_before=now,
        not_after=now + dt.timedelta(days=10),
        extensions=[],
        issuer_name=issuer.subject,
        issuer_key_identifier=None,
        issuer_algorithm=KeyAlgorithm.RSA2048,
    )
    assert x509.load_der_x509_certificate(lint_copy).tbs_certificate_bytes == tbs
    certificate = assemble_certificate(tbs, issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256()))
    certificate.verify_directly_issued_by(issuer)
    assert certificate.serial_number == serial and 2**64 <= serial < 2**128
    assert certificate.subject.rfc4514_string() == "CN=Nguyễn Văn Ánh,C=VN"


def test_signing_options_survive_the_batch_table_unchanged() -> None:
    options = SigningOptions(
        level=Level.B_LTA,
        appearance=AppearanceRequest(
            AppearanceMode.COPY, box=(1.0, 2.0, 3.0, 4.0), image=Path("/x/dau.png"), agency="Sở Tư pháp"
        ),
        pss=True,
        certify=Certification.FORM_FILLING,
        reason="Sao y bản chính",
    )
    assert options_from_json(options_to_json(options)) == options


def test_a_seal_opens_only_with_its_key_and_for_its_credential() -> None:
    key, other = sad_key("a" * 43, "credential-1"), sad_key("b" * 43, "credential-1")
    sealed = seal(key, b"wrapped key", b"credential-1|pin")
    assert open_seal(key, sealed, b"credential-1|pin") == b"wrapped key"
    for wrong_key, associated in (
        (other, b"credential-1|pin"),
        (key, b"credential-2|pin"),
        (key, b"credential-1|setup-code"),
    ):
        with pytest.raises(Unsealed):
            open_seal(wrong_key, sealed, associated)
    assert new_salt() != new_salt() and len(sad_digest("x")) == 64


def test_setup_codes_are_forgiving_to_type_and_hashes_are_checked() -> None:
    code = setup_code()
    assert len(code) == 19 and code.count("-") == 3
    assert normalise_code(f" {code.lower().replace('-', ' ')} ") == code.replace("-", "")
    assert checked_hashes([b"\0" * 32], "sha256") == [b"\0" * 32]
    # the same hash twice is two documents to sign (two copies of one file in a batch); the grant counts
    # them (tests/test_activation.py: signed twice and no more)
    assert checked_hashes([b"\0" * 32] * 2, "sha256") == [b"\0" * 32] * 2
    for hashes_, algorithm in (
        ([b"\0" * 31], "sha256"),
        ([], "sha256"),
        ([b"\0" * 32], "md5"),
    ):
        with pytest.raises(InvalidRequest):
            checked_hashes(hashes_, algorithm)
