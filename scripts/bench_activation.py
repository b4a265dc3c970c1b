"""Benchmarks of the signature activation module (issue 11), run by ``scripts/bench.py --only activation``.

Sole control (docs/SOLE-CONTROL.md) moved every subscriber signature from a persistent token object to
"unwrap under the KEK, sign, destroy" in the keys token, behind a PIN check. What that costs, each measure
against its baseline in the same process and the same minute (the machine is shared, so only same-run
ratios mean anything):

* unwrap + sign + destroy (step D3, ``KeyVault.sign_digests`` with one digest) against a plain sign with a
  persistent key of the same algorithm in the service token (``Token.sign``), RSA-2048 and P-256, rounds
  interleaved; the difference is the module's HSM overhead per signature (target: under 2 ms);
* authorize (steps C1-C3): the seal key alone (argon2id + the pepper HMAC in the HSM), and the whole call;
* CSC ``signatures/signHash`` through HTTP, 8 clients against ``govsign serve --workers 2``, each request
  one hash with its own SAD authorised before the clock starts (``credentials/authorize`` through HTTP is
  reported on its own row). The 8 clients are wrk's 8 connections, each sending the next prepared SAD:
  a Python client on the same two cores spends a core of its own and, in 8 threads under one GIL, adds
  its own waits to the latencies it reports (the earlier rows did, with httpx);
* the same D3 step and the in-process ``sign_hashes`` path with 1,000 and with 100,000 credential rows
  (target: flat), the keys token's object count before and after.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_signing import PIN, _account, _authority, _issue_official, _server
from bench_status import _wrk

ROUNDS = 300  # interleaved rounds of each HSM comparison
AUTHORIZE_ROUNDS = 30  # argon2id is ~tens of ms: fewer rounds give a stable median
SCALE_ROUNDS = 60
SCALES = (1_000, 100_000)
CLIENTS = 8
SADS_PER_CLIENT = 60
WRK_SIGN_SECONDS = 4
WRK_SADS = 3200  # more than 2 workers sign in WRK_SIGN_SECONDS: a request past the last SAD shows as an error
SIGN_OID = "1.2.840.10045.4.3.2"  # ecdsa-with-SHA256: the bench official's key is P-256
SHA256_OID = "2.16.840.1.101.3.4.2.1"

Rows = list[tuple[str, str]]


def _timed_ms(function: Callable[[], object]) -> float:
    began = time.perf_counter()
    function()
    return (time.perf_counter() - began) * 1000


def _median_ms(function: Callable[[], object], rounds: int) -> float:
    return statistics.median(_timed_ms(function) for _ in range(rounds))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


@dataclass(frozen=True)
class _KeyPairs:
    """One algorithm's two contestants: a subscriber-style wrapped key and a persistent service-token key."""

    algorithm: Any  # ca.hsm.KeyAlgorithm (imported late, after bench.py configured SoftHSM)
    wrapped: bytes
    persistent: bytes  # CKA_ID in the service token

    @classmethod
    def make(cls, authority: Any, algorithm: Any) -> _KeyPairs:
        wrapped = authority.activation_module().vault.generate_wrapped_key_pair(algorithm).wrapped
        label = f"bench-activation-baseline-{algorithm.value}"
        return cls(algorithm, wrapped, authority.token.generate_key_pair(algorithm, label).key_id)


def _unwrap_against_persistent(authority: Any, keys: _KeyPairs) -> tuple[float, float]:
    """(unwrap + sign + destroy, persistent-key sign) median ms, one digest each, rounds interleaved so
    that the machine's load hits both alike."""
    vault, token, algorithm = authority.activation_module().vault, authority.token, keys.algorithm
    wrapped, persistent, scheme = keys.wrapped, keys.persistent, algorithm.default_signature
    digest = hashlib.sha256(b"bench").digest()

    def unwrap_sign() -> object:
        return vault.sign_digests(wrapped, algorithm, [digest], scheme)

    def plain_sign() -> object:
        return token.sign(persistent, digest, scheme)

    for _ in range(10):  # warm-up: thread sessions, cached KEK and key handles
        unwrap_sign()
        plain_sign()
    unwrapped, plain = [], []
    for _ in range(ROUNDS):
        unwrapped.append(_timed_ms(unwrap_sign))
        plain.append(_timed_ms(plain_sign))
    return statistics.median(unwrapped), statistics.median(plain)


