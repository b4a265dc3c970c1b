"""The last holes of the hardening issue, each shown on real processes, a real HSM and a real database: a
fresh server's first time-stamps, a lost token store lock, private database files, a missing activation
PIN, and batch documents that outlive their welcome."""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import os
import secrets
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp as asn1_tsp
from sqlalchemy import select, update

from ca.activation import MAX_ATTEMPTS
from ca.signing_keys import subscriber_key
from ca.store import AuditEntry, Database, utc_now
from govsign.config.settings import DEFAULT_PKCS11_MODULE
from signing.batch_store import BatchItem, SigningBatch, create_batch
from signing.pades import Level, SigningOptions
from tests.conftest import PROJECT, PUBLIC_URL, SOFTHSM_CONF, Deployment, issue_in_hsm, running_server
from tests.pdf_samples import one_page_pdf, signature_png
from tests.test_signing_api import _account as signing_account
from tests.test_signing_api import post_sign

CONCURRENT_STAMPS = 24
ACCOUNT_HOLDER = "Nguyễn Văn Ánh"  # the demo request's name, the CN issue_in_hsm gives the certificate


def timestamp_query(text: bytes) -> bytes:
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(text).digest()}
    return bytes(
        asn1_tsp.TimeStampReq({"version": "v1", "message_imprint": imprint, "cert_req": True}).dump()
    )


def openssl_reply_text(reply: bytes, folder: Path, name: str) -> str:
    """`openssl ts -reply -text` of a DER TimeStampResp: what an RFC 3161 client makes of it."""
    path = folder / f"{name}.tsr"
    path.write_bytes(reply)
    shown = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(path), "-text"], capture_output=True, text=True, check=False
    )
    return shown.stdout + shown.stderr


