"""Fixtures: real SoftHSM2 tokens, real databases (SQLite and PostgreSQL), real processes.

SoftHSM2 reads its configuration once per process, so the whole session shares one token folder; each
database backend gets its own deployment (data folder, service token, root token, database) inside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SESSION_ROOT = Path(os.environ.get("GOVSIGN_TEST_TMP", "/tmp")) / f"govsign-tests-{os.getpid()}"
SOFTHSM_CONF = SESSION_ROOT / "softhsm" / "softhsm2.conf"
PROJECT = Path(__file__).resolve().parents[1]

# Before anything loads the PKCS#11 library: this process's SoftHSM2 looks only in the session's folder.
SOFTHSM_CONF.parent.mkdir(parents=True, exist_ok=True)
(SOFTHSM_CONF.parent / "tokens").mkdir(exist_ok=True)
SOFTHSM_CONF.write_text(
    (PROJECT / "hsm_config" / "softhsm2.conf")
    .read_text()
    .replace("@TOKEN_DIR@", str(SOFTHSM_CONF.parent / "tokens"))
)
os.environ["SOFTHSM2_CONF"] = str(SOFTHSM_CONF)
os.environ.pop("GOVSIGN_TOKEN_PIN", None)

from ca.authority import Authority  # noqa: E402  (imports after SOFTHSM2_CONF is set)
from ca.signing_keys import SubscriberKey, activate_for_documents, subscriber_key  # noqa: E402
from ca.status import StatusServices  # noqa: E402
from govsign.config import runtime  # noqa: E402
from govsign.config.settings import Settings  # noqa: E402
from signing.pades import SignedDocument, SigningOptions, sign_pdf  # noqa: E402

# Fixtures shared by the validation modules (the SQLite deployment's services, a document, its trust store)
# and by the status-service modules (two servers on each deployment) and the dual-control ones (a deployment)
pytest_plugins = ["tests.validation_fixtures", "tests.status_servers", "tests.dual_control_fixtures"]

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/govsign_test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The URLs written into the test certificates: a port of this session's own, so that verifiers that follow
# them (pdfsig asks the OCSP responder itself) reach this session's server and never a demo on port 8000.
PUBLIC_PORT = free_port()
PUBLIC_URL = f"http://ca.govsign.vn:{PUBLIC_PORT}"


def _needs_hsm(item: pytest.Item) -> bool:
    """Every test but those of a module marked ``pure`` that use no deployment, server or process: most
    tests make their own tokens, databases and servers, which no fixture name can tell reliably."""
    names = getattr(item, "fixturenames", ())
    return (
        item.get_closest_marker("pure") is None
        or any("deployment" in name or "server" in name or name == "nss_db" for name in names)
        or item.get_closest_marker("slow") is not None
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs SoftHSM, a deployment or a server ``hsm``: ``-m "not hsm"`` is the fast
    tier of pure steps (under 30 s), for the inner loop."""
    for item in items:
        if _needs_hsm(item):
            item.add_marker(pytest.mark.hsm)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(SESSION_ROOT, ignore_errors=True)


