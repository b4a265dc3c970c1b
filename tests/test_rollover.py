"""Rolling the TSA and the service seal over (issue 14): documents time-stamped before and after validate
alike, the new token names the new TSA certificate, the seal setting moves, and every step is audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from ca.rollover import RolledKey, roll_over
from ca.signing_keys import service_seal_key, subscriber_key
from ca.status import StatusServices
from ca.store import AuditEntry
from signing.pades import Level, SigningOptions
from tests.conftest import Deployment, issue_in_hsm, make_deployment, sign_as_holder
from tests.pdf_samples import one_page_pdf
from tests.test_pades import assert_pyhanko_valid


@pytest.fixture(scope="module")
def own() -> Deployment:
    """A deployment of this module's own: rolling its TSA over must not change the others'."""
    return make_deployment("rollover", None)


def _stamped_by(pdf: Path) -> int:
    """The serial of the TSA certificate that signed the signature's time-stamp token."""
    with pdf.open("rb") as stream:
        (signature,) = PdfFileReader(stream).embedded_regular_signatures
        unsigned = signature.signer_info["unsigned_attrs"]
        (token,) = [a["values"][0] for a in unsigned if a["type"].native == "signature_time_stamp_token"]
        signer: cms.SignerInfo = token["content"]["signer_infos"][0]
        return int(signer["sid"].chosen["serial_number"].native)


def test_documents_stamped_before_and_after_a_tsa_rollover_both_validate(
    own: Deployment, tmp_path: Path
) -> None:
    key = subscriber_key(own.authority, issue_in_hsm(own))
    source = one_page_pdf(tmp_path / "to-sign.pdf", text="Quyet dinh")
    before, after = tmp_path / "before.pdf", tmp_path / "after.pdf"
    options = SigningOptions(level=Level.B_LT)  # the DSS carries both TSA chains: no fetching needed
    sign_as_holder(StatusServices(own.authority), key, source, before, options, actor="t")
    old_tsa = _stamped_by(before)
    old, issued = roll_over(own.authority, RolledKey.TSA, actor="ceremony-test")
    assert int(old, 16) == old_tsa and issued.serial_hex != old
    sign_as_holder(StatusServices(own.authority), key, source, after, options, actor="t")  # a new process
    assert _stamped_by(after) == int(issued.serial_hex, 16)
    for signed in (before, after):
        assert_pyhanko_valid(signed, own, Level.B_LT)
        ours = own.cli("verify", str(signed), "--offline", check=False)
        assert ours.returncode == 0 and "TOTAL_PASSED" in ours.stdout, ours.stdout + ours.stderr


def test_the_seal_rolls_over_to_a_new_key_and_the_old_one_stays_valid(own: Deployment) -> None:
    old_key = service_seal_key(own.authority)
    assert old_key is not None
    old, issued = roll_over(own.authority, RolledKey.SEAL, actor="ceremony-test")
    new_key = service_seal_key(own.authority)
    assert new_key is not None and old == old_key.serial and new_key.serial == issued.serial_hex
    assert new_key.key_id != old_key.key_id
    assert new_key.certificate.subject == old_key.certificate.subject
    assert subscriber_key(own.authority, old).serial == old  # still valid: what it sealed stays valid
    with own.authority.database.transaction() as session:
        entries = (
            session.execute(select(AuditEntry).where(AuditEntry.action == "ca.rollover")).scalars().all()
        )
    assert {entry.object for entry in entries} >= {"service:seal"}


def test_the_cli_rolls_the_tsa_over(own: Deployment) -> None:
    result = own.cli("ca", "rollover", "tsa")
    assert "tsa:" in result.stdout and "->" in result.stdout
    refused = own.cli("ca", "rollover", "root", check=False)
    assert refused.returncode != 0
