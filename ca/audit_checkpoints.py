"""Signed checkpoints of the audit chain: every CHECKPOINT_EVERY-th link signed with an ECDSA key in the HSM.

The head's HMAC proves the newest link to whoever holds the service token; a checkpoint proves a link to
anyone with the public key, so an auditor can check an exported range away from the server, and a
rewritten stretch of the log cannot be re-vouched for without the HSM. The key pair is made in the
service token the first time a checkpoint is due (inside the audit append, under the head's lock).
"""

from __future__ import annotations

import base64
import datetime as dt

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.hsm import KeyAlgorithm, SignatureAlgorithm, Token
from ca.store import AuditCheckpoint, AuditEntry, AuditSigningKey

__all__ = [
    "CHECKPOINT_EVERY",
    "checkpoint_if_due",
    "public_key_pem",
    "sign_with_audit_key",
    "verify_checkpoints",
]

CHECKPOINT_EVERY = 100
KEY_LABEL = "govsign-audit-checkpoint"
_ECDSA_SHA256 = SignatureAlgorithm("ecdsa", "sha256")


def _message(seq: int, entry_hash: str, at: dt.datetime) -> bytes:
    return f"govsign-audit-checkpoint:{seq}:{entry_hash}:{at.isoformat()}".encode("ascii")


def _signing_key(session: Session, token: Token) -> AuditSigningKey:
    key = session.get(AuditSigningKey, 1)
    if key is None:
        pair = token.generate_key_pair(KeyAlgorithm.EC_P256, KEY_LABEL)
        pem = pair.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
        key = AuditSigningKey(id=1, key_id=pair.key_id.hex(), public_key_pem=pem)
        session.add(key)
        session.flush()
        _backfill(session, token, key)
    return key


def _backfill(session: Session, token: Token, key: AuditSigningKey) -> None:
    """Checkpoints for the entries a log written before checkpoints existed already had due, so that every
    multiple of CHECKPOINT_EVERY carries one and a removed checkpoint always shows."""
    due = select(AuditEntry).where(AuditEntry.seq % CHECKPOINT_EVERY == 0).order_by(AuditEntry.seq)
    for entry in session.execute(due).scalars().all():
        if session.get(AuditCheckpoint, entry.seq) is None:
            _add_checkpoint(session, token, key, entry.seq, entry.entry_hash, entry.at)


def _add_checkpoint(
    session: Session, token: Token, key: AuditSigningKey, seq: int, entry_hash: str, at: dt.datetime
) -> None:
    signature = token.sign(bytes.fromhex(key.key_id), _message(seq, entry_hash, at), _ECDSA_SHA256)
    session.add(
        AuditCheckpoint(seq=seq, entry_hash=entry_hash, at=at, signature=base64.b64encode(signature).decode())
    )


def sign_with_audit_key(session: Session, token: Token, data: bytes) -> str:
    """Base64 of the DER ECDSA (SHA-256) signature of ``data`` by the audit key in the HSM."""
    key = _signing_key(session, token)
    return base64.b64encode(token.sign(bytes.fromhex(key.key_id), data, _ECDSA_SHA256)).decode("ascii")


def public_key_pem(session: Session, token: Token) -> str:
    return _signing_key(session, token).public_key_pem


def checkpoint_if_due(session: Session, token: Token, seq: int, entry_hash: str, at: dt.datetime) -> None:
    """Sign a checkpoint for the entry just appended when its sequence number is due for one."""
    if seq % CHECKPOINT_EVERY:
        return
    key = _signing_key(session, token)  # a first key backfills, this entry included
    if session.get(AuditCheckpoint, seq) is None:
        _add_checkpoint(session, token, key, seq, entry_hash, at)


def verify_checkpoints(
    session: Session, token: Token, entry_hashes: dict[int, str], last_seq: int
) -> tuple[int, list[str]]:
    """Check every checkpoint against the recomputed hash of its entry (``hashes``: seq -> hash for the
    checkpointed sequence numbers) and against the HSM's public key; returns (checked, problems)."""
    checkpoints = list(session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars())
    key = session.get(AuditSigningKey, 1)
    if key is None:
        expected = bool(checkpoints) or last_seq >= CHECKPOINT_EVERY
        return 0, ["the audit checkpoints' signing key is gone"] if expected else []
    problems: list[str] = []
    public_key = token.public_key(bytes.fromhex(key.key_id))
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return 0, ["the audit signing key in the HSM is not an EC key"]
    ours = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if ours.decode("ascii") != key.public_key_pem:
        problems.append(
            "the audit public key in the database is not the HSM's (exports would carry a false one)"
        )
    for checkpoint in checkpoints:
        if checkpoint.seq not in entry_hashes:
            problems.append(f"checkpoint {checkpoint.seq} vouches for an entry that is missing")
        elif entry_hashes[checkpoint.seq] != checkpoint.entry_hash:
            problems.append(
                f"checkpoint {checkpoint.seq} does not match entry {checkpoint.seq}: one was changed"
            )
        try:
            public_key.verify(
                base64.b64decode(checkpoint.signature),
                _message(checkpoint.seq, checkpoint.entry_hash, checkpoint.at),
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            problems.append(
                f"checkpoint {checkpoint.seq} is not signed by the HSM's audit key (forged or altered)"
            )
    present = {checkpoint.seq for checkpoint in checkpoints}
    for seq in range(CHECKPOINT_EVERY, last_seq + 1, CHECKPOINT_EVERY):
        if seq not in present:
            problems.append(f"checkpoint {seq} is missing (removed)")
    return len(checkpoints), problems
