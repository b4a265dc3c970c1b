"""`govsign ca`: the certificate authority's commands (issue, renew, change-info, revoke, CRLs, show, list)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization
from rich.table import Table

from ca.ceremony import load_ceremony
from ca.crl_shards import publish_issuing_crls
from ca.errors import InvalidRequest
from ca.hsm import KeyAlgorithm
from ca.issuance import IssuedCertificate
from ca.profiles import parse_request
from ca.reasons import reason_for_certificate
from ca.revocation import find_certificate
from ca.rollover import RolledKey, next_issuing_section, roll_over, roll_over_issuing_ca
from ca.store import list_certificates
from govsign.access import controlled_actions
from govsign.access.approval_payloads import RootCrlPayload
from govsign.access.approvals import hold_for_approval
from govsign.access.holder_certificates import renew_holder_certificate
from govsign.cli.instants import parse_instant
from govsign.cli.intents import intents_app, print_unfinished_intents
from govsign.cli.output import out, write_atomically
from govsign.config import runtime
from govsign.config.settings import Settings, load_settings

__all__ = ["ca_app"]

ca_app = typer.Typer(no_args_is_help=True, help="The certificate authority: issue, renew, show, list")
ca_app.add_typer(intents_app, name="intents")
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


def _report_issued(issued: IssuedCertificate, out_path: Path | None) -> None:
    certificate = issued.certificate
    out.print(f"subject: {certificate.subject.rfc4514_string()}")
    out.print(
        f"valid:   {certificate.not_valid_before_utc:%Y-%m-%d} .. {certificate.not_valid_after_utc:%Y-%m-%d}"
    )
    for finding in issued.findings:
        out.print(f"lint:    {finding}")
    if out_path is not None:
        write_atomically(out_path, certificate.public_bytes(serialization.Encoding.PEM))
        out.print(f"written: {out_path}")
    if issued.setup_code is not None:
        out.print(f"set-up code for the holder (shown once; hand it over sealed): {issued.setup_code}")
    out.print(issued.serial_hex)


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
    _report_issued(renew_holder_certificate(authority, serial, actor=OPERATOR, years=years), out_path)


@ca_app.command("change-info")
def ca_change_info(
    serial: str,
    subject: Annotated[Path, typer.Option(help="the new request as UTF-8 JSON")],
    csr: Annotated[Path | None, typer.Option(help="a new PKCS#10 request, if the key changes too")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="write the certificate here (PEM)")] = None,
) -> None:
    """Issue a certificate with new subject data and revoke the old one as superseded (the holder's
    accounts move to it); for an agency's seal or a device this may wait for approvals (exit 3)."""
    authority = runtime.open_authority_from(load_settings())
    new_key = _read_bytes(csr, "CSR") if csr else None
    issued = controlled_actions.change_information(
        authority, serial, _read_request(subject), csr=new_key, actor=OPERATOR
    )
    _report_issued(issued, out_path)


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
    out_path: Annotated[Path | None, typer.Option("--out", help="also write the full CRL here (DER)")] = None,
) -> None:
    """Publish the issuing CAs' CRLs now: the shards a revocation left due (those the certificates' CDPs
    name), then the full CRL of each CA in service (after a rollover, the earlier CA's too)."""
    authority = runtime.open_authority_from(load_settings())
    published = publish_issuing_crls(authority, actor=OPERATOR)
    full = published.full
    if out_path is not None:
        write_atomically(out_path, full.der)
    out.print(f"CRL {full.number}: {full.entries} entries, next update {full.next_update:%Y-%m-%d %H:%M} UTC")
    for name, crl in published.older:
        out.print(f"CRL of the earlier CA {name}: {crl.number}, {crl.entries} entries")
    shards = ", ".join(str(shard) for shard in published.shards) or "none was due"
    out.print(f"shards published: {shards}")


@ca_app.command("root-crl")
def ca_root_crl(
    out_path: Annotated[Path | None, typer.Option("--out", help="also write the CRL here (DER)")] = None,
) -> None:
    """Ceremony command: publish the root's CRL (valid 12 months), signed with the root token."""
    settings = load_settings()
    authority = runtime.open_authority_from(settings)
    hold_for_approval(authority, "ca.root-crl", RootCrlPayload(), "publish the root CA's CRL", actor=OPERATOR)
    published = runtime.publish_root_crl(settings, actor=OPERATOR)
    if out_path is not None:
        write_atomically(out_path, published.der)
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
    if intents:
        print_unfinished_intents()
        return
    authority = runtime.open_authority_from(load_settings())
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
    """The root and every issuing CA certificate (each generation, oldest first), PEM, root first."""
    authority = runtime.open_authority_from(load_settings())
    certificates = [authority.root_certificate(), *authority.intermediate_certificates()]
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    if out_path is None:
        sys.stdout.write(pem.decode("ascii"))
    else:
        write_atomically(out_path, pem)


def _root_pin(settings: Settings, pin_file: Path | None) -> str | None:
    """The root token's PIN, never from the command line: from ``pin_file``; else None, for the
    deployment's root PIN file when there is one (as `init` and `ca root-crl` read it); else asked."""
    if pin_file is not None:
        return _read_bytes(pin_file, "root PIN file").decode("utf-8").strip()
    if settings.root_pin_path.exists():
        return None
    if sys.stdin.isatty():
        return str(typer.prompt("the root token's PIN", hide_input=True, err=True))
    return sys.stdin.readline().strip()


def _roll_over_issuing(
    settings: Settings, pin_file: Path | None, name: str | None, common_name: str | None
) -> None:
    authority = runtime.open_authority_from(settings)
    ceremony = load_ceremony(settings.ceremony_file).issuing
    section = next_issuing_section(authority, ceremony, name=name, common_name=common_name)
    root_token = runtime.root_token(settings, _root_pin(settings, pin_file))
    rolled = roll_over_issuing_ca(authority, root_token, section, actor=OPERATOR)
    for finding in rolled.findings:
        out.print(f"lint:    {finding}")
    old, new = rolled.old, rolled.new
    typer.echo(
        f"issuing: {old.name} ({old.certificate.serial_number:x}) -> {new.name} "
        f"({new.certificate.serial_number:x}), OCSP signer {rolled.ocsp_signer.serial_hex}"
    )
    typer.echo(
        f"every server issues from {new.name} within a minute; {old.name} keeps its CRLs and OCSP answers "
        "until its last certificate expires"
    )
    typer.echo(new.name)


@ca_app.command("rollover")
def ca_rollover(
    which: Annotated[
        RolledKey,
        typer.Argument(help="tsa: the time-stamping unit; seal: the service's seal; issuing: the issuing CA"),
    ],
    pin_file: Annotated[
        Path | None, typer.Option(help="issuing: a file holding the root token's PIN (default: asked for)")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="issuing: the new CA's name in URLs (default: the ceremony's, numbered)"),
    ] = None,
    common_name: Annotated[str | None, typer.Option(help="issuing: the new CA's common name")] = None,
) -> None:
    """A new key and certificate take over; the old certificate stays valid for what it signed. The
    issuing CA's is a ceremony act with the root token; its last line is the new CA's name."""
    settings = load_settings()
    if which is RolledKey.ISSUING:
        _roll_over_issuing(settings, pin_file, name, common_name)
        return
    authority = runtime.open_authority_from(settings)
    old, issued = roll_over(authority, which, actor=OPERATOR)
    typer.echo(f"{which}: {old} -> {issued.serial_hex} (every server uses the new one within a minute)")
    typer.echo(issued.serial_hex)
