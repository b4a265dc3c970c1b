"""The batch worker's check of its own output (signing/self_check.py) passes what is right and nothing else.

It replaced a full validation in the batch, so it must still catch what can go wrong in a worker: bytes
changed after signing, a signature by another key, a time-stamp over another signature.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from ca.signing_keys import SubscriberKey, subscriber_key
from ca.status import StatusServices
from signing.errors import SigningError
from signing.pades import Level, SigningOptions
from signing.self_check import check_own_signature
from tests.conftest import Deployment, issue_in_hsm, sign_as_holder
from tests.pdf_samples import one_page_pdf


@pytest.fixture(scope="module")
def keys(sqlite_deployment: Deployment) -> tuple[SubscriberKey, SubscriberKey]:
    authority = sqlite_deployment.authority
    return (
        subscriber_key(authority, issue_in_hsm(sqlite_deployment)),
        subscriber_key(authority, issue_in_hsm(sqlite_deployment, algorithm="rsa2048")),
    )


@pytest.fixture(scope="module")
def signed(
    sqlite_deployment: Deployment,
    keys: tuple[SubscriberKey, SubscriberKey],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, bytes]:
    """The same page signed at B-B, B-T and B-LTA by the first key."""
    folder = tmp_path_factory.mktemp("self-check")
    services = StatusServices(sqlite_deployment.authority)
    outputs = {}
    for level in (Level.B_B, Level.B_T, Level.B_LTA):
        source = one_page_pdf(folder / f"in-{level.value}.pdf", text=f"Level {level.value}")
        target = folder / f"out-{level.value}.pdf"
        sign_as_holder(services, keys[0], source, target, SigningOptions(level=level), actor="test")
        outputs[level.value] = target.read_bytes()
    return outputs


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LTA"])
def test_a_right_output_passes(
    signed: dict[str, bytes], keys: tuple[SubscriberKey, SubscriberKey], tmp_path: Path, level: str
) -> None:
    path = tmp_path / "out.pdf"
    path.write_bytes(signed[level])
    check_own_signature(path, keys[0].certificate)
    assert path.exists()


def test_a_byte_changed_after_signing_fails_and_the_output_goes(
    signed: dict[str, bytes], keys: tuple[SubscriberKey, SubscriberKey], tmp_path: Path
) -> None:
    data = bytearray(signed["B-B"])
    at = data.index(b"stream") + 12  # a byte of the first stream: inside the signed range, not /Contents
    data[at] ^= 0x01
    path = tmp_path / "out.pdf"
    path.write_bytes(bytes(data))
    with pytest.raises(SigningError, match="does not match the document"):
        check_own_signature(path, keys[0].certificate)
    assert not path.exists()


def test_a_signature_by_another_key_fails(
    signed: dict[str, bytes], keys: tuple[SubscriberKey, SubscriberKey], tmp_path: Path
) -> None:
    path = tmp_path / "out.pdf"
    path.write_bytes(signed["B-B"])
    with pytest.raises(SigningError, match="another certificate"):
        check_own_signature(path, keys[1].certificate)
    assert not path.exists()


def test_a_time_stamp_over_another_signature_fails(
    signed: dict[str, bytes], keys: tuple[SubscriberKey, SubscriberKey], tmp_path: Path
) -> None:
    """The B-T file with one digit of its time-stamp's message imprint changed (inside /Contents, so the
    byte ranges and the signature itself stay intact)."""
    data = signed["B-T"]
    signature = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures[-1]
    imprint = hashlib.sha256(signature.signer_info["signature"].native).hexdigest()
    for written in (imprint.encode(), imprint.upper().encode()):
        if written in data:
            break
    else:
        raise AssertionError("the time-stamp's imprint is not in the file's /Contents as hex")
    at = data.index(written)
    changed = data[:at] + (b"0" if data[at : at + 1] != b"0" else b"1") + data[at + 1 :]
    path = tmp_path / "out.pdf"
    path.write_bytes(changed)
    with pytest.raises(SigningError, match="time-stamp covers another signature"):
        check_own_signature(path, keys[0].certificate)
