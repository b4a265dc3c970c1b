"""The streamed CRL encoder (ca.crl_der) against asn1crypto's encoding of the same CRL, with a software key
in place of the HSM and `cryptography` as the independent reader: a pure step, no HSM or database."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from asn1crypto import algos, core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding

from ca.crl_der import CrlFields, CrlWriter, SignedCrl, unsigned_crl
from ca.reasons import RevocationReason

pytestmark = pytest.mark.pure

Entry = tuple[str, dt.datetime, str | None, dt.datetime | None]
THIS_UPDATE = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
ISSUER = asn1_x509.Name.build({"country_name": "VN", "common_name": "govsign test CA"})
SIGNATURE_ALGORITHM = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})
EXTENSIONS = asn1_crl.TBSCertListExtensions(
    [
        {"extn_id": "authority_key_identifier", "extn_value": {"key_identifier": b"\x01" * 20}},
        {"extn_id": "crl_number", "extn_value": 42},
    ]
)


def _fields() -> CrlFields:
    return CrlFields(
        signature_algorithm=SIGNATURE_ALGORITHM.dump(),
        issuer=ISSUER.dump(),
        this_update=THIS_UPDATE,
        next_update=THIS_UPDATE + dt.timedelta(days=7),
        extensions=EXTENSIONS.dump(),
    )


def _entries(count: int) -> list[Entry]:
    """Random entries, and the edge cases first: a serial whose first bit is set (a 0x00 octet goes before
    it), an odd number of hex digits, a revocation after 2049 (GeneralizedTime), unspecified and unknown
    reasons (no reasonCode), an invalidity date."""
    rng = random.Random(14)
    reasons = [reason.value for reason in RevocationReason] + [None]
    edge: list[Entry] = [
        ("80" + "11" * 15, THIS_UPDATE, "keyCompromise", THIS_UPDATE - dt.timedelta(days=3)),
        ("abc", dt.datetime(2051, 2, 3, 4, 5, 6, tzinfo=dt.UTC), None, None),
        ("7f", THIS_UPDATE, "unspecified", dt.datetime(2060, 1, 1, tzinfo=dt.UTC)),
    ]
    start = THIS_UPDATE - dt.timedelta(days=700)
    random_entries: list[Entry] = [
        (
            format(rng.getrandbits(128) | 1 << 120, "x"),
            start + dt.timedelta(seconds=rng.randrange(60_000_000)),
            rng.choice(reasons),
            start + dt.timedelta(seconds=rng.randrange(60_000_000)) if rng.random() < 0.2 else None,
        )
        for _ in range(count - len(edge))
    ]
    return edge + random_entries


def _asn1_time(moment: dt.datetime) -> asn1_x509.Time:
    return asn1_x509.Time({"utc_time" if moment.year < 2050 else "general_time": moment})


def _asn1crypto_tbs(entries: list[Entry]) -> bytes:
    revoked = []
    for serial, revoked_at, reason, invalidity in entries:
        extensions: list[dict[str, object]] = []
        if reason not in (None, "unspecified"):
            extensions.append({"extn_id": "crl_reason", "extn_value": RevocationReason(reason).code})
        if invalidity is not None:
            extensions.append({"extn_id": "invalidity_date", "extn_value": invalidity})
        entry: dict[str, object] = {
            "user_certificate": int(serial, 16),
            "revocation_date": _asn1_time(revoked_at),
        }
        if extensions:
            entry["crl_entry_extensions"] = extensions
        revoked.append(entry)
    tbs: dict[str, object] = {
        "version": "v2",
        "signature": SIGNATURE_ALGORITHM,
        "issuer": ISSUER,
        "this_update": _asn1_time(THIS_UPDATE),
        "next_update": _asn1_time(THIS_UPDATE + dt.timedelta(days=7)),
        "crl_extensions": EXTENSIONS,
    }
    if revoked:
        tbs["revoked_certificates"] = revoked
    return bytes(asn1_crl.TbsCertList(tbs).dump())


def _signed(entries: list[Entry], key: rsa.RSAPrivateKey) -> tuple[SignedCrl, bytes]:
    """The CRL of ``entries`` signed with ``key``, and the sample the writer kept of it."""
    with CrlWriter(_fields(), sample_size=100) as writer:
        for entry in entries:
            writer.add(*entry)
        signed = writer.sign(
            "sha256", lambda digest: key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        )
        return signed, bytes(writer.sample)


@pytest.mark.parametrize("count", [0, 1, 2_000])  # 2,000 entries: a list with a 3-octet length
def test_streamed_crl_is_the_der_asn1crypto_writes_and_verifies_with_its_issuers_key(count: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    entries = _entries(count)[:count]
    signed, sample = _signed(entries, key)
    assert bytes(signed.tbs) == _asn1crypto_tbs(entries)
    crl = x509.load_der_x509_crl(signed.der)
    assert crl.public_bytes(Encoding.DER) == signed.der
    assert crl.is_signature_valid(key.public_key())
    assert len(crl) == count
    for serial, revoked_at, reason, _ in entries[:3]:
        read = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
        assert read is not None and read.revocation_date_utc == revoked_at
        reasons = [e for e in read.extensions if isinstance(e.value, x509.CRLReason)]
        assert bool(reasons) == (reason not in (None, "unspecified"))
    linted_copy = x509.load_der_x509_crl(unsigned_crl(_fields(), sample))
    assert [r.serial_number for r in linted_copy] == [int(s, 16) for s, *_ in entries[:100]]


def test_a_crl_longer_than_the_hashing_chunk_verifies_with_every_entry_in_order() -> None:
    """25,000 entries, 1.2 MB: the TBSCertList is hashed from the temporary file in two 1 MiB reads."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    entries = _entries(25_000)
    signed, _ = _signed(entries, key)
    assert len(signed.der) > 1 << 20
    crl = x509.load_der_x509_crl(signed.der)
    assert crl.is_signature_valid(key.public_key())
    assert [r.serial_number for r in crl] == [int(serial, 16) for serial, *_ in entries]
