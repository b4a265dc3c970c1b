"""`govsign ca intents`: the issuance intents a crash left unfinished, and resolving one (ca/intents.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ca.intents import resolve_intent
from ca.issuance import unfinished_intents
from govsign.cli.output import out
from govsign.config import runtime
from govsign.config.settings import load_settings

__all__ = ["intents_app", "print_unfinished_intents"]

intents_app = typer.Typer(help="Issuance intents a crash left unfinished: list them, resolve one")


@intents_app.callback(invoke_without_command=True)
def intents(context: typer.Context) -> None:
    """List the unfinished intents (`govsign serve` resolves those untouched for an hour by itself)."""
    if context.invoked_subcommand is None:
        print_unfinished_intents()


def print_unfinished_intents() -> None:
    authority = runtime.open_authority_from(load_settings())
    table = Table(title="unfinished intents")
    for column in ("intent", "serial", "profile", "state", "started (UTC)", "key", "subject"):
        table.add_column(column, no_wrap=column != "subject", overflow="fold")
    for intent in unfinished_intents(authority):
        table.add_row(
            str(intent.id),
            intent.serial,
            intent.profile,
            intent.state,
            f"{intent.created_at:%Y-%m-%d %H:%M:%S}",
            intent.key_id or "-",
            intent.subject,
        )
    out.print(table)


@intents_app.command("resolve")
def resolve(intent_id: Annotated[int, typer.Argument(help="the intent's number, from the list")]) -> None:
    """Complete the intent if its certificate was stored, or abandon it and destroy its key (audited)."""
    authority = runtime.open_authority_from(load_settings())
    resolved = resolve_intent(authority, intent_id, actor=runtime.OPERATOR)
    key = "; its key was destroyed" if resolved.key_destroyed else ""
    typer.echo(f"intent {resolved.intent_id} (serial {resolved.serial}): {resolved.resolution}{key}")
