"""`govsign trust ...`: the third-party roots and intermediates the validator trusts, managed on the server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from ca.errors import InvalidRequest
from govsign.access.controlled_actions import trust, untrust
from govsign.access.trust_anchors import (
    TrustRole,
    list_trusted_certificates,
)
from govsign.access.trust_store import read_certificates
from govsign.cli.instants import parse_instant
from govsign.config import runtime
from govsign.config.settings import load_settings

__all__ = ["trust_app"]

trust_app = typer.Typer(no_args_is_help=True, help="Third-party CAs the validator trusts")


@trust_app.command("add")
def add(
    certificate_file: Annotated[Path, typer.Argument(help="one certificate, PEM or DER")],
    name: Annotated[str, typer.Option(help="the name reports show, e.g. 'VNPT-CA root 2019'")],
    intermediate: Annotated[
        bool, typer.Option("--intermediate", help="only help build paths; do not end them here")
    ] = False,
    trusted_from: Annotated[
        str | None, typer.Option("--from", help="trust it for signatures made from (ISO 8601, with zone)")
    ] = None,
    trusted_until: Annotated[
        str | None, typer.Option("--until", help="... and made before (ISO 8601, with zone)")
    ] = None,
) -> None:
    """Trust a root (a trust anchor) or an intermediate of another CA."""
    certificates = read_certificates(certificate_file)
    if len(certificates) != 1:
        raise InvalidRequest(
            f"{certificate_file} holds {len(certificates)} certificates; add them one by one"
        )
    authority = runtime.open_authority_from(load_settings())
    role = TrustRole.INTERMEDIATE if intermediate else TrustRole.ANCHOR
    start = parse_instant(trusted_from) if trusted_from else None
    end = parse_instant(trusted_until) if trusted_until else None
    entry = trust(
        authority,
        certificates[0],
        name=name,
        role=role,
        trusted_from=start,
        trusted_until=end,
        actor=runtime.OPERATOR,
    )
    typer.echo(f"trusted {entry.id}: {entry.name} ({entry.role}), {entry.subject}, sha256 {entry.sha256}")


@trust_app.command("list")
def list_command() -> None:
    """Every trusted third-party certificate: id, role, name, window, subject."""
    for entry in list_trusted_certificates(runtime.open_authority_from(load_settings())):
        window = f"{_day(entry.trusted_from)}..{_day(entry.trusted_until)}"
        typer.echo(f"{entry.id}\t{entry.role}\t{entry.name}\t{window}\t{entry.subject}")


def _day(moment: dt.datetime | None) -> str:
    return "" if moment is None else moment.date().isoformat()


@trust_app.command("remove")
def remove(entry_id: int) -> None:
    """Stop trusting a certificate (signatures that needed it become INDETERMINATE)."""
    entry = untrust(runtime.open_authority_from(load_settings()), entry_id, actor=runtime.OPERATOR)
    typer.echo(f"removed {entry.id}: {entry.name}")
