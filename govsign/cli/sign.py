"""`govsign sign`, `sign-batch` and `extend`: sign PDFs with a key in the HSM, raise a signed one's level.

The commands run on the server, but a subscriber's key signs here exactly as through the API: only with
its holder's PIN (prompted, read from standard input, or from ``--pin-file``), which the signature
activation module turns into a grant for these documents (docs/SOLE-CONTROL.md). The operator's shell,
the token PINs and the database are not enough. Only the service's own seal signs without a holder.
Both faces read the signature's options into the same :class:`~signing.request.SigningRequest`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ca.authority import Authority
from ca.errors import InvalidRequest
from ca.signing_keys import SubscriberKey, activate_for_documents, service_seal_key, subscriber_key
from ca.status import StatusServices
from ca.store import Database
from govsign.access.trust_store import trust_store
from govsign.cli.output import out
from govsign.cli.signing_options import (
    CertOption,
    PasswordOption,
    PinFileOption,
    SigningChoices,
    with_signing_choices,
)
from govsign.config import runtime
from govsign.config.settings import load_settings
from govsign.config.verification import fetch_policy
from govsign.http.signing import signing_options
from signing.batch import run_batch
from signing.batch_store import (
    HolderSecrets,
    ItemOutcome,
    batch_report,
    create_batch,
    pending_digests,
    unfinished_batch,
)
from signing.documents import file_sha256
from signing.errors import InvalidDocument
from signing.etsi_report import etsi_report_xml
from signing.extend import extend_pdf
from signing.fields import SignatureField, read_fields
from signing.pades import Level, sign_pdf
from signing.validation import DIAGNOSTICS_LOGGER, ValidationReport, validate_pdf

__all__ = ["extend", "fields", "sign", "sign_batch", "verify"]


def holder_pin(pin_file: Path | None) -> str:
    """The key holder's PIN for this command: from ``pin_file``, a hidden prompt, or standard input."""
    if pin_file is not None:
        pin = pin_file.read_text(encoding="utf-8").strip()
    elif sys.stdin.isatty():
        pin = typer.prompt("the key holder's PIN", hide_input=True, err=True)
    else:
        pin = sys.stdin.readline().strip()
    if not pin:
        raise InvalidRequest(
            "this certificate's key signs only with its holder's PIN: give it (prompt, standard input or "
            "--pin-file); nothing was signed"
        )
    return pin


def _document_key(authority: Authority, cert: str, source: Path, pin_file: Path | None) -> SubscriberKey:
    """The key that may sign ``source``: the service's own seal as it is, any other activated by its
    holder's PIN for exactly this document."""
    key = subscriber_key(authority, cert)
    seal = service_seal_key(authority) if not key.held else None
    if seal is not None and seal.serial == key.serial:
        return seal
    digest = bytes.fromhex(file_sha256(source))
    activation = activate_for_documents(
        authority, key, holder_pin(pin_file), [digest], actor=f"{runtime.OPERATOR} with the holder's PIN"
    )
    return activation.key_for(digest)