def _unwrap_rows(authority: Any, rsa: _KeyPairs, p256: _KeyPairs) -> Rows:
    rows: Rows = []
    for keys, name in ((rsa, "RSA-2048"), (p256, "P-256")):
        unwrap_ms, plain_ms = _unwrap_against_persistent(authority, keys)
        rows.append(
            (
                f"{name}: unwrap + sign + destroy (keys token) / persistent-key sign (service token), "
                "ms per signature",
                f"{unwrap_ms:.2f} / {plain_ms:.2f} ms; {1000 / unwrap_ms:.0f} / {1000 / plain_ms:.0f} per s",
            )
        )
        rows.append(
            (f"{name}: activation overhead per signature (target < 2 ms)", f"{unwrap_ms - plain_ms:.2f} ms")
        )
    return rows


def _authorize(module: Any, key_id: str) -> tuple[str, bytes]:
    """A hash grant (CSC's kind) for one fresh random SHA-256: the SAD and that hash."""
    from ca.activation import GrantKind

    digest = secrets.token_bytes(32)
    grant = module.authorize(
        key_id, PIN, [digest], kind=GrantKind.HASHES, hash_algorithm="sha256", actor="bench holder"
    )
    return str(grant.sad), digest


def _authorize_rows(authority: Any, key_id: str) -> Rows:
    from ca.activation.sealing import new_salt, seal_key

    module = authority.activation_module()
    salt = new_salt()
    derive_ms = _median_ms(lambda: seal_key(module.vault, key_id, PIN, salt), AUTHORIZE_ROUNDS)
    authorize_ms = _median_ms(lambda: _authorize(module, key_id), AUTHORIZE_ROUNDS)
    return [
        (
            "authorize: seal key from the PIN (argon2id + pepper HMAC in the HSM), ms per call",
            f"{derive_ms:.1f}",
        ),
        (
            "authorize, whole call (C1-C3: attempt, open seal, grant row, audit), ms per call",
            f"{authorize_ms:.1f}",
        ),
    ]


def _sign_hash_path(module: Any, key_id: str, rounds: int) -> tuple[float, float]:
    """(authorize, sign_hashes) median ms in-process: each SAD made outside the sign_hashes timing."""
    from ca.hsm import SignatureAlgorithm

    scheme = SignatureAlgorithm("ecdsa", "sha256")
    authorize_times, sign_times = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        sad, digest = _authorize(module, key_id)
        authorize_times.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        module.sign_hashes(key_id, sad, [digest], scheme, actor="bench")
        sign_times.append((time.perf_counter() - began) * 1000)
    return statistics.median(authorize_times), statistics.median(sign_times)


def _fill_credentials(authority: Any, key_id: str, total: int) -> int:
    """Filler credential rows up to ``total``: copies of the bench official's sealed blob (and salt and
    public key) under fresh random key_ids. They are never opened; they only make the table as large as a
    big deployment's, and the keys token gains nothing (a credential is a row, not a token object)."""
    from sqlalchemy import func, insert, select

    from ca.activation import SigningCredential

    with authority.database.transaction() as session:
        present = session.execute(select(func.count()).select_from(SigningCredential)).scalar_one()
        model = session.execute(
            select(SigningCredential).where(SigningCredential.key_id == key_id)
        ).scalar_one()
        template = {
            "algorithm": model.algorithm,
            "public_key_der": model.public_key_der,
            "sealed_key": model.sealed_key,
            "seal": model.seal,
            "salt": model.salt,
            "state": model.state,
            "failed_attempts": 0,
        }
    for start in range(present, total, 5000):
        chunk = [{**template, "key_id": secrets.token_hex(16)} for _ in range(min(5000, total - start))]
        with authority.database.transaction() as session:
            session.execute(insert(SigningCredential), chunk)
    return max(int(present), total)


def _scale_rows(authority: Any, key_id: str, p256: _KeyPairs) -> Rows:
    module = authority.activation_module()
    objects_before = module.vault.count_objects()
    rows: Rows = []
    for scale in SCALES:
        count = _fill_credentials(authority, key_id, scale)
        unwrap_ms, plain_ms = _unwrap_against_persistent(authority, p256)
        authorize_ms, sign_ms = _sign_hash_path(module, key_id, SCALE_ROUNDS)
        rows.append(
            (
                f"{count} credential rows, P-256: unwrap+sign+destroy / persistent sign / "
                "sign_hashes (in-process, 1 hash) / authorize, ms",
                f"{unwrap_ms:.2f} / {plain_ms:.2f} / {sign_ms:.2f} / {authorize_ms:.1f}",
            )
        )
    objects_after = module.vault.count_objects()
    rows.append(("keys token objects before / after the scale runs", f"{objects_before} / {objects_after}"))
    return rows


def _post(session: Any, url: str, token: str, body: Mapping[str, object]) -> Any:
    """POST as a CSC client would, which waits and asks again while the credential's other activations
    are being checked (at most five attempts are judged at once, so that guesses cannot race the lock)."""
    while True:
        response = session.post(url, headers={"Authorization": f"Bearer {token}"}, json=body)
        if response.status_code == 400 and "being checked" in response.text:
            time.sleep(0.005)
            continue
        response.raise_for_status()
        return response.json()


