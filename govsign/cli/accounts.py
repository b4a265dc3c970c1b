"""`govsign account ...` and `govsign admin ...`: signing credentials and administrators, managed on the server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ca.errors import InvalidRequest
from govsign.access.accounts import TOKEN_PREFIX as ACCOUNT_TOKEN_PREFIX
from govsign.access.accounts import (
    Account,
    AccountKind,
    change_pin,
    create_account,
    list_accounts,
    set_image,
    unlock,
)
from govsign.access.administrators import TOKEN_PREFIX as ADMIN_TOKEN_PREFIX
from govsign.access.administrators import Administrator, Role, create_administrator
from govsign.access.api_tokens import DEFAULT_DAYS, reissue_token
from govsign.config import runtime
from govsign.config.settings import load_settings

__all__ = ["account_app", "admin_app"]

account_app = typer.Typer(no_args_is_help=True, help="Signing accounts of officials and agency clerks")


def _create(kind: AccountKind, cert: str) -> None:
    authority = runtime.open_authority_from(load_settings())
    created = create_account(authority, kind, cert, actor=runtime.OPERATOR)
    typer.echo(f"account {created.id}: {created.holder}, certificate {created.certificate_serial}")
    typer.echo("API token (shown once; give it to the holder, it cannot be recovered):")
    typer.echo(created.token)


@account_app.command("create-official")
def create_official(cert: Annotated[str, typer.Option(help="serial of the official's certificate")]) -> None:
    """An official's account, bound to a certificate issued to them; prints its API token once."""
    _create(AccountKind.OFFICIAL, cert)


@account_app.command("create-clerk")
def create_clerk(cert: Annotated[str, typer.Option(help="serial of the agency's seal certificate")]) -> None:
    """An agency clerk's account, bound to the agency's seal certificate; prints its API token once."""
    _create(AccountKind.CLERK, cert)


@account_app.command("set-pin")
def set_pin_command(account_id: int) -> None:
    """The holder chooses their PIN: first with the one-time set-up code from registration, later with the
    current PIN (at a terminal both are asked for; otherwise two lines of stdin: code or PIN, new PIN).

    Nobody else can: the PIN seals the holder's key (docs/SOLE-CONTROL.md)."""
    if sys.stdin.isatty():
        current = typer.prompt("set-up code (first time) or current PIN", hide_input=True)
        pin = typer.prompt("new activation PIN", hide_input=True, confirmation_prompt=True)
    else:
        current, pin = sys.stdin.readline().strip(), sys.stdin.readline().rstrip("\n")
    change_pin(runtime.open_authority_from(load_settings()), account_id, current, pin, client="server shell")
    typer.echo(f"account {account_id}: PIN set by its holder")


@account_app.command("set-image")
def set_image_command(account_id: int, image: Path) -> None:
    """Store the official's signature image or the agency's seal (PNG with transparency)."""
    try:
        png = image.read_bytes()
    except OSError as error:
        raise InvalidRequest(f"cannot read {image}: {error.strerror}") from None
    set_image(runtime.open_authority_from(load_settings()), account_id, png, actor=runtime.OPERATOR)
    typer.echo(f"account {account_id}: image stored")


@account_app.command("unlock")
def unlock_command(account_id: int) -> None:
    """Clear the lock that five wrong PINs put on a credential."""
    unlock(runtime.open_authority_from(load_settings()), account_id, actor=runtime.OPERATOR)
    typer.echo(f"account {account_id}: unlocked")


@account_app.command("token")
def account_token(
    account_id: int,
    revoke: Annotated[bool, typer.Option("--revoke", help="stop the token working; issue none")] = False,
    days: Annotated[int, typer.Option(help="days the new token lives")] = DEFAULT_DAYS,
) -> None:
    """Issue the account a new API token (the old one stops working) or revoke it."""
    _reissue(Account, account_id, ACCOUNT_TOKEN_PREFIX, revoke, days)


def _reissue(model: Any, subject_id: int, prefix: str, revoke: bool, days: int) -> None:
    authority = runtime.open_authority_from(load_settings())
    token = reissue_token(
        authority, model, subject_id, prefix, revoke=revoke, days=days, actor=runtime.OPERATOR
    )
    if token is None:
        typer.echo(f"{model.__tablename__.rstrip('s')} {subject_id}: API token revoked")
    else:
        typer.echo(f"new API token (shown once, valid {days} days):")
        typer.echo(token)


@account_app.command("list")
def list_accounts_command(
    search: Annotated[str, typer.Option(help="part of the holder's name or the serial")] = "",
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 1000,
) -> None:
    """Accounts, newest first: id, kind, holder, certificate, and its key's state (awaiting-holder,
    active, locked, destroyed)."""
    authority = runtime.open_authority_from(load_settings())
    for account in list_accounts(authority, search, limit):
        typer.echo(
            f"{account.id}\t{account.kind}\t{account.holder}\t{account.certificate_serial}\t{account.key_state}"
        )


admin_app = typer.Typer(no_args_is_help=True, help="Administrators of the CA")


@admin_app.command("create")
def create_admin(
    name: Annotated[str, typer.Option(help="who the administrator is, for the audit log")],
    role: Annotated[Role, typer.Option(help="ca_admin, ra_officer or auditor")],
    os_user: Annotated[
        str | None,
        typer.Option(
            help="the OS user they type server commands as (needed to vote with `govsign approvals`)"
        ),
    ] = None,
) -> None:
    """An administrator; prints their API token once. With ``--os-user`` their server commands are theirs:
    dual control then knows them as one person on the CLI, over the API and in the console."""
    created = create_administrator(
        runtime.open_authority_from(load_settings()), name, role, actor=runtime.OPERATOR, os_user=os_user
    )
    mapped = f", OS user {os_user}" if os_user else ""
    typer.echo(f"administrator {created.id}: {created.name}, {created.role}{mapped}")
    typer.echo("API token (shown once):")
    typer.echo(created.token)


@admin_app.command("token")
def admin_token(
    admin_id: int,
    revoke: Annotated[bool, typer.Option("--revoke", help="stop the token working; issue none")] = False,
    days: Annotated[int, typer.Option(help="days the new token lives")] = DEFAULT_DAYS,
) -> None:
    """Issue the administrator a new API token (the old one stops working) or revoke it."""
    _reissue(Administrator, admin_id, ADMIN_TOKEN_PREFIX, revoke, days)
