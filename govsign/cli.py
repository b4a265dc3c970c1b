"""The `govsign` command line (DESIGN.md's interface contract). Commands parse, call the domain, print.

Errors surface as one line on stderr and a non-zero exit code (govsign.errors); set GOVSIGN_DEBUG=1 for the
traceback of an unexpected failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.table import Table

from ca.audit import acknowledge_restore, verify_log
from ca.audit_export import export_range
from ca.crl import publish_crl
from ca.errors import ConfigurationError, InvalidRequest
from ca.hsm import KeyAlgorithm
from ca.issuance import (
    IssuedCertificate,
    SubjectKey,
    unfinished_intents,
)
from ca.keycheck import public_key_from_csr
from ca.profiles import parse_request
from ca.reasons import reason_for_certificate
from ca.revocation import change_information, find_certificate, renew_certificate
from ca.store import list_certificates
from govsign import signing_cli
from govsign.access import controlled_actions
from govsign.access.approvals import hold_for_approval
from govsign.access.errors import PendingApproval
from govsign.accounts_cli import account_app, admin_app
from govsign.approvals_cli import approvals_app
from govsign.config import runtime
from govsign.config.settings import load_settings
from govsign.console_cli import console_app
from govsign.errors import DOMAIN_ERRORS, exit_code
from govsign.instants import parse_instant
from govsign.keys_cli import keys_app
from govsign.trust_cli import trust_app

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="govsign: public-service digital signatures",
)
ca_app = typer.Typer(no_args_is_help=True, help="The certificate authority: issue, renew, show, list")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log")
app.add_typer(ca_app, name="ca")
hsm_app = typer.Typer(no_args_is_help=True, help="The HSM tokens")
db_app = typer.Typer(no_args_is_help=True, help="The database schema")
app.add_typer(audit_app, name="audit")
app.add_typer(hsm_app, name="hsm")
app.add_typer(db_app, name="db")
app.command("sign")(signing_cli.sign)
app.command("sign-batch")(signing_cli.sign_batch)
app.command("extend")(signing_cli.extend)
app.command("verify")(signing_cli.verify)
app.add_typer(account_app, name="account")
app.add_typer(admin_app, name="admin")
app.add_typer(trust_app, name="trust")
app.add_typer(approvals_app, name="approvals")
app.add_typer(console_app, name="console")
app.add_typer(keys_app, name="keys")

# Piped output (scripts, logs) gets a width that fits a 128-bit serial and a Vietnamese agency name.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)
OPERATOR = runtime.OPERATOR


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidRequest(f"cannot read the {what} {path}: {error.strerror}") from None


def _read_request(path: Path) -> Any:
    try:
        return json.loads(_read_bytes(path, "subject file").decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest(f"subject file {path} is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise InvalidRequest(
            f"subject file {path} is not valid JSON: {error.msg} at line {error.lineno}"
        ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _report_issued(issued: IssuedCertificate, out_path: Path | None) -> None:
    certificate = issued.certificate
    out.print(f"subject: {certificate.subject.rfc4514_string()}")
    out.print(
        f"valid:   {certificate.not_valid_before_utc:%Y-%m-%d} .. {certificate.not_valid_after_utc:%Y-%m-%d}"
    )
    for finding in issued.findings:
        out.print(f"lint:    {finding}")
    if out_path is not None:
        _write_atomically(out_path, certificate.public_bytes(serialization.Encoding.PEM))
        out.print(f"written: {out_path}")
    if issued.setup_code is not None:
        out.print(f"set-up code for the holder (shown once; hand it over sealed): {issued.setup_code}")
    out.print(issued.serial_hex)


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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve the HTTP API, the PKI endpoints and the web pages with uvicorn."""
    import uvicorn

    settings = load_settings()
    authority = runtime.open_authority_from(settings)
    for intent in unfinished_intents(authority):
        err.print(
            f"warning: issuance intent {intent.id} (serial {intent.serial}) never completed: {intent.state}"
        )
    runtime.database(settings).dispose()
    # No access log: relying parties' OCSP traffic would cost more in logging than in answering; the audit
    # log records every security-relevant action, and errors are still logged. X-Forwarded-For (which
    # sets the client address that rate limits and the audit log see) is believed only from the
    # configured proxies: uvicorn would otherwise believe it from 127.0.0.1.
    proxies = settings.trusted_proxy_list
    uvicorn.run(
        "govsign.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


@ca_app.command("issue")
def ca_issue(
    profile: Annotated[str, typer.Option(help="individual, organisation or device")],
    subject: Annotated[Path, typer.Option(help="the request as UTF-8 JSON")],
    csr: Annotated[
        Path | None, typer.Option(help="PKCS#10 request; without it the key is made in the HSM")
    ] = None,
    key_type: Annotated[
        KeyAlgorithm, typer.Option(help="key type for a key made in the HSM")
    ] = KeyAlgorithm.RSA2048,
    out_path: Annotated[Path | None, typer.Option("--out", help="write the certificate here (PEM)")] = None,
) -> None:
    """Issue a certificate through the linted pipeline; the last line printed is the serial in hex."""
    raw = _read_request(subject)
    parse_request(profile, raw)  # a bad request is refused before the HSM is opened
    csr_bytes = _read_bytes(csr, "CSR") if csr else None
    authority = runtime.open_authority_from(load_settings())
    issued = controlled_actions.issue(
        authority, profile, raw, csr=csr_bytes, key_type=key_type, actor=OPERATOR
    )
    _report_issued(issued, out_path)


@ca_app.command("renew")
def ca_renew(
    serial: str,
    years: Annotated[int, typer.Option(help="years added to the old notAfter (1-3)")] = 3,
    out_path: Annotated[Path | None, typer.Option("--out", help="write the certificate here (PEM)")] = None,
) -> None:
    """A new certificate for the same key; the old one stays valid."""
    authority = runtime.open_authority_from(load_settings())
    _report_issued(renew_certificate(authority, serial, actor=OPERATOR, years=years), out_path)


@ca_app.command("change-info")
def ca_change_info(
    serial: str,
    subject: Annotated[Path, typer.Option(help="the new request as UTF-8 JSON")],
    csr: Annotated[Path | None, typer.Option(help="a new PKCS#10 request, if the key changes too")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="write the certificate here (PEM)")] = None,
) -> None:
    """Issue a certificate with new subject data and revoke the old one as superseded."""
    authority = runtime.open_authority_from(load_settings())
    with authority.database.transaction() as session:
        profile = find_certificate(session, serial).profile
    request = parse_request(profile, _read_request(subject))
    key = SubjectKey("csr", public_key_from_csr(_read_bytes(csr, "CSR"))) if csr else None
    _report_issued(change_information(authority, serial, request, actor=OPERATOR, key=key), out_path)


