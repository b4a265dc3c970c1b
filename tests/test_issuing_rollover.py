"""Rolling the issuing CA over (issue 14, item 4): a document signed at B-LTA by an official of the old CA
before the rollover and one signed by an official of the new CA after it both validate TOTAL_PASSED
(govsign's validator, pyHanko's, pdfsig); OCSP over real HTTP answers for both issuers, and "revoked" for an
old-CA certificate revoked after the rollover; each issuer's CRLs are served at its own URLs and openssl
verify -crl_check accepts each leaf with its own issuer's CRL; pkilint accepts the new CA's certificate and
its CRLs. On SQLite and PostgreSQL, each a deployment of this module's own, served on the port its
certificates name (pdfsig asks the OCSP responder written in them)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID
from pkilint.bin import lint_crl
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import func, select

from ca import clock
from ca.hierarchy import HIERARCHY_RELOAD
from ca.signing_keys import subscriber_key
from ca.status import StatusServices
from ca.store import AuditEntry, CaRecord
from signing.extend import extend_pdf
from signing.pades import Level, SigningOptions
from tests.conftest import (
    Deployment,
    free_port,
    issue_in_hsm,
    make_deployment,
    nss_trusting,
    postgres_url,
    running_server,
    sign_as_holder,
)
from tests.pdf_samples import one_page_pdf
from tests.status_servers import BIN
from tests.test_pades import assert_pdfsig_valid_and_trusted, assert_pyhanko_valid

REVOCATION_PROMISE_SECONDS = 1.0
SHARD_PROMISE_SECONDS = 60.0


@dataclass(frozen=True)
class Generation:
    """One issuing CA and what the test made under it: an official who signed, and one to revoke."""

    name: str
    ca: Path  # PEM
    signer: Path  # PEM of the official's certificate that signed the document
    spare: Path  # PEM of another official's certificate, revoked by a test
    document: Path


@dataclass(frozen=True)
class Rolled:
    deployment: Deployment
    base: str  # the deployment's server, at the port its certificates name
    folder: Path
    old: Generation
    new: Generation
    chain: Path  # the root and both issuing CAs, PEM
    nss: str  # pdfsig's database: our root alone is trusted

    @property
    def root(self) -> x509.Certificate:
        return self.deployment.root


def _pem(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    return path


def _certificate(deployment: Deployment, serial: str) -> x509.Certificate:
    return subscriber_key(deployment.authority, serial).certificate


def _generation(own: Deployment, folder: Path, source: Path, label: str) -> Generation:
    """Issue two officials under the CA that issues now and have the first sign ``source`` at B-LTA."""
    signer, spare = issue_in_hsm(own), issue_in_hsm(own, demo="official-tran-thi-binh-60-days.json")
    document = folder / f"{label}.pdf"
    key = subscriber_key(own.authority, signer)
    options = SigningOptions(level=Level.B_LTA)
    sign_as_holder(StatusServices(own.authority), key, source, document, options, actor="rollover-test")
    issuing = own.authority.issuing_ca()
    return Generation(
        issuing.name,
        _pem(folder / f"{label}-ca.pem", issuing.certificate),
        _pem(folder / f"{label}-signer.pem", key.certificate),
        _pem(folder / f"{label}-spare.pem", _certificate(own, spare)),
        document,
    )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def rolled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rolled]:
    """Sign under the old CA, roll the issuing CA over with the CLI (the root PIN from a file), sign under
    the new one; then serve the deployment."""
    backend = request.param
    port = free_port()
    database = postgres_url("issuing_rollover") if backend == "postgresql" else None
    own = make_deployment(f"ca-roll-{backend}", database, public_url=f"http://ca.govsign.vn:{port}")
    folder = tmp_path_factory.mktemp(f"issuing-rollover-{backend}")
    source = one_page_pdf(folder / "to-sign.pdf", text="Quyet dinh")
    old = _generation(own, folder, source, "before")
    result = own.cli("ca", "rollover", "issuing", "--pin-file", str(own.settings.root_pin_path))
    new_name = result.stdout.strip().splitlines()[-1]
    assert new_name != old.name and own.authority.issuing_ca().name == old.name  # not yet re-read here
    with clock.frozen() as moved:  # a process opened before the rollover issues from the new CA a minute on
        moved.advance(HIERARCHY_RELOAD)
        assert own.authority.issuing_ca().name == new_name
    new = _generation(own, folder, source, "after")
    chain = folder / "chain.pem"
    chain.write_bytes(b"".join(path.read_bytes() for path in (old.ca, new.ca)) + own.chain_pem.read_bytes())
    nss = nss_trusting(tmp_path_factory.mktemp(f"nss-{backend}"), own.root)
    with running_server(own, port=port, GOVSIGN_MAINTENANCE_INTERVAL_SECONDS="1") as base:
        yield Rolled(own, base, folder, old, new, chain, nss)


def _signer_issuer(document: Path) -> x509.Name:
    with document.open("rb") as stream:
        (signature,) = PdfFileReader(stream).embedded_regular_signatures
        return x509.load_der_x509_certificate(signature.signer_cert.dump()).issuer


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_documents_signed_under_the_old_and_the_new_issuing_ca_both_validate_total_passed(
    rolled: Rolled,
) -> None:
    for generation in (rolled.old, rolled.new):
        assert _signer_issuer(generation.document) == _load(generation.ca).subject
        ours = rolled.deployment.cli("verify", str(generation.document), "--offline", check=False)
        assert ours.returncode == 0 and "TOTAL_PASSED" in ours.stdout, ours.stdout + ours.stderr
        assert_pyhanko_valid(generation.document, rolled.deployment, Level.B_LTA)
        assert_pdfsig_valid_and_trusted(rolled.nss, generation.document, expected=1)
    assert _load(rolled.old.ca).subject != _load(rolled.new.ca).subject


def test_the_archive_of_a_document_signed_under_the_old_ca_is_renewed_after_the_rollover(
    rolled: Rolled,
) -> None:
    """`extend` takes the old CA's signatures as ours (its chain and OCSP answer come from the old CA), and
    the document, with its second archive time-stamp, stays TOTAL_PASSED."""
    services = StatusServices(rolled.deployment.authority)
    target = rolled.folder / "before-renewed.pdf"
    renewed = extend_pdf(services, rolled.old.document, target, Level.B_LTA, actor="rollover-test")
    assert renewed.renewed
    ours = rolled.deployment.cli("verify", str(target), "--offline", check=False)
    assert ours.returncode == 0 and "TOTAL_PASSED" in ours.stdout, ours.stdout + ours.stderr
    assert_pyhanko_valid(target, rolled.deployment, Level.B_LTA)


def _openssl_ocsp(rolled: Rolled, issuer: Path, *target: str) -> str:
    """`openssl ocsp` against the server for ``target`` (-cert FILE or -serial N) under ``issuer``."""
    result = subprocess.run(
        [
            *("openssl", "ocsp", "-issuer", str(issuer), *target, "-no_nonce"),
            *("-url", f"{rolled.base}/pki/ocsp", "-CAfile", str(rolled.chain)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout + result.stderr


def _status(output: str, subject: str) -> str:
    """The status openssl read for ``subject`` (the -cert file or -serial value), once the response verified."""
    line = next((line for line in output.splitlines() if line.startswith(f"{subject}:")), None)
    assert line is not None and "Response verify OK" in output, output
    return line.split(":")[-1].strip()


def _leaf_status(rolled: Rolled, issuer: Path, leaf: Path) -> str:
    return _status(_openssl_ocsp(rolled, issuer, "-cert", str(leaf)), str(leaf))


def test_ocsp_answers_good_for_the_certificates_of_both_issuers_each_under_its_own_issuer(
    rolled: Rolled,
) -> None:
    for generation in (rolled.old, rolled.new):
        assert _leaf_status(rolled, generation.ca, generation.signer) == "good"
    # the new CA asked about a serial only the old one issued: not ours under that issuer
    serial = f"0x{_load(rolled.old.signer).serial_number:x}"
    assert _status(_openssl_ocsp(rolled, rolled.new.ca, "-serial", serial), serial) == "unknown"
    # the old CA's name with the new CA's key names no issuer of ours (RFC 6960 §2.3)
    mixed = _openssl_ocsp(rolled, rolled.new.ca, "-cert", str(rolled.old.signer))
    assert "Responder Error: unauthorized" in mixed, mixed


def _cdp(leaf: Path) -> str:
    points = _load(leaf).extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (name,) = points[0].full_name or []
    return str(name.value)


def _fetch(rolled: Rolled, url: str, name: str) -> Path:
    response = httpx.get(rolled.base + urllib.parse.urlsplit(url).path)
    assert response.status_code == 200, url
    path = rolled.folder / name
    path.write_bytes(response.content)
    return path


def _crl_pem(rolled: Rolled, leaf: Path, name: str) -> Path:
    """The CRL the leaf's CDP names, fetched from the server, as PEM."""
    crl = x509.load_der_x509_crl(_fetch(rolled, _cdp(leaf), f"{name}.crl").read_bytes())
    path = rolled.folder / f"{name}.crl.pem"
    path.write_bytes(crl.public_bytes(Encoding.PEM))
    return path


