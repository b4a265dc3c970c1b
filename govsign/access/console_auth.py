"""Console sign-in: a password (argon2id) and a TOTP code (RFC 6238), then a server-side session.

Administrators and signing accounts (officials, clerks) get a console login on the server
(`govsign console enrol`). The TOTP secret is never stored: it is HMAC-SHA256, made in the HSM, of the
login's id and a random nonce, so a copy of the database yields no second factor, and re-enrolling
changes it. A code is accepted once (its time step is remembered) within one step of clock drift. Five
failed sign-ins lock the login for 15 minutes (re-enrolling unlocks it at once). Sessions are random 256-bit tokens
stored as SHA-256, idle for at most 30 minutes and alive for at most 8 hours, each with its own CSRF
token for the console's forms. Every sign-in, refusal and sign-out is audited with the client address.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ca.audit import AuditEvent, append
from ca.authority import Authority
from ca.errors import InvalidRequest, NotFound
from ca.store import Base, UtcDateTime, utc_now
from govsign.access.accounts import Account, AccountKind
from govsign.access.administrators import Administrator, Role
from govsign.access.api_tokens import hash_token
from govsign.access.errors import NotAuthenticated

__all__ = [
    "ConsoleLogin",
    "ConsoleSession",
    "ConsoleUser",
    "Enrolment",
    "enrol",
    "sign_in",
    "sign_out",
    "user_for_session",
]

TOTP_KEY_LABEL = "govsign-console-totp"
MAX_FAILURES = 5
MIN_PASSWORD_LENGTH = 12
IDLE = dt.timedelta(minutes=30)
LIFETIME = dt.timedelta(hours=8)
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_REFUSED = "wrong user name, password or code, or too many attempts (then wait 15 minutes)"
LOCK_TIME = dt.timedelta(minutes=15)


class ConsoleLogin(Base):
    __tablename__ = "console_logins"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # admin | account
    subject_id: Mapped[int] = mapped_column(Integer)
    password_hash: Mapped[str] = mapped_column(String(256))
    totp_nonce: Mapped[str] = mapped_column(String(32))
    last_totp_step: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    login_id: Mapped[int] = mapped_column(ForeignKey("console_logins.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class Enrolment:
    username: str
    totp_secret: str  # base32, shown once to put into an authenticator app
    provisioning_uri: str


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in: an administrator (``role``) or a signing account (``account_kind``)."""

    username: str
    actor: str
    role: Role | None
    account_kind: AccountKind | None
    subject_id: int
    csrf: str

    @property
    def grant(self) -> Role | AccountKind:
        grant = self.role or self.account_kind
        assert grant is not None
        return grant


def _totp(authority: Authority, login: ConsoleLogin) -> pyotp.TOTP:
    material = authority.token.hmac_sha256(TOTP_KEY_LABEL, f"totp:{login.id}:{login.totp_nonce}".encode())
    return pyotp.TOTP(base64.b32encode(material[:20]).decode("ascii"), issuer="govsign")


