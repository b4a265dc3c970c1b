"""`govsign console enrol`: give an administrator or a signing account a console login (password + TOTP)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from govsign.access.console_auth import enrol
from govsign.config import runtime
from govsign.config.settings import load_settings

__all__ = ["console_app"]

console_app = typer.Typer(no_args_is_help=True, help="Console logins (password + TOTP)")


@console_app.command("enrol")
def enrol_command(
    username: Annotated[str, typer.Option(help="the name to sign in with")],
    admin: Annotated[int | None, typer.Option(help="administrator id")] = None,
    account: Annotated[int | None, typer.Option(help="signing account id (official or clerk)")] = None,
) -> None:
    """Create or replace a console login; the password is typed by its holder (stdin when piped), the TOTP
    secret is printed once for their authenticator app."""
    if sys.stdin.isatty():
        password = typer.prompt("new console password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    enrolment = enrol(
        runtime.open_authority_from(load_settings()),
        admin_id=admin,
        account_id=account,
        username=username,
        password=password,
        actor=runtime.OPERATOR,
    )
    typer.echo(f"console login {enrolment.username}: put this into the authenticator app (shown once)")
    typer.echo(enrolment.provisioning_uri)
    typer.echo(enrolment.totp_secret)
