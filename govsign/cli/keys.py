"""`govsign keys ...`: the signature activation module's ceremony commands (docs/SOLE-CONTROL.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from ca.rekey import legacy_subscriber_keys, rekey_for_sole_control
from govsign.access.accounts import move_to_certificate
from govsign.config import runtime
from govsign.config.settings import load_settings

__all__ = ["keys_app"]

keys_app = typer.Typer(no_args_is_help=True, help="Subscriber keys under their holders' sole control")


@keys_app.command("init")
def keys_init() -> None:
    """Prepare the keys token: its trusted KEK (made by the token's security officer) and the activation
    pepper. `govsign init` and `govsign db upgrade` do this for SoftHSM2; a vendor HSM's token is made with
    its own tools first, its SO PIN in GOVSIGN_HOME/ceremony/keys-token.so-pin for this one command."""
    settings = load_settings()
    created = runtime.prepare_key_vault(settings)
    typer.echo(f"keys token {settings.keys_label!r}: {'prepared' if created else 'already prepared'}")


@keys_app.command("migrate")
def keys_migrate(
    apply: Annotated[bool, typer.Option("--apply", help="re-key for real (default: only list them)")] = False,
) -> None:
    """Re-key every subscriber certificate whose key predates sole control (a token object no PIN protects,
    which PKCS #11 does not let us wrap): same subject and end date, a new key awaiting its holder, the old
    certificate revoked as superseded and its key destroyed. Prints each holder's set-up code once."""
    settings = load_settings()
    authority = runtime.open_authority_from(settings)
    serials = legacy_subscriber_keys(authority)
    if not serials:
        typer.echo("every subscriber key is under its holder's sole control")
        return
    if not apply:
        for serial in serials:
            typer.echo(f"would re-key {serial}")
        typer.echo(f"{len(serials)} certificate(s); run again with --apply to re-key them")
        return
    for serial in serials:
        rekeyed = rekey_for_sole_control(authority, serial, actor=runtime.OPERATOR)
        new_serial = rekeyed.issued.serial_hex
        accounts = move_to_certificate(authority, serial, new_serial, actor=runtime.OPERATOR)
        typer.echo(
            f"{serial} -> {new_serial} (accounts {', '.join(map(str, accounts)) or 'none'}): "
            f"set-up code for the holder (shown once) {rekeyed.issued.setup_code}"
        )
