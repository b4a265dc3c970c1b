"""Administrators of the CA and their API tokens: the minimum the revocation API needs.

EJBCA's roles, kept small: ``ca_admin`` (accounts, configuration), ``ra_officer`` (issue, renew, revoke),
``auditor`` (reads the audit log, nothing else). The first administrator is created on the server with
``govsign admin create``; programs present the printed token, stored only as its SHA-256. The accounts
issue adds passwords, TOTP, lock-out and dual control on top of this.

An administrator may be mapped to the OS user they type server commands as (``--os-user``): the CLI then
acts as that administrator, so dual control sees one person whichever face (CLI, API token, console) they
use, and a command from an unmapped OS user is nobody's vote.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest, StateConflict
from ca.store import Base, UtcDateTime, utc_now
from govsign.access.api_tokens import hash_token, new_token, refuse_if_expired
from govsign.access.errors import NotAuthenticated

__all__ = [
    "Administrator",
    "CreatedAdministrator",
    "Role",
    "actor_of",
    "administrator_by_token",
    "administrator_of",
    "create_administrator",
]

TOKEN_PREFIX = "gsa_"
CLI_ACTOR_PREFIX = "cli:"  # runtime.OPERATOR: ``cli:`` and the OS user
_OS_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")  # what useradd accepts, at most 32 characters


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
    os_user: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True, index=True)


@dataclass(frozen=True)
class CreatedAdministrator:
    id: int
    name: str
    role: Role
    token: str  # shown once


def actor_of(administrator: Administrator) -> str:
    """How the audit log and dual control name an administrator, on every face."""
    return f"admin:{administrator.id}:{administrator.name}"


def create_administrator(
    authority: Authority, name: str, role: Role, *, actor: str, os_user: str | None = None
) -> CreatedAdministrator:
    """A new administrator with a fresh API token; ``os_user``: the OS user whose server commands are
    theirs (one administrator per OS user)."""
    if not name.strip() or len(name.strip()) > 100:
        raise InvalidRequest("an administrator needs a name of 1 to 100 characters")
    if os_user is not None and not _OS_USER.fullmatch(os_user):
        raise InvalidRequest(f"{os_user!r} is not an OS user name (letters, digits, _ . -; at most 32)")
    token, digest, expires = new_token(TOKEN_PREFIX)
    with authority.database.transaction() as session:
        if os_user is not None and (taken := _by_os_user(session, os_user)) is not None:
            raise StateConflict(f"the OS user {os_user} is already administrator {taken.id} ({taken.name})")
        administrator = Administrator(
            name=name.strip(), role=role.value, token_sha256=digest, token_expires_at=expires, os_user=os_user
        )
        session.add(administrator)
        session.flush()
        details = {"role": role.value, "os_user": os_user}
        event = AuditEvent(actor, "admin.create", f"admin:{administrator.id}", details=details)
        append(session, authority.token, event)
        return CreatedAdministrator(administrator.id, administrator.name, role, token)


def administrator_of(session: Session, actor: str) -> Administrator | None:
    """The administrator an actor string stands for: ``admin:ID:...`` (API token, console session) or
    ``cli:OS_USER`` when that OS user is mapped to one; None for anyone else."""
    if actor.startswith(CLI_ACTOR_PREFIX):
        return _by_os_user(session, actor.removeprefix(CLI_ACTOR_PREFIX))
    kind, _, rest = actor.partition(":")
    admin_id = rest.partition(":")[0]
    if kind != "admin" or not admin_id.isdigit():
        return None
    return session.get(Administrator, int(admin_id))


def _by_os_user(session: Session, os_user: str) -> Administrator | None:
    query = select(Administrator).where(Administrator.os_user == os_user)
    return session.execute(query).scalar_one_or_none()


def administrator_by_token(authority: Authority, token: str) -> Administrator:
    """The administrator holding ``token`` (detached from the session)."""
    with authority.database.reading() as session:
        administrator = session.execute(
            select(Administrator).where(Administrator.token_sha256 == hash_token(token))
        ).scalar_one_or_none()
        if administrator is None:
            raise NotAuthenticated("this administrator token is not known")
        refuse_if_expired(administrator.token_expires_at, NotAuthenticated)
        session.expunge(administrator)
        return administrator