@ca_app.command("revoke")
def ca_revoke(
    serial: str,
    reason: Annotated[
        str, typer.Option(help="RFC 5280 reason (keyCompromise, ...) or Decree 68 case (retired, ...)")
    ],
    invalidity_date: Annotated[
        str | None,
        typer.Option(help="when the key became unusable, ISO 8601 (e.g. 2026-11-20T08:00:00+07:00)"),
    ] = None,
) -> None:
    """Revoke a certificate: recorded, OCSP re-signed at once, CRL published within minutes."""
    when = parse_instant(invalidity_date) if invalidity_date else None
    authority = runtime.open_authority_from(load_settings())
    revoked_reason = reason_for_certificate(authority, serial, reason)
    record = controlled_actions.revoke(authority, serial, revoked_reason, when, actor=OPERATOR)
    out.print(
        f"revoked: {record.serial} ({record.revocation_reason}) at {record.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    )


@ca_app.command("crl")
def ca_crl(
    out_path: Annotated[Path | None, typer.Option("--out", help="also write the CRL here (DER)")] = None,
) -> None:
    """Build, sign and publish the issuing CA's next CRL now."""
    authority = runtime.open_authority_from(load_settings())
    published = publish_crl(
        authority.database, authority.issuing_ca(), audit_token=authority.token, actor=OPERATOR
    )
    if out_path is not None:
        _write_atomically(out_path, published.der)
    out.print(
        f"CRL {published.number}: {published.entries} entries, next update {published.next_update:%Y-%m-%d %H:%M} UTC"
    )


@ca_app.command("root-crl")
def ca_root_crl(
    out_path: Annotated[Path | None, typer.Option("--out", help="also write the CRL here (DER)")] = None,
) -> None:
    """Ceremony command: publish the root's CRL (valid 12 months), signed with the root token."""
    settings = load_settings()
    authority = runtime.open_authority_from(settings)
    hold_for_approval(authority, "ca.root-crl", {}, "publish the root CA's CRL", actor=OPERATOR)
    published = runtime.publish_root_crl(settings, actor=OPERATOR)
    if out_path is not None:
        _write_atomically(out_path, published.der)
    out.print(f"root CRL {published.number}, next update {published.next_update:%Y-%m-%d} UTC")


@ca_app.command("show")
def ca_show(serial: str) -> None:
    """Everything recorded about one certificate."""
    authority = runtime.open_authority_from(load_settings())
    with authority.database.transaction() as session:
        record = find_certificate(session, serial)
    table = Table(show_header=False, title=f"certificate {record.serial}")
    rows = {
        "serial": record.serial,
        "profile": record.profile,
        "status": record.status + (f" ({record.revocation_reason})" if record.revocation_reason else ""),
        "subject": record.subject,
        "valid from": f"{record.not_before:%Y-%m-%d %H:%M:%S} UTC",
        "valid until": f"{record.not_after:%Y-%m-%d %H:%M:%S} UTC",
        "requesting agency": record.requesting_agency,
        "request reference": record.request_ref,
        "key": "in the HSM" if record.key_origin == "hsm" else "from a CSR",
        "e-mail": record.email or "",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    out.print(table)


def _table(*columns: str, title: str | None = None) -> Table:
    """A table whose identifiers (serials, intents, dates) never wrap; long names fold instead."""
    table = Table(title=title)
    for column in columns:
        folds = column in ("subject", "common name", "requesting agency")
        table.add_column(column, no_wrap=not folds, overflow="fold" if folds else "ellipsis")
    return table


@ca_app.command("list")
def ca_list(
    intents: Annotated[
        bool, typer.Option("--intents", help="list unfinished issuance intents instead")
    ] = False,
    profile: Annotated[str | None, typer.Option(help="only this profile")] = None,
    limit: Annotated[int, typer.Option(help="at most this many rows")] = 100,
) -> None:
    """The newest certificates, or the issuance intents a crash left unfinished."""
    authority = runtime.open_authority_from(load_settings())
    if intents:
        table = _table(
            "intent", "serial", "profile", "state", "started (UTC)", "subject", title="unfinished intents"
        )
        for intent in unfinished_intents(authority):
            table.add_row(
                str(intent.id),
                intent.serial,
                intent.profile,
                intent.state,
                f"{intent.created_at:%Y-%m-%d %H:%M:%S}",
                intent.subject,
            )
        out.print(table)
        return
    with authority.database.transaction() as session:
        records = list_certificates(session, limit=limit, profile=profile)
    table = _table("serial", "profile", "status", "common name", "valid until", "requesting agency")
    for record in records:
        table.add_row(
            record.serial,
            record.profile,
            record.status,
            record.common_name,
            f"{record.not_after:%Y-%m-%d}",
            record.requesting_agency,
        )
    out.print(table)


@ca_app.command("export-chain")
def ca_export_chain(
    out_path: Annotated[Path | None, typer.Option("--out", help="write here instead of stdout")] = None,
) -> None:
    """The root and issuing CA certificates, PEM, root first."""
    authority = runtime.open_authority_from(load_settings())
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in reversed(authority.chain()))
    if out_path is None:
        sys.stdout.write(pem.decode("ascii"))
    else:
        _write_atomically(out_path, pem)


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
        f"recorded as audit entry {gap.seq}: {gap.lost}; the HSM anchor now holds entry {gap.seq}", markup=False
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
    _write_atomically(out_path, json.dumps(exported, ensure_ascii=False, indent=1).encode("utf-8"))
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