def enrol(
    authority: Authority,
    *,
    admin_id: int | None,
    account_id: int | None,
    username: str,
    password: str,
    actor: str,
) -> Enrolment:
    """Create (or replace) the console login of an administrator or a signing account."""
    if (admin_id is None) == (account_id is None):
        raise InvalidRequest("enrol either an administrator or a signing account")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    username = username.strip()
    if (
        not 3 <= len(username) <= 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidRequest("a user name is 3 to 64 letters, digits, dots, hyphens or underscores")
    kind, subject_id = ("admin", admin_id) if admin_id is not None else ("account", account_id)
    assert subject_id is not None
    authority.token.ensure_hmac_key(TOTP_KEY_LABEL)
    with authority.database.transaction() as session:
        if session.get(Administrator if kind == "admin" else Account, subject_id) is None:
            raise NotFound(f"no {'administrator' if kind == 'admin' else 'account'} {subject_id}")
        taken = session.execute(
            select(ConsoleLogin).where(ConsoleLogin.username == username)
        ).scalar_one_or_none()
        login = session.execute(
            select(ConsoleLogin).where(
                ConsoleLogin.subject_kind == kind, ConsoleLogin.subject_id == subject_id
            )
        ).scalar_one_or_none()
        if taken is not None and taken is not login:
            raise InvalidRequest(f"the user name {username!r} is taken")
        if login is None:
            login = ConsoleLogin(subject_kind=kind, subject_id=subject_id)
            session.add(login)
        login.username, login.password_hash = username, _hasher.hash(password)
        login.totp_nonce, login.last_totp_step, login.failures, login.locked_at = (
            secrets.token_hex(16),
            0,
            0,
            None,
        )
        session.flush()
        session.execute(delete(ConsoleSession).where(ConsoleSession.login_id == login.id))
        totp = _totp(authority, login)
        details = {"username": username, "subject": f"{kind}:{subject_id}"}
        append(
            session, authority.token, AuditEvent(actor, "console.enrol", f"login:{login.id}", details=details)
        )
    return Enrolment(username, totp.secret, totp.provisioning_uri(name=username))


def sign_in(
    authority: Authority, username: str, password: str, code: str, *, client: str
) -> tuple[str, ConsoleUser]:
    """A new session token (for the cookie) and its user. Every refusal reads the same, so that nobody
    learns which part was wrong, which user names exist or which logins are locked; the audit log says."""
    now = utc_now()
    token: str | None = None
    with authority.database.transaction() as session:
        login = session.execute(
            select(ConsoleLogin).where(ConsoleLogin.username == username).with_for_update()
        ).scalar_one_or_none()  # locked: two sign-ins at once cannot both spend one code or one failure
        if login is None:
            _hasher.hash(password)  # the same cost as a real check: timing does not reveal user names
            reason: str | None = "unknown user"
        elif login.locked_at is not None and now - login.locked_at < LOCK_TIME:
            reason = "locked"
        else:
            step = _valid_step(authority, login, code, now)
            if _password_matches(login.password_hash, password) and step is not None:
                login.failures, login.last_totp_step, login.locked_at = 0, step, None
                token = secrets.token_urlsafe(32)
                csrf = secrets.token_urlsafe(32)
                session.add(
                    ConsoleSession(
                        token_sha256=hash_token(token),
                        login_id=login.id,
                        csrf=csrf,
                        created_at=now,
                        last_seen=now,
                    )
                )
                reason = None
            else:
                login.failures = 1 if login.locked_at is not None else login.failures + 1
                login.locked_at = now if login.failures >= MAX_FAILURES else None
                reason = f"failure {login.failures}" + (", now locked" if login.locked_at else "")
        who = f"console:{login.username}" if login is not None else "console:unknown"
        details = {"client": client, **({"reason": reason} if reason else {})}
        event = AuditEvent(who, "console.login", who, "refused" if reason else "success", details)
        append(session, authority.token, event)
    if token is None:
        raise NotAuthenticated(_REFUSED)
    return token, user_for_session(authority, token)


def _valid_step(authority: Authority, login: ConsoleLogin, code: str, now: dt.datetime) -> int | None:
    """The time step ``code`` belongs to, if it is valid now (one step of drift) and not used before."""
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = _totp(authority, login)
    for drift in (0, -1, 1):
        moment = now + dt.timedelta(seconds=drift * totp.interval)
        step = totp.timecode(moment)
        if step > login.last_totp_step and secrets.compare_digest(totp.at(moment), code):
            return step
    return None


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def user_for_session(authority: Authority, token: str | None) -> ConsoleUser:
    """The signed-in user of a session cookie; an idle or old session is ended."""
    if not token:
        raise NotAuthenticated("sign in to the console")
    now = utc_now()
    user: ConsoleUser | None = None
    with authority.database.transaction() as session:
        current = session.get(ConsoleSession, hash_token(token))
        if current is None:
            raise NotAuthenticated("your console session has ended; sign in again")
        if now - current.last_seen > IDLE or now - current.created_at > LIFETIME:
            session.delete(current)
        else:
            current.last_seen = now
            login = session.get(ConsoleLogin, current.login_id)
            assert login is not None
            user = _user(session, login, current.csrf)
    if user is None:
        raise NotAuthenticated("your console session has expired; sign in again")
    return user


def _user(session: Session, login: ConsoleLogin, csrf: str) -> ConsoleUser:
    if login.subject_kind == "admin":
        admin = session.get(Administrator, login.subject_id)
        assert admin is not None
        actor = f"admin:{admin.id}:{admin.name}"
        return ConsoleUser(login.username, actor, Role(admin.role), None, admin.id, csrf)
    account = session.get(Account, login.subject_id)
    assert account is not None
    actor = f"account:{account.id}:{account.holder}"
    return ConsoleUser(login.username, actor, None, AccountKind(account.kind), account.id, csrf)


def sign_out(authority: Authority, token: str | None, *, client: str) -> None:
    if not token:
        return
    with authority.database.transaction() as session:
        current = session.get(ConsoleSession, hash_token(token))
        if current is not None:
            session.delete(current)
            event = AuditEvent(
                f"login:{current.login_id}",
                "console.logout",
                f"login:{current.login_id}",
                details={"client": client},
            )
            append(session, authority.token, event)