def test_a_fresh_servers_first_concurrent_time_stamps_are_all_granted(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """The TSA looks its key up on first use; many first requests at once used to find the key without
    its encoded certificate parts and fail with a 500."""
    with running_server(sqlite_deployment) as base:
        barrier = threading.Barrier(CONCURRENT_STAMPS)

        def stamp(number: int) -> httpx.Response:
            barrier.wait()
            return httpx.post(
                f"{base}/pki/tsa",
                content=timestamp_query(b"first %d" % number),
                headers={"Content-Type": "application/timestamp-query"},
                timeout=60,
            )

        with ThreadPoolExecutor(CONCURRENT_STAMPS) as pool:
            answers = list(pool.map(stamp, range(CONCURRENT_STAMPS)))
    assert [answer.status_code for answer in answers] == [200] * CONCURRENT_STAMPS
    for number, answer in enumerate(answers):
        shown = openssl_reply_text(answer.content, tmp_path, f"reply-{number}")
        assert "Status: Granted." in shown, shown


def in_a_new_thread(work: Callable[[], bytes]) -> bytes:
    """``work`` on a thread of its own, as a server's request threads come and go; what it raised is
    raised here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result(timeout=120)


def test_a_lost_token_store_lock_gives_system_failure_and_try_later_not_a_500(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """The store lock's files live in SoftHSM2's token folder. When the folder goes (an HSM outage), a
    thread that has not opened them yet cannot take the lock: that used to escape as FileNotFoundError
    (a 500 from /pki/tsa and /pki/ocsp) instead of the TSA's systemFailure and OCSP's tryLater."""
    from ca.status import StatusServices

    services = StatusServices(sqlite_deployment.authority)
    services.ocsp.signers.of(
        services.ocsp.current_issuer()
    )  # loaded while the HSM is there, as in a running server
    ocsp_request = asn1_ocsp.OCSPRequest(
        {"tbs_request": {"request_list": [{"req_cert": services.ocsp.current_issuer().cert_id(0xABCDEF)}]}}
    ).dump()
    tokens = SOFTHSM_CONF.parent / "tokens"
    parked = tokens.with_name("tokens.lost-lock")
    tokens.rename(parked)
    try:
        assert ctypes.CDLL(DEFAULT_PKCS11_MODULE).C_Finalize(None) == 0  # the HSM restarts without them
        stamp = in_a_new_thread(lambda: services.tsa.respond(timestamp_query(b"during the outage")))
        ocsp = in_a_new_thread(lambda: services.ocsp.respond(ocsp_request, client="test").der)
    finally:
        parked.rename(tokens)
    shown = openssl_reply_text(stamp, tmp_path, "outage")
    assert "Status: Rejected." in shown and "due to system failure" in shown, shown
    assert asn1_ocsp.OCSPResponse.load(ocsp)["response_status"].native == "try_later"
    recovered = in_a_new_thread(lambda: services.tsa.respond(timestamp_query(b"after the outage")))
    assert "Status: Granted." in openssl_reply_text(recovered, tmp_path, "recovered")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_under_umask_022_keeps_home_and_database_files_private(tmp_path: Path) -> None:
    """`govsign init` in a home that does not exist yet, from a shell whose umask is the usual 022: the
    home is 0700 and the SQLite database 0600, and its -wal and -shm (made when a process writes) too."""
    home = tmp_path / "fresh-home"
    ceremony = tmp_path / "ceremony.toml"
    ceremony.write_text(
        (PROJECT / "hsm_config" / "ceremony.toml")
        .read_text(encoding="utf-8")
        .replace('token_label = "govsign-root"', 'token_label = "root-modes"'),
        encoding="utf-8",
    )
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "SOFTHSM2_CONF": str(SOFTHSM_CONF),
        "GOVSIGN_HOME": str(home),
        "GOVSIGN_TOKEN_LABEL": "service-modes",
        "GOVSIGN_CEREMONY_FILE": str(ceremony),
        "GOVSIGN_PUBLIC_URL": PUBLIC_URL,
    }
    initialised = subprocess.run(
        [sys.executable, "-m", "govsign", "init"],
        env=environment,
        umask=0o022,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert initialised.returncode == 0, initialised.stderr
    database = home / "govsign.db"
    assert (mode(home), mode(database)) == (0o700, 0o600)
    previous = os.umask(0o022)
    try:
        opened = Database(f"sqlite:///{database}")
        with opened.engine.connect() as connection:  # held open: the -wal and -shm stay while we look
            connection.exec_driver_sql("CREATE TABLE written_under_umask_022 (x INTEGER)")
            companions = [Path(f"{database}{suffix}") for suffix in ("-wal", "-shm")]
            assert {path.name: mode(path) for path in companions} == {path.name: 0o600 for path in companions}
        opened.dispose()
    finally:
        os.umask(previous)


def test_a_missing_activation_pin_is_401_and_spends_no_attempt(
    public_server: str, sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """Six signing requests without X-Activation-PIN (one more than the attempts): each is 401 saying so,
    none counts, the right PIN is still accepted, and the activation's audit entry names the account id."""
    holder = signing_account(
        sqlite_deployment,
        "create-official",
        issue_in_hsm(sqlite_deployment),
        signature_png(tmp_path / "s.png"),
    )
    document = one_page_pdf(tmp_path / "to-sign.pdf").read_bytes()
    answers = [post_sign(public_server, holder, document, pin=None) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [401] * 6
    detail = answers[-1].json()["detail"]
    assert "X-Activation-PIN" in detail and "nothing was counted" in detail, detail
    batch = httpx.post(
        f"{public_server}/api/v1/batches",
        headers={"Authorization": f"Bearer {holder.token}"},
        files=[("files", ("a.pdf", document, "application/pdf"))],
        timeout=60,
    )
    assert batch.status_code == 401 and "X-Activation-PIN" in batch.json()["detail"]
    signed = post_sign(public_server, holder, document)
    assert signed.status_code not in (401, 403, 423), signed.text  # the PIN was taken, nothing locked
    key_id = subscriber_key(sqlite_deployment.authority, holder.serial).key_id
    with sqlite_deployment.authority.database.transaction() as session:
        activations = session.execute(
            select(AuditEntry.actor, AuditEntry.result).where(
                AuditEntry.action == "credential.authorize", AuditEntry.object == f"credential:{key_id}"
            )
        ).all()
    assert activations == [(f"account:{holder.account_id}:{ACCOUNT_HOLDER}", "success")]
    assert sqlite_deployment.authority.activation_module().status(key_id).attempts_left == MAX_ATTEMPTS


def finished_batch(deployment: Deployment, owner: str, root: Path, age: dt.timedelta) -> tuple[str, Path]:
    """A batch of one signed document in ``root``/ID whose last document finished ``age`` ago (no waiting
    for days); its id and folder."""
    batch_id = secrets.token_hex(8)
    folder = root / batch_id
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    source = one_page_pdf(folder / "in" / "0000-a.pdf")
    (folder / "out" / source.name).write_bytes(source.read_bytes())
    database = deployment.authority.database
    create_batch(
        database,
        owner=owner,
        serial="01",
        options=SigningOptions(level=Level.B_B),
        sources=[source],
        target_dir=folder / "out",
        batch_id=batch_id,
    )
    with database.transaction() as session:
        batch = session.get(SigningBatch, batch_id)
        assert batch is not None
        batch.state, batch.finished_at = "finished", utc_now() - age
        session.execute(update(BatchItem).where(BatchItem.batch_id == batch_id).values(state="done"))
    return batch_id, folder


def test_batch_documents_are_deleted_after_the_retention_period_by_the_maintenance_loop(
    sqlite_deployment: Deployment, tmp_path: Path
) -> None:
    """GOVSIGN_BATCH_RETENTION_DAYS=0.5: the server's maintenance loop deletes the folder of an API batch
    finished a day ago and reports it expired (status and download say so), keeps one finished an hour
    ago, and never touches the folders of a `govsign sign-batch` run, which belong to the operator."""
    holder = signing_account(
        sqlite_deployment,
        "create-official",
        issue_in_hsm(sqlite_deployment),
        signature_png(tmp_path / "s.png"),
    )
    owner = f"account:{holder.account_id}:{ACCOUNT_HOLDER}"
    batches = sqlite_deployment.settings.home / "batches"
    old, old_folder = finished_batch(sqlite_deployment, owner, batches, dt.timedelta(days=1))
    young, young_folder = finished_batch(sqlite_deployment, owner, batches, dt.timedelta(hours=1))
    operators, operators_folder = finished_batch(
        sqlite_deployment, "cli:operator", tmp_path, dt.timedelta(days=30)
    )
    authorization = {"Authorization": f"Bearer {holder.token}"}
    with running_server(
        sqlite_deployment, GOVSIGN_MAINTENANCE_INTERVAL_SECONDS="0.3", GOVSIGN_BATCH_RETENTION_DAYS="0.5"
    ) as base:
        deadline = time.monotonic() + 30
        while (report := httpx.get(f"{base}/api/v1/batches/{old}", headers=authorization).json())[
            "state"
        ] != "expired" and time.monotonic() < deadline:
            time.sleep(0.3)
        download = httpx.get(f"{base}/api/v1/batches/{old}/documents/0000-a.pdf", headers=authorization)
        kept = httpx.get(f"{base}/api/v1/batches/{young}/documents/0000-a.pdf", headers=authorization)
    assert report["state"] == "expired", report
    assert "deleted 0.5 days after it finished" in report["detail"], report
    assert download.status_code == 404 and "has expired" in download.json()["detail"]
    assert not old_folder.exists()
    assert kept.status_code == 200 and (young_folder / "out" / "0000-a.pdf").is_file()
    assert (operators_folder / "out" / "0000-a.pdf").is_file()
    with sqlite_deployment.authority.database.transaction() as session:
        states = dict(session.execute(select(SigningBatch.id, SigningBatch.state)).all())
        audited = session.scalars(select(AuditEntry.object).where(AuditEntry.action == "batch.expire")).all()
    assert (states[young], states[operators]) == ("finished", "finished")
    assert audited == [f"batch:{old}"]
