"""Opening the files offices really have (signing/documents.py), judged without the HSM: every one opens
for an incremental update or is refused with words that are true, and no library call leaves the process
changed (sys.stderr) behind it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pikepdf
import pytest

from signing.documents import open_for_signing
from signing.errors import InvalidDocument
from tests.pdf_quirks import circular_form_tree, cyclic_outline, cyclic_page_tree, public_key_encrypted
from tests.pdf_samples import one_page_pdf

pytestmark = pytest.mark.pure

MAX_BYTES = 64 * 2**20


def opened(source: Path, tmp_path: Path, *, password: str | None = None, repair: bool = False) -> bool:
    """Open ``source`` as signing does; True when it had to be repaired first."""
    document = open_for_signing(
        source, password=password, repair=repair, max_bytes=MAX_BYTES, scratch=tmp_path
    )
    document.close()
    return document.repaired


def test_checking_a_linearized_file_leaves_sys_stderr_in_place(tmp_path: Path) -> None:
    """pikepdf's check_linearization (called by check_pdf_syntax) sets sys.stderr to the stream it writes
    its report to and never puts it back: every later error message of the process would vanish."""
    linearized = tmp_path / "linearized.pdf"
    with pikepdf.open(one_page_pdf(tmp_path / "plain.pdf")) as pdf:
        pdf.save(linearized, linearize=True)
    before = sys.stderr
    assert opened(linearized, tmp_path) is False
    assert sys.stderr is before


def test_a_file_encrypted_for_a_certificate_holder_is_refused_as_such(tmp_path: Path) -> None:
    source = public_key_encrypted(tmp_path)
    with pytest.raises(InvalidDocument, match="encrypted for the holders of certain certificates") as refusal:
        opened(source, tmp_path, password="any")
    assert "damaged" not in str(refusal.value)


def linearized_with_hint_problems(tmp_path: Path) -> Path:
    """A linearized file whose hint table no longer matches its objects (as old Acrobat-made files have):
    qpdf's check reports linearization warnings, yet every reader reads it."""
    source = tmp_path / "linearized.pdf"
    with pikepdf.open(one_page_pdf(tmp_path / "plain.pdf", text="A" * 40)) as pdf:
        pdf.save(source, linearize=True)
    data = source.read_bytes()
    start = data.index(b"/E ") + 3
    end = data.index(b"/", start)
    wrong = str(int(data[start:end]) + 7).encode().ljust(end - start)[: end - start]
    source.write_bytes(data[:start] + wrong + data[end:])
    return source


def test_linearization_hints_that_do_not_match_are_no_damage(tmp_path: Path) -> None:
    """Hints only speed up page-at-a-time loading; an incremental update ends the linearization anyway."""
    source = linearized_with_hint_problems(tmp_path)
    with pikepdf.open(source) as pdf:
        assert pdf.check_pdf_syntax(), "qpdf finds the hints wrong"
    assert opened(source, tmp_path) is False


OWNER = "owner-secret"
USER = "user-secret"


def encrypted(
    tmp_path: Path, name: str, revision: Literal[2, 3, 4, 5, 6], *, user: str, aes: bool, metadata: bool
) -> Path:
    """qpdf's standard security handler, written by pikepdf (revision 5 by the qpdf command, which pikepdf
    does not write)."""
    plain = one_page_pdf(tmp_path / f"{name}-plain.pdf")
    target = tmp_path / f"{name}.pdf"
    if revision == 5:
        flags = ["--cleartext-metadata"] if not metadata else []
        command = ["qpdf", "--allow-weak-crypto", "--encrypt", user, OWNER, "256", "--force-R5", *flags, "--"]
        subprocess.run([*command, str(plain), str(target)], check=True)
        return target
    with pikepdf.open(plain) as pdf:
        encryption = pikepdf.Encryption(owner=OWNER, user=user, R=revision, aes=aes, metadata=metadata)
        pdf.save(target, encryption=encryption)
    return target


VARIANTS: list[tuple[Literal[2, 3, 4, 6], bool, bool]] = [
    (2, False, False),
    (3, False, False),
    (4, False, False),
    (4, True, True),
    (4, True, False),
    (6, True, True),
    (6, True, False),
]


@pytest.mark.parametrize(("revision", "aes", "metadata"), VARIANTS)
def test_owner_password_only_files_open_without_asking(
    revision: Literal[2, 3, 4, 6], aes: bool, metadata: bool, tmp_path: Path
) -> None:
    source = encrypted(tmp_path, "owner-only", revision, user="", aes=aes, metadata=metadata)
    assert opened(source, tmp_path) is False


@pytest.mark.parametrize(("revision", "aes", "metadata"), VARIANTS)
def test_user_password_files_open_with_their_password_and_say_so_without(
    revision: Literal[2, 3, 4, 6], aes: bool, metadata: bool, tmp_path: Path
) -> None:
    source = encrypted(tmp_path, "user", revision, user=USER, aes=aes, metadata=metadata)
    assert opened(source, tmp_path, password=USER) is False
    with pytest.raises(InvalidDocument, match="give its password"):
        opened(source, tmp_path)
    with pytest.raises(InvalidDocument, match="the password does not open this PDF"):
        opened(source, tmp_path, password="wrong")


@pytest.mark.parametrize("metadata", [True, False])
def test_aes_256_revision_5_opens_without_asking_or_with_its_password(metadata: bool, tmp_path: Path) -> None:
    """Acrobat 9's AES-256 (revision 5), which pyHanko alone does not open (signing/aes256_revision5.py)."""
    owner_only = encrypted(tmp_path, "r5-owner-only", 5, user="", aes=True, metadata=metadata)
    assert opened(owner_only, tmp_path) is False
    with_user = encrypted(tmp_path, "r5-user", 5, user=USER, aes=True, metadata=metadata)
    assert opened(with_user, tmp_path, password=USER) is False
    assert opened(with_user, tmp_path, password=OWNER) is False
    with pytest.raises(InvalidDocument, match="give its password"):
        opened(with_user, tmp_path)
    with pytest.raises(InvalidDocument, match="the password does not open this PDF"):
        opened(with_user, tmp_path, password="wrong")


def test_a_page_tree_that_loops_is_repaired_when_allowed(tmp_path: Path) -> None:
    source = cyclic_page_tree(tmp_path)
    with pytest.raises(InvalidDocument, match=r"Loop detected in /Pages.*allow repair"):
        opened(source, tmp_path)
    assert opened(source, tmp_path, repair=True) is True
    with pikepdf.open(tmp_path / "repaired.pdf") as pdf:
        assert len(pdf.pages) == 1


def test_outlines_and_form_fields_that_loop_are_repaired_when_allowed(tmp_path: Path) -> None:
    for source in (cyclic_outline(tmp_path, damaged=True), circular_form_tree(tmp_path)):
        with pytest.raises(InvalidDocument, match="allow repair"):
            opened(source, tmp_path)
        assert opened(source, tmp_path, repair=True) is True
