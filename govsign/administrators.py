"""Administrators of the CA and their API tokens: the minimum the revocation API needs.

EJBCA's roles, kept small: ``ca_admin`` (accounts, configuration), ``ra_officer`` (issue, renew, revoke),
``auditor`` (reads the audit log, nothing else). The first administrator is created on the server with
``govsign admin create``; programs present the printed token, stored only as its SHA-256. The accounts
issue adds passwords, TOTP, lock-out and dual control on top of this.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest
from ca.store import Base, UtcDateTime, utc_now
from govsign.accounts import NotAuthenticated
from govsign.api_tokens import hash_token, new_token, refuse_if_expired

__all__ = [
    "Administrator",
    "CreatedAdministrator",
    "Role",
    "administrator_by_token",
    "create_administrator",
]

TOKEN_PREFIX = "gsa_"


class Role(StrEnum):
    CA_ADMIN = "ca_admin"
    RA_OFFICER = "ra_officer"
    AUDITOR = "auditor"


class Administrator(Base):
    __tablename__ = "administrators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


@dataclass(frozen=True)
class CreatedAdministrator:
    id: int
    name: str
    role: Role
    token: str  # shown once

    @property
    def actor(self) -> str:
        return f"admin:{self.id}:{self.name}"


def create_administrator(authority: Authority, name: str, role: Role, *, actor: str) -> CreatedAdministrator:
    if not name.strip() or len(name.strip()) > 100:
        raise InvalidRequest("an administrator needs a name of 1 to 100 characters")
    token, digest, expires = new_token(TOKEN_PREFIX)
    with authority.database.transaction() as session:
        administrator = Administrator(
            name=name.strip(), role=role.value, token_sha256=digest, token_expires_at=expires
        )
        session.add(administrator)
        session.flush()
        event = AuditEvent(actor, "admin.create", f"admin:{administrator.id}", details={"role": role.value})
        append(session, authority.token, event)
        return CreatedAdministrator(administrator.id, administrator.name, role, token)


def administrator_by_token(authority: Authority, token: str) -> Administrator:
    """The administrator holding ``token`` (detached from the session)."""
    with authority.database.transaction() as session:
        administrator = session.execute(
            select(Administrator).where(Administrator.token_sha256 == hash_token(token))
        ).scalar_one_or_none()
        if administrator is None:
            raise NotAuthenticated("this administrator token is not known")
        refuse_if_expired(administrator.token_expires_at, NotAuthenticated)
        session.expunge(administrator)
        return administrator