def _clients(work: Callable[[Any, int], list[float]]) -> tuple[list[float], float]:
    """``CLIENTS`` threads, each running ``work(http_session, number)``: all latencies (ms), and seconds."""
    import httpx

    results: list[list[float]] = [[] for _ in range(CLIENTS)]

    def client(number: int) -> None:
        with httpx.Client(timeout=120) as session:
            results[number] = work(session, number)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies = [value for part in results for value in part]
    if len(latencies) != CLIENTS * SADS_PER_CLIENT:
        raise RuntimeError("a benchmark client failed; see its traceback above")
    return latencies, elapsed


def _http_rows(env: dict[str, str], authority: Any, serial: str, key_id: str, work: Path) -> Rows:
    """credentials/authorize (httpx, 8 client threads), then signatures/signHash (wrk, 8 connections),
    CSC 2.0 through HTTP against 2 workers."""
    token = _account(env, serial)
    process, base = _server(env, workers=2)

    def authorize(session: Any, number: int) -> list[float]:
        times = []
        for _ in range(SADS_PER_CLIENT):
            digest = base64.b64encode(secrets.token_bytes(32)).decode()
            body = {
                "credentialID": key_id,
                "numSignatures": 1,
                "hashes": [digest],
                "hashAlgorithmOID": SHA256_OID,
                "PIN": PIN,
            }
            began = time.perf_counter()
            _post(session, f"{base}/csc/v2/credentials/authorize", token, body)
            times.append((time.perf_counter() - began) * 1000)
        return times

    try:
        authorized, authorize_seconds = _clients(authorize)
        module = authority.activation_module()
        with ThreadPoolExecutor(2) as pool:  # argon2id leaves the GIL: both cores prepare SADs
            grants = list(pool.map(lambda _: _authorize(module, key_id), range(WRK_SADS)))
        rate, p50, p99, errors = _wrk(
            f"{base}/csc/v2/signatures/signHash",
            work,
            _sign_hash_script(work, token, key_id, grants),
            connections=CLIENTS,
            seconds=WRK_SIGN_SECONDS,
        )
    finally:
        process.terminate()
        process.wait()
    return [
        (
            "CSC v2 credentials/authorize via HTTP, 1 hash, 8 clients, 2 workers: p50 / p99 / SADs/s",
            f"{_percentile(authorized, 0.5):.0f} ms / {_percentile(authorized, 0.99):.0f} ms / "
            f"{len(authorized) / authorize_seconds:.1f}",
        ),
        (
            "CSC v2 signatures/signHash via HTTP, P-256, 1 hash per pre-authorised SAD, wrk 8 connections "
            f"{WRK_SIGN_SECONDS} s, 2 workers: p50 / p99 / signatures/s",
            f"{p50:.1f} ms / {p99:.1f} ms / {rate:.1f}{errors}",
        ),
    ]


def _sign_hash_script(work: Path, token: str, key_id: str, grants: list[tuple[str, bytes]]) -> str:
    """wrk's Lua: each of its 2 threads sends its own half of the signHash bodies, one SAD per request."""
    bodies = work / "sign-hash-bodies.jsonl"
    lines = (
        json.dumps(
            {
                "credentialID": key_id,
                "SAD": sad,
                "hashes": [base64.b64encode(digest).decode()],
                "signAlgo": SIGN_OID,
            }
        )
        for sad, digest in grants
    )
    bodies.write_text("\n".join(lines) + "\n")
    return f"""
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local bodies, taken = {{}}, 0
function init(args)
  local n = 0
  for line in io.lines("{bodies}") do
    if n % 2 == id then bodies[#bodies + 1] = line end
    n = n + 1
  end
end
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}}
function request()
  taken = taken + 1
  return wrk.format("POST", nil, headers, bodies[taken] or "{{}}")
end
"""


def activation_rows(env: dict[str, str], work: Path) -> Rows:
    """Every activation row; last in a full run, since it leaves 100,000 filler credentials behind."""
    from ca.hsm import KeyAlgorithm
    from ca.signing_keys import subscriber_key

    authority = _authority(env)
    serial = _issue_official(authority, "ec-p256")
    key_id = subscriber_key(authority, serial).key_id
    rsa = _KeyPairs.make(authority, KeyAlgorithm.RSA2048)
    p256 = _KeyPairs.make(authority, KeyAlgorithm.EC_P256)
    rows = _unwrap_rows(authority, rsa, p256)
    rows += _authorize_rows(authority, key_id)
    rows += _http_rows(env, authority, serial, key_id, work)
    rows += _scale_rows(authority, key_id, p256)
    return rows
