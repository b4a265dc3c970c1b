"""Opening the files offices really have (signing/documents.py), judged without the HSM: every one opens
for an incremental update or is refused with words that are true, and no library call leaves the process
changed (sys.stderr) behind it."""

from __future__ import annotations

import sys
from pathlib import Path

import pikepdf
import pytest

from signing.documents import open_for_signing
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
