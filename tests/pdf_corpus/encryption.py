"""Corpus files under the standard security handler: AES-256, RC4-128, an owner password only, and a user
password the caller does not give (refused)."""

from __future__ import annotations

from pathlib import Path

import pikepdf

from tests.pdf_corpus.documents import CorpusPdf, _basic, _save

USER_PASSWORD = "user-pw"
OWNER_PASSWORD = "owner-pw"


def _encrypted(
    folder: Path, name: str, note: str, encryption: pikepdf.Encryption, password: str
) -> CorpusPdf:
    path = folder / f"{name}.pdf"
    _save(_basic(name, note, pages=2), path, encryption=encryption)
    return CorpusPdf(name, path, "sign", "", password=password, note=note)


def _encrypted_aes256(folder: Path) -> CorpusPdf:
    note = f"AES-256 (R6), user password {USER_PASSWORD!r}, owner password {OWNER_PASSWORD!r}"
    encryption = pikepdf.Encryption(owner=OWNER_PASSWORD, user=USER_PASSWORD, R=6)
    return _encrypted(folder, "encrypted-aes256-user-password", note, encryption, USER_PASSWORD)


def _encrypted_rc4(folder: Path) -> CorpusPdf:
    note = f"RC4-128 (R3), user password {USER_PASSWORD!r}"
    encryption = pikepdf.Encryption(owner=OWNER_PASSWORD, user=USER_PASSWORD, R=3, aes=False, metadata=False)
    return _encrypted(folder, "encrypted-rc4-128-user-password", note, encryption, USER_PASSWORD)


def _encrypted_owner_only(folder: Path) -> CorpusPdf:
    name = "encrypted-owner-only"
    note = "AES-256 with an owner password and an empty user password; modifying and annotating allowed"
    allow = pikepdf.Permissions(modify_other=True, modify_annotation=True, modify_form=True)
    encryption = pikepdf.Encryption(owner=OWNER_PASSWORD, user="", R=6, allow=allow)
    path = folder / f"{name}.pdf"
    _save(_basic(name, note), path, encryption=encryption)
    return CorpusPdf(name, path, "sign", "", note=note)


def _encrypted_no_password(folder: Path) -> CorpusPdf:
    name = "encrypted-no-password"
    note = "AES-256 with a user password that the caller does not give"
    encryption = pikepdf.Encryption(owner=OWNER_PASSWORD, user="not-given-to-the-service", R=6)
    path = folder / f"{name}.pdf"
    _save(_basic(name, note), path, encryption=encryption)
    return CorpusPdf(name, path, "refuse", "encrypted-no-password", note=note)
