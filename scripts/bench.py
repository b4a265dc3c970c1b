#!/usr/bin/env python3
"""Benchmarks of govsign, written as a Markdown table (stdout and bench-results/).

Measured in one run, so that the ratios survive a noisy shared machine: the CA core (scripts/bench_ca.py),
then the status services (scripts/bench_status.py), PDF signing, batches and validation
(scripts/bench_signing.py, scripts/bench_batch.py, scripts/bench_validation.py) and the signature
activation module (scripts/bench_activation.py), each on deployments made here in a throwaway folder
(SQLite, and PostgreSQL unless told not to).

Usage: .venv/bin/python scripts/bench.py [--count N] [--keys 3000] [--no-postgres]
       [--only ca|status|crl|ocsp-scale|signing|batch|validation|activation]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

import bench_ca
from bench_official import _authority

PROJECT = Path(__file__).resolve().parents[1]
# Set by main() in the parent only: spawned workers re-import the modules and get everything from their env.
WORK = Path()
SOFTHSM_CONF = Path()


def _configure_softhsm() -> None:
    """Before PKCS#11 loads: tokens of this run live in a throwaway folder."""
    global WORK, SOFTHSM_CONF
    WORK = Path(tempfile.mkdtemp(prefix="govsign-bench-"))
    SOFTHSM_CONF = WORK / "softhsm2.conf"
    (WORK / "tokens").mkdir(exist_ok=True)
    template = (PROJECT / "hsm_config" / "softhsm2.conf").read_text()
    SOFTHSM_CONF.write_text(template.replace("@TOKEN_DIR@", str(WORK / "tokens")))
    os.environ["SOFTHSM2_CONF"] = str(SOFTHSM_CONF)


def _deployment_env(backend: str, database_url: str | None) -> dict[str, str]:
    home = WORK / backend
    home.mkdir(exist_ok=True)
    ceremony = home / "ceremony.toml"
    ceremony.write_text(
        (PROJECT / "hsm_config" / "ceremony.toml")
        .read_text(encoding="utf-8")
        .replace('token_label = "govsign-root"', f'token_label = "bench-root-{backend}"'),
        encoding="utf-8",
    )
    env = {
        "SOFTHSM2_CONF": str(SOFTHSM_CONF),
        "GOVSIGN_HOME": str(home),
        "GOVSIGN_TOKEN_LABEL": f"bench-{backend}",
        "GOVSIGN_CEREMONY_FILE": str(ceremony),
    }
    if database_url:
        env["GOVSIGN_DATABASE_URL"] = database_url
    return env


def _reset_postgres(url: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        server = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as connection:
            name = make_url(url).database
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        server.dispose()
        return True
    except Exception as error:
        print(f"PostgreSQL unavailable ({error}); its rows are left out", file=sys.stderr)
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300, help="certificates per throughput measurement")
    parser.add_argument(
        "--keys", type=int, default=3000, help="keys in the token for the look-up measurement"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--only",
        choices=("all", "ca", "status", "crl", "ocsp-scale", "signing", "batch", "validation", "activation"),
        default="all",
        help="which part to run",
    )
    arguments = parser.parse_args()
    _configure_softhsm()
    sys.path.insert(0, str(PROJECT))

    from govsign.config import runtime
    from govsign.config.settings import Settings

    backends: dict[str, str | None] = {"SQLite": None}
    postgres_url = os.environ.get(
        "GOVSIGN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/govsign_bench"
    )
    if not arguments.no_postgres and _reset_postgres(postgres_url):
        backends["PostgreSQL"] = postgres_url
    envs = {}
    for name, url in backends.items():
        env = _deployment_env(name.lower(), url)
        envs[name] = env
        saved = dict(os.environ)
        os.environ.update(env)
        runtime.initialise(
            Settings(
                home=Path(env["GOVSIGN_HOME"]),
                database_url=url,
                token_label=env["GOVSIGN_TOKEN_LABEL"],
                ceremony_file=Path(env["GOVSIGN_CEREMONY_FILE"]),
            )
        )
        os.environ.clear()
        os.environ.update(saved)

    rows: list[tuple[str, str]] = []
    try:
        _measure(arguments, envs, rows)
    finally:
        _write_table(rows)  # whatever was measured, even when a later step failed


def _measure(
    arguments: argparse.Namespace, envs: dict[str, dict[str, str]], rows: list[tuple[str, str]]
) -> None:
    if arguments.only in ("all", "ca"):
        rows += bench_ca.ca_rows(envs, arguments.count, arguments.keys, SOFTHSM_CONF)
    if arguments.only in ("all", "status"):
        import bench_status

        bench_ca.issue_from_csrs(_authority(envs["SQLite"]), bench_ca.subject_csrs("ec-p256", 1))
        with _authority(envs["SQLite"]).database.transaction() as session:
            from sqlalchemy import select

            from ca.store import CertificateRecord

            serial = (
                session.execute(
                    select(CertificateRecord.serial).where(CertificateRecord.request_ref == "BENCH")
                )
                .scalars()
                .first()
            )
        assert serial is not None, "a BENCH certificate was issued just above"
        rows += bench_status.ocsp_rows(envs["SQLite"], WORK, serial)
        rows += bench_status.crl_rows(envs["SQLite"])
    if arguments.only == "crl":  # also part of the status rows
        import bench_crl

        rows += bench_crl.crl_rows(envs["SQLite"])
    if arguments.only in ("all", "ocsp-scale"):
        import bench_ocsp_scale

        rows += bench_ocsp_scale.ocsp_scale_rows(envs["SQLite"])
    if arguments.only in ("all", "signing"):
        import bench_signing

        rows += bench_signing.signing_rows(envs["SQLite"], arguments.keys)
    if arguments.only in ("all", "batch"):
        import bench_batch

        rows += bench_batch.batch_rows(envs["SQLite"])
    if arguments.only == "validation":  # also part of the signing rows
        import bench_validation

        rows += bench_validation.validation_rows(envs["SQLite"])
    if arguments.only in ("all", "activation"):  # last: it leaves 100,000 filler credential rows behind
        import bench_activation

        rows += bench_activation.activation_rows(envs["SQLite"], WORK)


def _write_table(rows: list[tuple[str, str]]) -> None:
    if not rows:
        return
    header = f"govsign benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"
    width = max(len(r[0]) for r in rows)
    table = [f"# {header}", "", f"| {'measure'.ljust(width)} | value |", f"| {'-' * width} | ----- |"]
    table += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    text = "\n".join(table) + "\n"
    print(text)
    results = PROJECT / "bench-results"
    results.mkdir(exist_ok=True)
    (results / f"bench-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.md").write_text(text, encoding="utf-8")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