def postgres_url(suffix: str = "") -> str:
    """A scratch PostgreSQL database, emptied; skip (or, in CI, fail) when there is no server. Each
    pytest-xdist worker (``-n 2``) gets a database of its own, named after it; a module's own deployment
    one more, named after ``suffix``."""
    url = os.environ.get("GOVSIGN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    for part in (worker, suffix):
        if part:
            url = make_url(url).set(database=f"{make_url(url).database}_{part}").render_as_string(False)
    try:
        server = make_url(url).set(database="postgres")
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            name = make_url(url).database
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception as error:
        reason = f"PostgreSQL at {url} unavailable ({type(error).__name__}: {error})"
        if os.environ.get("GOVSIGN_REQUIRE_POSTGRES"):
            pytest.fail(reason + " and GOVSIGN_REQUIRE_POSTGRES is set (CI demands both databases)")
        pytest.skip(reason)
    return url


@dataclass
class Deployment:
    """An initialised govsign: settings, the in-process Authority, and the environment for its CLI."""

    backend: str
    settings: Settings
    authority: Authority
    env: dict[str, str]
    chain_pem: Path

    def cli(
        self,
        *arguments: str,
        check: bool = True,
        timeout: float = 120,
        stdin: str | None = None,
        user: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `govsign ARGUMENTS` in a new process against this deployment (for ``user`` as sudo would:
        the operator identity the audit log and dual control see; the tests run as root)."""
        result = subprocess.run(
            [sys.executable, "-m", "govsign", *arguments],
            input=stdin,
            env={**self.env, "SUDO_USER": user} if user else self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"govsign {' '.join(arguments)} failed ({result.returncode}): {result.stderr}"
            )
        return result

    @property
    def root(self) -> x509.Certificate:
        return self.authority.chain()[-1]

    @property
    def issuing(self) -> x509.Certificate:
        return self.authority.chain()[0]


def make_deployment(backend: str, database_url: str | None, public_url: str = PUBLIC_URL) -> Deployment:
    """An initialised deployment in a folder of its own; its certificates name ``public_url`` (a module
    that serves its own deployment to verifiers that follow the URLs gives it a port of its own)."""
    home = SESSION_ROOT / f"deployment-{backend}"
    home.mkdir(parents=True, exist_ok=True)
    ceremony = home / "ceremony.toml"
    ceremony.write_text(
        (PROJECT / "hsm_config" / "ceremony.toml")
        .read_text(encoding="utf-8")
        .replace('token_label = "govsign-root"', f'token_label = "root-{backend}"'),
        encoding="utf-8",
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "SOFTHSM2_CONF": str(SOFTHSM_CONF),
        "GOVSIGN_HOME": str(home),
        "GOVSIGN_TOKEN_LABEL": f"service-{backend}",
        "GOVSIGN_CEREMONY_FILE": str(ceremony),
        "GOVSIGN_PUBLIC_URL": public_url,
    }
    if database_url:
        env["GOVSIGN_DATABASE_URL"] = database_url
    settings = Settings(
        home=home,
        database_url=database_url,
        token_label=f"service-{backend}",
        ceremony_file=ceremony,
        public_url=public_url,
    )
    runtime.initialise(settings)
    authority = runtime.open_authority_from(settings)
    chain_pem = home / "chain.pem"
    chain_pem.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in authority.chain()))
    return Deployment(backend, settings, authority, env, chain_pem)


_deployments: dict[str, Deployment] = {}


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """An initialised deployment on each database backend (tests using it run once per backend)."""
    backend = request.param
    if backend not in _deployments:
        url = postgres_url() if backend == "postgresql" else None
        _deployments[backend] = make_deployment(backend, url)
    return _deployments[backend]


@pytest.fixture(scope="session")
def sqlite_deployment() -> Deployment:
    """The SQLite deployment alone, for tests about the HSM or the CLI rather than the database."""
    if "sqlite" not in _deployments:
        _deployments["sqlite"] = make_deployment("sqlite", None)
    return _deployments["sqlite"]


@pytest.fixture(scope="session")
def postgres_deployment() -> Deployment:
    if "postgresql" not in _deployments:
        _deployments["postgresql"] = make_deployment("postgresql", postgres_url())
    return _deployments["postgresql"]


def administrator_token(deployment: Deployment, role: str) -> str:
    """A new administrator with ``role``, made by `govsign admin create`; returns their API token."""
    created = deployment.cli("admin", "create", "--name", f"Cán bộ {role}", "--role", role)
    return created.stdout.strip().splitlines()[-1]


DEMO = PROJECT / "scripts" / "demo"


def server_logs() -> str:
    """Everything the test servers of this session logged, for assertion messages."""
    return "\n".join(f"--- {log.name}\n{log.read_text()}" for log in sorted(SESSION_ROOT.glob("serve-*.log")))


@contextmanager
def running_server(
    deployment: Deployment, *, port: int | None = None, workers: int = 1, **environment: str
) -> Iterator[str]:
    """`govsign serve` in its own process (on a free port unless told); yields its base URL once /healthz
    answers."""
    port = port or free_port()
    log = SESSION_ROOT / f"serve-{deployment.backend}-{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "govsign", "serve", "--port", str(port), "--workers", str(workers)],
            env={**deployment.env, **environment},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise AssertionError(log.read_text())
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("govsign serve did not become healthy in 60 s:\n" + log.read_text())
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def public_server(sqlite_deployment: Deployment) -> Iterator[str]:
    """The SQLite deployment's server on the port written into its certificates (for pdfsig's OCSP)."""
    with running_server(sqlite_deployment, port=PUBLIC_PORT) as base:
        yield base


@pytest.fixture(scope="session")
def nss_db(tmp_path_factory: pytest.TempPathFactory, sqlite_deployment: Deployment) -> str:
    """An NSS database that trusts our root and nothing else (pdfsig must find the issuing CA in the CMS)."""
    return nss_trusting(tmp_path_factory.mktemp("nss"), sqlite_deployment.root)


def nss_trusting(folder: Path, anchor: x509.Certificate) -> str:
    """A new NSS database in ``folder`` that trusts ``anchor`` and nothing else, as pdfsig's -nssdir."""
    root = folder / "root.pem"
    root.write_bytes(anchor.public_bytes(Encoding.PEM))
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-n", "govsign-root", "-t", "CT,C,C", "-i", str(root), "-d", f"sql:{folder}"],
        check=True,
    )
    return f"sql:{folder}"


