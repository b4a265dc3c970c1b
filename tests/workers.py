"""Code that runs in child processes (spawned, so PKCS#11 is initialised afresh in each)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec


def issue_many(env: dict[str, str], request_data: dict[str, Any], threads: int, per_thread: int) -> list[str]:
    """Issue threads x per_thread certificates from CSR-like public keys; return their serials."""
    os.environ.update(env)
    from ca.issuance import SubjectKey, issue_certificate
    from ca.profiles import CertificateKind, parse_request
    from govsign.config import runtime
    from govsign.config.settings import load_settings

    authority = runtime.open_authority_from(load_settings())
    request = parse_request("individual", request_data)

    def issue_batch(_: int) -> list[str]:
        serials = []
        for _ in range(per_thread):
            key = SubjectKey("csr", ec.generate_private_key(ec.SECP256R1()).public_key())
            issued = issue_certificate(
                authority, CertificateKind.INDIVIDUAL, request, key, actor=f"pid-{os.getpid()}"
            )
            serials.append(issued.serial_hex)
        return serials

    with ThreadPoolExecutor(threads) as pool:
        return [serial for batch in pool.map(issue_batch, range(threads)) for serial in batch]
