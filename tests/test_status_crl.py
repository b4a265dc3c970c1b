"""CRLs over real HTTP, judged by openssl (crl, verify) and pkilint: a revocation reaches the published CRL,
CRL numbers only grow across processes, and neither CRLs nor OCSP responses carry a linter error."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.status import LEASE_SECONDS
from tests.status_servers import BIN, Servers, fetch_crl


def test_unknown_ca_crl_is_404(servers: Servers) -> None:
    assert httpx.get(f"{servers.first}/pki/crl/nobody.crl").status_code == 404


def test_revocation_reaches_the_published_crl_and_openssl_verify_refuses_the_certificate(
    servers: Servers,
) -> None:
    good_serial, good = servers.issue()
    revoked_serial, revoked = servers.issue()
    servers.deployment.cli(
        "ca",
        "revoke",
        revoked_serial,
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        "2026-01-02T03:04:05+07:00",
    )
    # The rule is 5 minutes. The test servers run maintenance every second, but the maintenance lease may
    # be held by another server of the session (maintenance every 30 s), or by one that stopped: another
    # takes over when the lease runs out (ca.status.LEASE_SECONDS), so that is what a busy CI may wait.
    deadline = time.monotonic() + LEASE_SECONDS + 60
    while True:
        crl_path, crl = fetch_crl(servers, servers.second)
        entry = crl.get_revoked_certificate_by_serial_number(int(revoked_serial, 16))
        if entry is not None:
            break
        assert time.monotonic() < deadline, "the revocation did not reach the CRL"
        time.sleep(0.5)
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    invalidity = entry.extensions.get_extension_for_class(x509.InvalidityDate).value.invalidity_date_utc
    assert invalidity.isoformat() == "2026-01-01T20:04:05+00:00"
    assert crl.next_update_utc is not None and crl.last_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc <= dt.timedelta(days=7)
    verified = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(crl_path),
            "-CAfile",
            str(servers.deployment.chain_pem),
            "-noout",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "verify OK" in verified.stdout + verified.stderr
    pem_crl = servers.folder / "crl.pem"
    subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl_path), "-out", str(pem_crl)], check=True
    )
    _, root_crl = fetch_crl(servers, servers.first, "govsign-root")
    root_crl_pem = servers.folder / "root-crl.pem"
    root_crl_pem.write_bytes(root_crl.public_bytes(serialization.Encoding.PEM))

    def openssl_verify(leaf: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "verify",
                "-crl_check_all",
                "-CAfile",
                str(servers.deployment.chain_pem),
                "-CRLfile",
                str(pem_crl),
                "-CRLfile",
                str(root_crl_pem),
                str(leaf),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    refused = openssl_verify(revoked)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    accepted = openssl_verify(good)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert good_serial != revoked_serial


def test_crl_numbers_only_grow_across_processes_and_restarts(servers: Servers) -> None:
    _, before = fetch_crl(servers, servers.first)
    number_before = before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "govsign", "ca", "crl"],
            env=servers.deployment.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    numbers = sorted(int(process.communicate(timeout=120)[0].split()[1].rstrip(":")) for process in commands)
    assert len(set(numbers)) == 3 and numbers[0] > number_before
    _, after = fetch_crl(servers, servers.second)
    assert after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number >= numbers[-1]


def test_pkilint_finds_no_error_in_crls_and_ocsp_responses(servers: Servers) -> None:
    crl_path, _ = fetch_crl(servers, servers.first)
    root_crl_path, _ = fetch_crl(servers, servers.first, "govsign-root")
    for path, kind in ((crl_path, "CRL"), (root_crl_path, "ARL")):
        result = subprocess.run(
            [str(BIN / "lint_crl"), "lint", "-s", "ERROR", "-t", kind, "-p", "PKIX", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout
    good_serial, good = servers.issue()
    revoked_serial, revoked = servers.issue()
    servers.deployment.cli("ca", "revoke", revoked_serial, "--reason", "affiliationChanged")
    cases = {"good": ["-cert", str(good)], "revoked": ["-cert", str(revoked)], "unknown": ["-serial", "0x77"]}
    for name, selector in cases.items():
        response_path = servers.folder / f"ocsp-{name}.der"
        subprocess.run(
            [
                "openssl",
                "ocsp",
                "-issuer",
                str(servers.issuing_pem),
                *selector,
                "-url",
                f"{servers.first}/pki/ocsp",
                "-respout",
                str(response_path),
                "-noverify",
            ],
            capture_output=True,
            check=True,
        )
        result = subprocess.run(
            [str(BIN / "lint_ocsp_response"), "lint", "-s", "ERROR", str(response_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{name}: {result.stdout}"
    assert good_serial != revoked_serial
