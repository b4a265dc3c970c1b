"""Benchmarks of the CA core, run by scripts/bench.py (rows for its table; ``--only ca``):

  * certificates issued per second from CSRs (P-256 and RSA-2048 subjects), SQLite and PostgreSQL,
    one process and two processes at once;
  * where one issuance spends its time (lint, HSM signature, audit append, TBS build, the rest = database),
    from a cProfile run of the same pipeline;
  * the lint-only cost per certificate, as the reference the pipeline is compared with;
  * key pairs generated in the HSM per second (RSA-2048, P-256);
  * signing and key look-up with 3,000 keys in the token, against raw python-pkcs11 in the same process.

Everything from govsign is imported late, inside the functions: bench.py configures SoftHSM first, and
spawned workers get it from their environment.
"""

from __future__ import annotations

import cProfile
import multiprocessing
import os
import pstats
import secrets
import statistics
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from bench_official import _authority, official_request

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from ca.authority import Authority
    from ca.hsm import KeyAlgorithm, Token

# cProfile's rows, {(file, line, function): (calls, primitive calls, own time, cumulative time, callers)},
# which typeshed leaves undeclared on pstats.Stats.
ProfileRows = dict[tuple[str, int, str], tuple[int, int, float, float, object]]
# One worker's issuance run: (began, ended, certificates issued).
Outcome = tuple[float, float, int]


