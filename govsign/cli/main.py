"""The `govsign` command line (DESIGN.md's interface contract): the root app, the commands of the
deployment itself (init, serve, audit, db, hsm) and :func:`main`. Commands parse, call the domain, print.

Errors surface as one line on stderr and a non-zero exit code (govsign.errors); set GOVSIGN_DEBUG=1 for the
traceback of an unexpected failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ca.audit import acknowledge_restore, verify_log
from ca.audit_export import export_range
from ca.errors import ConfigurationError
from govsign.access.errors import PendingApproval
from govsign.cli import sign as signing_cli
from govsign.cli.accounts import account_app, admin_app
from govsign.cli.approvals import approvals_app
from govsign.cli.ca import ca_app
from govsign.cli.console import console_app
from govsign.cli.keys import keys_app
from govsign.cli.output import err, out, write_atomically
from govsign.cli.serve import serve
from govsign.cli.trust import trust_app
from govsign.config import runtime
from govsign.config.settings import load_settings
from govsign.errors import DOMAIN_ERRORS, exit_code

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="govsign: public-service digital signatures",
)
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log")
app.add_typer(ca_app, name="ca")
hsm_app = typer.Typer(no_args_is_help=True, help="The HSM tokens")
db_app = typer.Typer(no_args_is_help=True, help="The database schema")
app.add_typer(audit_app, name="audit")
app.add_typer(hsm_app, name="hsm")
app.add_typer(db_app, name="db")
app.command("serve")(serve)
app.command("sign")(signing_cli.sign)
app.command("sign-batch")(signing_cli.sign_batch)
app.command("extend")(signing_cli.extend)
app.command("verify")(signing_cli.verify)
app.command("fields")(signing_cli.fields)
app.add_typer(account_app, name="account")
app.add_typer(admin_app, name="admin")
app.add_typer(trust_app, name="trust")
app.add_typer(approvals_app, name="approvals")
app.add_typer(console_app, name="console")
app.add_typer(keys_app, name="keys")

OPERATOR = runtime.OPERATOR


@app.command()
def init(
    ceremony: Annotated[
        Path | None,
        typer.Option(help="the ceremony file (default: GOVSIGN_CEREMONY_FILE, else the one govsign ships)"),
    ] = None,
) -> None:
    """Create the tokens (SoftHSM2), the database and the CA hierarchy of the ceremony file."""
    settings = load_settings()
    if ceremony is not None:
        settings = settings.model_copy(update={"ceremony_file": ceremony})
    result = runtime.initialise(settings)
    out.print(f"root CA {result.root} and issuing CA {result.issuing} created")
    for name, serial in result.service_certificates.items():
        out.print(f"{name}: {serial}")
    for name, findings in result.findings.items():
        for finding in findings:
            out.print(f"lint {name}: {finding}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Exit 0 only when no audit entry was changed, inserted or removed, the newest included."""
    settings = load_settings()
    result = verify_log(runtime.database(settings), runtime.service_token(settings))
    anchored = result.anchor
    if anchored is not None and anchored.created:
        out.print(
            f"audit: this deployment had no HSM anchor yet; created it at entry {anchored.anchor.seq} "
            "(a cut before now cannot be detected, any after it will be)"
        )
    for gap in anchored.acknowledged if anchored else ():
        out.print(
            f"audit: acknowledged restore at entry {gap.seq} ({gap.at}, {gap.actor}): {gap.lost}; "
            f"reason: {gap.reason}",
            markup=False,
        )
    for problem in result.problems:
        err.print(f"audit: {problem}", markup=False)
    if not result.intact:
        raise typer.Exit(1)
    out.print(
        f"audit log intact: {result.entries} entries, {result.checkpoints} checkpoints signed in the HSM, "
        "head HMAC verified in the HSM"
        + (f", head anchored in the HSM at entry {anchored.anchor.seq}" if anchored else "")
    )


@audit_app.command("acknowledge-restore")
def audit_acknowledge_restore(
    reason: Annotated[str, typer.Option("--reason", help="why the database was restored (kept in the log)")],
) -> None:
    """Ceremony after a deliberate restore from backup: record the lost entries in the log, re-anchor."""
    settings = load_settings()
    gap = acknowledge_restore(
        runtime.database(settings), runtime.service_token(settings), reason, actor=OPERATOR
    )
    out.print(
        f"recorded as audit entry {gap.seq}: {gap.lost}; the HSM anchor now holds entry {gap.seq}",
        markup=False,
    )


@audit_app.command("export")
def audit_export(
    out_path: Annotated[Path, typer.Option("--out", help="where to write the signed JSON")],
    first: Annotated[int, typer.Option("--from", help="first entry")] = 1,
    last: Annotated[int | None, typer.Option("--to", help="last entry (default: the newest)")] = None,
) -> None:
    """A range of the log as JSON signed by the HSM's audit key (verifiable with openssl)."""
    settings = load_settings()
    exported = export_range(
        runtime.database(settings), runtime.service_token(settings), first, last, actor=OPERATOR
    )
    write_atomically(out_path, json.dumps(exported, ensure_ascii=False, indent=1).encode("utf-8"))
    document = exported["export"]
    out.print(f"exported entries {document['first']}..{document['last']} to {out_path}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to this version of govsign (Alembic; safe to run again)."""
    settings = load_settings()
    runtime.migrate(settings)
    out.print("database schema is current")
    if runtime.prepare_key_vault(settings):
        out.print(f"keys token {settings.keys_label!r} prepared for subscriber keys (docs/SOLE-CONTROL.md)")


@hsm_app.command("create-tokens")
def hsm_create_tokens() -> None:
    """Create the root and service SoftHSM2 tokens under GOVSIGN_HOME (development and demo only)."""
    settings = load_settings()
    if not settings.uses_softhsm:
        raise ConfigurationError(
            "create-tokens is for SoftHSM2; create a vendor HSM's tokens with its own tools"
        )
    runtime.provision_softhsm_tokens(settings, runtime.root_token_label(settings))
    out.print(f"tokens ready under {settings.home}")


@hsm_app.command("status")
def hsm_status() -> None:
    """Check the service token answers, and count its objects (SoftHSM2 look-ups grow with them)."""
    token = runtime.service_token(load_settings())
    token.probe()
    out.print(f"token {token.label}: ok, {token.count_objects()} objects")


def main() -> None:
    """Console-script entry: run the CLI and turn domain errors into one line and an exit code."""
    try:
        app()
    except PendingApproval as error:
        err.print(f"{error}; `govsign approvals approve {error.approval_id}` by another person", markup=False)
        if error.setup_code is not None:
            out.print(f"set-up code for the holder (shown once; hand it over sealed): {error.setup_code}")
        out.print(f"pending {error.approval_id}")
        sys.exit(exit_code(error))
    except DOMAIN_ERRORS as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(exit_code(error))
    except Exception as error:
        if os.environ.get("GOVSIGN_DEBUG"):
            raise
        err.print(f"error: unexpected {type(error).__name__}: {error}", markup=False)
        sys.exit(1)