def issue_in_hsm(
    deployment: Deployment,
    profile: str = "individual",
    demo: str = "official-nguyen-van-anh.json",
    algorithm: str = "ec-p256",
) -> str:
    """A certificate for one of the demo requests, its key generated in the HSM; returns the serial."""
    from ca.hsm import KeyAlgorithm
    from ca.issuance import GenerateInHsm, issue_certificate
    from ca.profiles import CertificateKind, parse_request

    request = parse_request(profile, json.loads((DEMO / demo).read_text("utf-8")))
    kind = CertificateKind.INDIVIDUAL if profile == "individual" else CertificateKind.ORGANISATION
    issued = issue_certificate(
        deployment.authority, kind, request, GenerateInHsm(KeyAlgorithm(algorithm)), actor="test"
    )
    take_control(deployment, issued.serial_hex, issued.setup_code)
    return str(issued.serial_hex)


HOLDER_PIN = "246810"  # the PIN every test holder chooses with their set-up code


def take_control(deployment: Deployment, serial: str, setup_code: str | None, pin: str = HOLDER_PIN) -> None:
    """What the holder does with the envelope from registration: choose the PIN that seals the new key."""
    assert setup_code is not None, "a key generated for a holder comes with a set-up code"
    key = subscriber_key(deployment.authority, serial)
    deployment.authority.activation_module().take_control(key.key_id, setup_code, pin, actor="holder")


def as_holder(
    authority: Authority, key: SubscriberKey, document: Path, pin: str = HOLDER_PIN
) -> SubscriberKey:
    """``key`` activated by its holder's PIN for this one document, as every face asks of an official."""
    digest = hashlib.sha256(document.read_bytes()).digest()
    return activate_for_documents(authority, key, pin, [digest], actor="holder").key_for(digest)


def sign_as_holder(
    services: StatusServices,
    key: SubscriberKey,
    source: Path,
    target: Path,
    options: SigningOptions,
    *,
    actor: str,
) -> SignedDocument:
    """`sign_pdf` after the holder's PIN approved ``source``: what the API, console and CLI do."""
    return sign_pdf(
        services, as_holder(services.authority, key, source), source, target, options, actor=actor
    )