def subject_csrs(kind: str, count: int) -> list[bytes]:
    """PEM CSRs; RSA subjects reuse 16 keys (generating hundreds of RSA keys is not what is measured)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if kind == "rsa2048":
        keys: list[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = [
            rsa.generate_private_key(65537, 2048) for _ in range(16)
        ]
    else:
        keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(count)]
    return [
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"bench {index}")]))
        .sign(keys[index % len(keys)], hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        for index in range(count)
    ]


def issue_from_csrs(authority: Authority, csrs: list[bytes]) -> None:
    from ca.issuance import SubjectKey, issue_certificate
    from ca.keycheck import public_key_from_csr
    from ca.profiles import CertificateKind, parse_request

    request = parse_request("individual", official_request("BENCH"))
    for csr in csrs:
        key = SubjectKey("csr", public_key_from_csr(csr))
        issue_certificate(authority, CertificateKind.INDIVIDUAL, request, key, actor="bench")


def _warm(authority: Authority, csrs: list[bytes]) -> None:
    from ca.lint import warm_up

    warm_up()
    issue_from_csrs(authority, csrs[:3])


def _timed_worker(
    env: dict[str, str], csrs: list[bytes], threads: int, start: Barrier, results: Queue[Outcome]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    authority = _authority(env)
    _warm(authority, csrs)
    work = csrs[3:]
    start.wait()
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda part: issue_from_csrs(authority, part), [work[i::threads] for i in range(threads)]
            )
        )
    results.put((began, time.perf_counter(), len(work)))


def _throughput(env: dict[str, str], csrs: list[bytes], processes: int, threads: int) -> float:
    """Certificates per second with ``processes`` x ``threads`` issuing at once, after each one's warm-up."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results: Queue[Outcome] = context.Queue()
    share = len(csrs) // processes
    workers = [
        context.Process(
            target=_timed_worker, args=(env, csrs[i * share : (i + 1) * share], threads, start, results)
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes: list[Outcome] = [results.get(timeout=1800) for _ in workers]
    for worker in workers:
        worker.join()
    began = min(o[0] for o in outcomes)
    ended = max(o[1] for o in outcomes)
    return sum(o[2] for o in outcomes) / (ended - began)


def _time_shares(env: dict[str, str], csrs: list[bytes]) -> dict[str, float]:
    """Share of one issuance's time per step, from cProfile's cumulative times over the same pipeline."""
    authority = _authority(env)
    _warm(authority, csrs)
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    issue_from_csrs(authority, csrs[3:])
    profiler.disable()
    total = time.perf_counter() - began
    stats = cast(ProfileRows, vars(pstats.Stats(profiler))["stats"])
    wanted = {
        "lint": ("ca/lint.py", "lint_certificate"),
        "HSM signature": ("ca/hsm/token.py", "sign"),
        "audit append (hash chain + HSM HMAC)": ("ca/audit.py", "append"),
        "TBS build (cryptography)": ("ca/certificate_building.py", "build_tbs"),
    }
    cumulative = {name: 0.0 for name in wanted}
    for (file_name, _line, function), row in stats.items():
        for name, (suffix, target) in wanted.items():
            if file_name.endswith(suffix) and function == target:
                cumulative[name] += row[3]
    profiled_total = sum(row[3] for key, row in stats.items() if key[2] == "issue_from_csrs")
    shares = {name: value / profiled_total for name, value in cumulative.items()}
    shares["database, ORM and the rest"] = 1 - sum(shares.values())
    shares["_total_seconds"] = total
    return shares


def _lint_only(env: dict[str, str], count: int) -> float:
    """Milliseconds to lint one individual certificate (ETSI natural-person linter), validators built."""
    from sqlalchemy import select

    from ca.lint import LintKind, lint_certificate, warm_up
    from ca.store import CertificateRecord

    authority = _authority(env)
    warm_up()
    with authority.database.transaction() as session:
        der = session.scalars(
            select(CertificateRecord.der).where(CertificateRecord.request_ref == "BENCH")
        ).first()
    assert der is not None, "the issuance measurements store the certificates linted here"
    began = time.perf_counter()
    for _ in range(count):
        lint_certificate(der, LintKind.NATURAL_PERSON)
    return (time.perf_counter() - began) / count * 1000


def _keygen_rate(token: Token, algorithm: KeyAlgorithm, count: int) -> float:
    began = time.perf_counter()
    for index in range(count):
        token.generate_key_pair(algorithm, f"bench-gen-{index}")
    return count / (time.perf_counter() - began)


def _many_keys(softhsm_conf: Path, count: int) -> dict[str, float]:
    """Sign and look-up times with ``count`` keys in one token, ours against raw python-pkcs11."""
    from pkcs11 import Mechanism, ObjectClass, SignMixin

    from ca import hsm
    from ca.hsm import KeyAlgorithm, SignatureAlgorithm, open_token
    from ca.softhsm import provision_token

    pin = secrets.token_hex(8)
    provision_token(softhsm_conf, "bench-many", pin, secrets.token_hex(8))
    token = open_token("/usr/lib/softhsm/libsofthsm2.so", "bench-many", pin)
    began = time.perf_counter()
    key_ids = [token.generate_key_pair(KeyAlgorithm.EC_P256, f"k{i}").key_id for i in range(count)]
    fill_seconds = time.perf_counter() - began
    objects = token.count_objects()
    algorithm = SignatureAlgorithm("ecdsa", "sha256")
    digest_input = b"x" * 32
    sample = key_ids[-50:]

    def first_use_in_new_thread() -> list[float]:
        times: list[float] = []

        def run() -> None:
            for key_id in sample[:10]:
                began = time.perf_counter()
                token.sign(key_id, digest_input, algorithm)
                times.append(time.perf_counter() - began)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        return times

    uncached = first_use_in_new_thread()
    cached = []
    for _ in range(5):
        for key_id in sample[:10]:
            began = time.perf_counter()
            token.sign(key_id, digest_input, algorithm)
            cached.append(time.perf_counter() - began)
    session = hsm.library_for("/usr/lib/softhsm/libsofthsm2.so").get_token(token_label="bench-many").open()
    raw_lookup, raw_sign = [], []
    for key_id in sample[:10]:
        began = time.perf_counter()
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
        raw_lookup.append(time.perf_counter() - began)
        assert isinstance(key, SignMixin)  # python-pkcs11 adds the mixin to keys with CKA_SIGN
        began = time.perf_counter()
        key.sign(digest_input, mechanism=Mechanism.ECDSA)
        raw_sign.append(time.perf_counter() - began)
    session.close()
    return {
        "objects": objects,
        "fill_seconds": fill_seconds,
        "uncached_ms": statistics.median(uncached) * 1000,
        "cached_ms": statistics.median(cached) * 1000,
        "raw_lookup_ms": statistics.median(raw_lookup) * 1000,
        "raw_sign_ms": statistics.median(raw_sign) * 1000,
    }


def ca_rows(
    envs: dict[str, dict[str, str]], count: int, keys: int, softhsm_conf: Path
) -> list[tuple[str, str]]:
    """Issuance throughput, time shares, lint reference, key generation and 3,000-key look-ups."""
    from govsign.config import runtime

    rows: list[tuple[str, str]] = []
    throughput: dict[tuple[str, str, int, int], float] = {}
    for key_kind in ("ec-p256", "rsa2048"):
        csrs = subject_csrs(key_kind, count + 6)
        for backend, env in envs.items():
            for processes, threads in ((1, 1), (1, 4), (2, 4)):
                rate = _throughput(env, csrs, processes, threads)
                throughput[(key_kind, backend, processes, threads)] = rate
                label = f"{processes} process(es) x {threads} thread(s)"
                rows.append((f"issued/s from CSR, {key_kind} subject, {backend}, {label}", f"{rate:.1f}"))
            scaling = throughput[(key_kind, backend, 2, 4)] / throughput[(key_kind, backend, 1, 4)]
            rows.append(
                (f"2 processes / 1 process (4 threads each), {key_kind}, {backend}", f"{scaling:.2f}x")
            )

    shares = _time_shares(envs["SQLite"], subject_csrs("ec-p256", 106))
    per_certificate_ms = shares.pop("_total_seconds") / 100 * 1000
    rows.append(("one issuance under cProfile (SQLite, P-256 CSR), ms", f"{per_certificate_ms:.1f}"))
    for name, share in shares.items():
        rows.append((f"  share: {name}", f"{share * 100:.0f} %"))
    lint_ms = _lint_only(envs["SQLite"], 100)
    rows.append(("lint only, one individual certificate (reference), ms", f"{lint_ms:.1f}"))
    one_process = throughput[("ec-p256", "SQLite", 1, 1)]
    rows.append(
        (
            "pipeline cost / lint-only cost (SQLite, P-256, 1 process x 1 thread)",
            f"{1000 / one_process / lint_ms:.2f}x",
        )
    )

    os.environ.update(envs["SQLite"])
    from govsign.config.settings import load_settings

    token = runtime.service_token(load_settings())
    from ca.hsm import KeyAlgorithm

    rows.append(("HSM key pairs/s, RSA-2048", f"{_keygen_rate(token, KeyAlgorithm.RSA2048, 20):.1f}"))
    rows.append(("HSM key pairs/s, P-256", f"{_keygen_rate(token, KeyAlgorithm.EC_P256, 100):.1f}"))
    many = _many_keys(softhsm_conf, keys)
    rows.append(
        (
            f"token filled with {int(many['objects'])} objects ({keys} P-256 pairs), s",
            f"{many['fill_seconds']:.0f}",
        )
    )
    rows.append(("sign, first use in a thread (look-up + sign), ms", f"{many['uncached_ms']:.1f}"))
    rows.append(("sign, key handle cached, ms", f"{many['cached_ms']:.2f}"))
    rows.append(("raw python-pkcs11 look-up (C_FindObjects), ms", f"{many['raw_lookup_ms']:.1f}"))
    rows.append(("raw python-pkcs11 sign, ms", f"{many['raw_sign_ms']:.2f}"))
    rows.append(("cached sign / raw sign", f"{many['cached_ms'] / many['raw_sign_ms']:.2f}x"))

    return rows