def _verify_with_crl(rolled: Rolled, leaf: Path, crl: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *("openssl", "verify", "-crl_check", "-CAfile", str(rolled.chain)),
            *("-CRLfile", str(crl), str(leaf)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_each_issuer_serves_its_own_crls_at_its_own_urls_and_openssl_verify_accepts_each_leaf(
    rolled: Rolled,
) -> None:
    options = rolled.deployment.authority.options
    for label, generation in (("old", rolled.old), ("new", rolled.new)):
        url = _cdp(generation.signer)
        shards = options.crl_shards
        assert url == options.crl_shard_url(generation.name, _load(generation.signer).serial_number % shards)
        crl = _crl_pem(rolled, generation.signer, f"{label}-signer")
        assert x509.load_pem_x509_crl(crl.read_bytes()).issuer == _load(generation.ca).subject
        checked = _verify_with_crl(rolled, generation.signer, crl)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        full = _fetch(rolled, options.crl_url(generation.name), f"{label}-full.crl")
        assert x509.load_der_x509_crl(full.read_bytes()).is_signature_valid(
            _load(generation.ca).public_key()  # type: ignore[arg-type]
        )
    assert urllib.parse.urlsplit(_cdp(rolled.old.signer)).path.split("/")[3] == rolled.old.name
    # AIA caIssuers of a new certificate: the new CA's certificate, served
    access = _load(rolled.new.signer).extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    (ca_issuers,) = [d for d in access.value if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    served = _fetch(rolled, str(ca_issuers.access_location.value), "new-ca.crt")
    assert x509.load_der_x509_certificate(served.read_bytes()) == _load(rolled.new.ca)
    # and the new CA certificate's own: the root's, which signed it
    access = _load(rolled.new.ca).extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    (ca_issuers,) = [d for d in access.value if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    served = _fetch(rolled, str(ca_issuers.access_location.value), "root.crt")
    assert x509.load_der_x509_certificate(served.read_bytes()) == rolled.root


def test_an_old_ca_certificate_revoked_after_the_rollover_is_revoked_in_ocsp_at_once_and_in_its_crl_soon(
    rolled: Rolled,
) -> None:
    serial = format(_load(rolled.old.spare).serial_number, "x")
    rolled.deployment.cli("ca", "revoke", serial, "--reason", "retired")
    revoked_at = time.monotonic()
    while _leaf_status(rolled, rolled.old.ca, rolled.old.spare) != "revoked":
        assert time.monotonic() - revoked_at < REVOCATION_PROMISE_SECONDS, "OCSP still not revoked"
        time.sleep(0.05)
    while True:
        checked = _verify_with_crl(rolled, rolled.old.spare, _crl_pem(rolled, rolled.old.spare, "old-spare"))
        if checked.returncode != 0:
            break
        assert time.monotonic() - revoked_at < SHARD_PROMISE_SECONDS, "the shard CRL does not list it"
        time.sleep(0.5)
    assert "certificate revoked" in checked.stdout + checked.stderr
    assert _leaf_status(rolled, rolled.new.ca, rolled.new.spare) == "good"


def test_pkilint_accepts_the_new_ca_certificate_and_its_crls(rolled: Rolled) -> None:
    linted = subprocess.run(
        [str(BIN / "lint_pkix_cert"), "lint", "-s", "ERROR", str(rolled.new.ca)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    options = rolled.deployment.authority.options
    full = _fetch(rolled, options.crl_url(rolled.new.name), "new-full-lint.crl")
    shard = _fetch(rolled, _cdp(rolled.new.signer), "new-shard-lint.crl")
    for path in (full, shard):
        assert lint_crl.main(["lint", "-s", "ERROR", "-t", "CRL", "-p", "PKIX", str(path)]) == 0, path


def test_the_rollover_is_audited_and_one_refused_for_a_wrong_root_pin_or_a_taken_name_changes_nothing(
    rolled: Rolled,
) -> None:
    own = rolled.deployment
    with own.authority.database.reading() as session:
        (entry,) = session.execute(select(AuditEntry).where(AuditEntry.action == "ca.rollover")).scalars()
        details = json.loads(entry.details)
        assert entry.object == "service:issuing"
        assert (details["old_ca"], details["new_ca"]) == (rolled.old.name, rolled.new.name)
        assert details["new"] == format(_load(rolled.new.ca).serial_number, "x")
        cas = session.execute(select(func.count()).select_from(CaRecord)).scalar_one()
    wrong = rolled.folder / "wrong.pin"
    wrong.write_text("not-the-root-pin\n")
    refused = own.cli("ca", "rollover", "issuing", "--pin-file", str(wrong), check=False)
    assert refused.returncode != 0
    taken = own.cli("ca", "rollover", "issuing", "--name", rolled.old.name, check=False)
    assert taken.returncode == 5 and "exists already" in taken.stderr, taken.stderr
    with own.authority.database.reading() as session:
        assert session.execute(select(func.count()).select_from(CaRecord)).scalar_one() == cas
    own.cli("audit", "verify")  # exit 0 only when the audit chain is intact


def test_ca_crl_after_the_rollover_publishes_the_full_crl_of_each_ca_in_service(rolled: Rolled) -> None:
    """An operator who runs `govsign ca crl` after revoking an old-CA certificate gets the CRL that
    certificate's issuer signs republished too, not only the newest CA's."""
    options = rolled.deployment.authority.options

    def full_number(name: str) -> int:
        crl = x509.load_der_x509_crl(_fetch(rolled, options.crl_url(name), f"{name}-number.crl").read_bytes())
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)

    before = full_number(rolled.old.name)
    published = rolled.deployment.cli("ca", "crl").stdout
    assert f"CRL of the earlier CA {rolled.old.name}:" in published, published
    deadline = time.monotonic() + 60  # the server's cache checks the database again within its recheck
    while full_number(rolled.old.name) <= before:
        assert time.monotonic() < deadline, "the earlier CA's full CRL was not republished"
        time.sleep(0.5)