@with_signing_choices
def sign(
    source: Annotated[Path, typer.Argument(help="the PDF to sign")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the signed PDF")],
    cert: CertOption,
    choices: SigningChoices,
    pin_file: PinFileOption = None,
) -> None:
    """Sign IN.pdf into OUT.pdf with the key of certificate SERIAL (its holder's PIN is asked for); prints
    the signature field's name."""
    if not source.is_file():
        raise InvalidDocument(f"{source} does not exist or is not a file")
    settings = load_settings()
    options = signing_options(choices.request, choices.image, settings)
    authority = runtime.open_authority_from(settings)
    key = _document_key(authority, cert, source, pin_file)
    signed = sign_pdf(StatusServices(authority), key, source, output, options, actor=runtime.OPERATOR)
    typer.echo(f"{signed.field_name}{' (repaired before signing)' if signed.repaired else ''}")
    for note in (signed.strict_reader_note, signed.archive_note):
        if note:
            typer.echo(f"note: {note}", err=True)


@with_signing_choices
def sign_batch(
    in_dir: Annotated[Path, typer.Argument(help="folder of PDFs to sign")],
    out_dir: Annotated[Path, typer.Argument(help="folder for the signed PDFs (same file names)")],
    cert: CertOption,
    choices: SigningChoices,
    processes: Annotated[int, typer.Option(help="worker processes")] = max(2, os.cpu_count() or 2),
    pin_file: PinFileOption = None,
) -> None:
    """Sign every PDF of IN_DIR into OUT_DIR with one activation by the holder's PIN; run it again (with
    the PIN again) after an interruption to finish the batch.

    A document that cannot be signed fails alone, with its reason; the exit code is then 2.
    """
    sources = sorted(path for path in in_dir.glob("*") if path.is_file() and path.suffix.lower() == ".pdf")
    if not sources:
        raise InvalidDocument(f"{in_dir} holds no .pdf file")
    if out_dir.resolve() == in_dir.resolve():
        raise InvalidDocument("the output folder must differ from the input folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    image = choices.image.resolve() if choices.image else None
    options = signing_options(choices.request, image, settings)
    authority = runtime.open_authority_from(settings)
    key = subscriber_key(authority, cert)  # refuse a revoked or unknown certificate before starting
    database = authority.database
    batch_id = unfinished_batch(database, owner=runtime.OPERATOR, source_dir=in_dir, target_dir=out_dir)
    if batch_id is None:
        batch_id = create_batch(
            database,
            owner=runtime.OPERATOR,
            serial=cert,
            options=options,
            sources=sources,
            target_dir=out_dir,
        )
    else:
        typer.echo(f"resuming batch {batch_id}", err=True)
    documents = pending_digests(database, batch_id)
    actor = f"{runtime.OPERATOR} with the holder's PIN"
    grant = activate_for_documents(authority, key, holder_pin(pin_file), documents, actor=actor).grant
    activation = HolderSecrets(sad=grant.sad, password=options.password)
    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("signing", total=len(sources))

        def advance(outcome: ItemOutcome) -> None:
            if not outcome.ok:
                progress.console.print(f"failed: {outcome.name}: {outcome.error}", markup=False)
            for note in (outcome.strict_reader_note, outcome.archive_note):
                if note:
                    progress.console.print(f"note: {outcome.name}: {note}", markup=False)
            progress.update(task, completed=_finished(database, batch_id))

        progress.update(task, completed=_finished(database, batch_id))
        report = run_batch(
            authority,
            batch_id,
            open_authority=runtime.authority_from_environment,
            worker_environment={},
            processes=processes,
            on_item=advance,
            activation=activation,
        )
    typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(2)


def _finished(database: Database, batch_id: str) -> int:
    report = batch_report(database, batch_id)
    return report.done + report.failed


def extend(
    source: Annotated[Path, typer.Argument(help="a PDF signed with one of our certificates")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the extended PDF")],
    level: Annotated[Level, typer.Option(help="B-LT, or B-LTA (renews an existing archive time-stamp)")],
) -> None:
    """Raise the signatures of IN.pdf to B-LT or B-LTA, or renew its archive time-stamp."""
    if not source.is_file():
        raise InvalidDocument(f"{source} does not exist or is not a file")
    authority = runtime.open_authority_from(load_settings())
    extended = extend_pdf(StatusServices(authority), source, output, level, actor=runtime.OPERATOR)
    typer.echo(f"{extended.level}{' (archive time-stamp renewed)' if extended.renewed else ''}")


def fields(
    source: Annotated[Path, typer.Argument(help="the PDF")],
    password: PasswordOption = None,
) -> None:
    """List the signature fields of FILE.pdf (name, page, rectangle x,y,w,h, signed or empty, locks) and
    its certification; an empty field that is not locked takes a signature with `sign --field NAME`."""
    if not source.is_file():
        raise InvalidDocument(f"{source} does not exist or is not a file")
    document = read_fields(source, password=password)
    if not document.fields:
        out.print(f"{source.name}: no signature field; {document.describe_certification()}", markup=False)
        return
    table = Table(title=f"{source.name}: {document.describe_certification()}")
    for column in ("field", "page", "rectangle", "state", "locks"):
        table.add_column(column, overflow="fold")
    for field in document.fields:
        table.add_row(
            field.name,
            str(field.page) if field.page else "-",
            ",".join(f"{value:g}" for value in _box(field)) if field.visible else "invisible",
            "signed" if field.signed else "empty",
            _locks(field),
        )
    out.print(table)


def _box(field: SignatureField) -> tuple[float, float, float, float]:
    assert field.rect is not None
    x0, y0, x1, y1 = field.rect
    return x0, y0, x1 - x0, y1 - y0


def _locks(field: SignatureField) -> str:
    locks = [f"locked by {name}" for name in field.locked_by]
    if field.read_only:
        locks.append("read-only")
    if field.lock is not None:
        locks.append(f"signing it {field.lock.describe()}")
    return "; ".join(locks) or "-"


class ReportFormat(StrEnum):
    """How ``govsign verify`` writes its report."""

    TEXT = "text"
    JSON = "json"
    ETSI_XML = "etsi-xml"  # ETSI TS 119 102-2


def verify(
    source: Annotated[Path, typer.Argument(help="the signed PDF")],
    report_format: Annotated[
        ReportFormat, typer.Option("--format", help="text, json, or etsi-xml (ETSI TS 119 102-2)")
    ] = ReportFormat.TEXT,
    json_output: Annotated[bool, typer.Option("--json", help="the report as JSON (--format json)")] = False,
    trust: Annotated[list[Path] | None, typer.Option(help="another root CA to trust (PEM or DER)")] = None,
    offline: Annotated[bool, typer.Option(help="use only what the document carries")] = False,
    password: PasswordOption = None,
    debug: Annotated[bool, typer.Option(help="also print what pyHanko logged (its tracebacks)")] = False,
) -> None:
    """Validate every signature of FILE.pdf; exit 0 only when every one is TOTAL_PASSED. An encrypted file
    opens without a password when its user password is empty."""
    if not source.is_file():
        raise InvalidDocument(f"{source} does not exist or is not a file")
    if debug:
        diagnostics = logging.getLogger(DIAGNOSTICS_LOGGER)
        diagnostics.addHandler(logging.StreamHandler(sys.stderr))
        diagnostics.setLevel(logging.DEBUG)
    settings = load_settings()
    authority = runtime.open_authority_from(settings)
    trusted = trust_store(authority, trust or ())
    report = validate_pdf(source, trusted, fetch_policy(settings, offline=offline), password=password)
    if json_output or report_format is ReportFormat.JSON:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    elif report_format is ReportFormat.ETSI_XML:
        typer.echo(etsi_report_xml(source, report, trusted).decode())
    else:
        _print_report(report)
    if not report.all_passed:
        raise typer.Exit(1)


def _print_report(report: ValidationReport) -> None:
    if not report.signatures:
        typer.echo("no signature in this document")
    for verdict in report.signatures:
        signer = verdict.signer.common_name if verdict.signer else "?"
        sub = f"/{verdict.sub_indication}" if verdict.sub_indication else ""
        typer.echo(f"{verdict.field_name}: {verdict.indication}{sub}")
        typer.echo(f"  {signer} — {verdict.signing_time or 'time unknown'} — {verdict.level or verdict.kind}")
        typer.echo(f"  {verdict.summary_vi}")
        typer.echo(f"  {verdict.summary_en}")
        if verdict.signing_time_note_en:
            typer.echo(f"  {verdict.signing_time_note_en}")
        if verdict.modifications:
            typer.echo(f"  changes after signing: {verdict.modifications}")
        for certificate in verdict.chain:
            source = f" ({certificate.status_source})" if certificate.status_source else ""
            typer.echo(
                f"  certificate {certificate.subject} [{certificate.key}]: {certificate.standing}{source}"
            )
        if verdict.timestamp is not None:
            stamp = verdict.timestamp
            accuracy = f" ± {stamp.accuracy}" if stamp.accuracy else ""
            typer.echo(f"  time-stamp: {stamp.time}{accuracy} by {stamp.tsa}")
        for change in verdict.changes:
            typer.echo(f"    - {change.sentence_en} ({'; '.join(change.objects) or change.kind})")
    for refusal in report.fetches_refused:
        typer.echo(f"not fetched: {refusal}")
