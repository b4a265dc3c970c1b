"""Partitioned CRLs over real HTTP (issue 14, item 2): a certificate's CDP names its shard's CRL, which
openssl and pkilint accept and whose issuingDistributionPoint names the same URL; a revocation reaches its
shard within a minute through the servers' maintenance, and no other shard is rebuilt for it."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pkilint.bin import lint_crl
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathValidationError, RevokedError
from sqlalchemy import select

from ca.store import AuditEntry, CertificateRecord, CrlShard, Lease, utc_now
from tests.status_servers import Servers

REVOCATION_PROMISE_SECONDS = 60


def _cdp_url(leaf: Path) -> str:
    certificate = x509.load_pem_x509_certificate(leaf.read_bytes())
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (point,) = points
    assert point.full_name is not None
    (name,) = point.full_name
    return str(name.value)


def _fetch_shard(servers: Servers, base: str, url: str) -> tuple[Path, x509.CertificateRevocationList]:
    """The CRL at the CDP ``url``, asked of the server at ``base`` (the URL's host is the public name)."""
    response = httpx.get(base + urllib.parse.urlsplit(url).path)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pkix-crl"
    path = servers.folder / ("shard-" + Path(urllib.parse.urlsplit(url).path).name)
    path.write_bytes(response.content)
    return path, x509.load_der_x509_crl(response.content)


def _shard_numbers(servers: Servers) -> dict[int, int]:
    with servers.deployment.authority.database.reading() as session:
        rows = session.execute(select(CrlShard.shard, CrlShard.number, CrlShard.dirty_since)).all()
    assert all(dirty is None for _, _, dirty in rows), "a shard still awaits its publication"
    return {shard: number for shard, number, _ in rows}


def _settled_shard_numbers(servers: Servers) -> dict[int, int]:
    deadline = time.monotonic() + REVOCATION_PROMISE_SECONDS
    while True:
        try:
            return _shard_numbers(servers)
        except AssertionError:
            assert time.monotonic() < deadline, "the shards did not settle"
            time.sleep(0.5)


def _openssl_verify_with(servers: Servers, leaf: Path, crl_der: Path) -> subprocess.CompletedProcess[str]:
    crl_pem = crl_der.with_suffix(".pem")
    subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl_der), "-out", str(crl_pem)], check=True
    )
    return subprocess.run(
        [
            *("openssl", "verify", "-crl_check", "-CAfile", str(servers.deployment.chain_pem)),
            *("-CRLfile", str(crl_pem), str(leaf)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_certificate_names_its_shard_whose_crl_openssl_and_pkilint_accept(servers: Servers) -> None:
    serial, leaf = servers.issue()
    shards = servers.deployment.authority.options.crl_shards
    shard = int(serial, 16) % shards
    url = _cdp_url(leaf)
    assert url.endswith(f"/pki/crl/govsign-ca/{shard}.crl")
    with servers.deployment.authority.database.reading() as session:
        stored = session.execute(
            select(CertificateRecord.crl_shard).where(CertificateRecord.serial == serial)
        )
        assert stored.scalar_one() == shard
    path, crl = _fetch_shard(servers, servers.first, url)
    scope = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert scope.critical and scope.value.only_contains_user_certs
    assert scope.value.full_name == [x509.UniformResourceIdentifier(url)]
    accepted = _openssl_verify_with(servers, leaf, path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_every_shard_passes_openssl_crl_and_pkilint_and_names_itself(servers: Servers) -> None:
    shards = servers.deployment.authority.options.crl_shards
    public = servers.deployment.authority.options.crl_shard_url
    for shard in range(shards):
        url = public("govsign-ca", shard)
        path, crl = _fetch_shard(servers, servers.first, url)
        scope = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
        assert scope.critical and scope.value.full_name == [x509.UniformResourceIdentifier(url)], shard
        checked = subprocess.run(
            [
                *("openssl", "crl", "-inform", "DER", "-in", str(path), "-noout"),
                "-CAfile",
                str(servers.deployment.chain_pem),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "verify OK" in checked.stdout + checked.stderr, (shard, checked.stdout + checked.stderr)
        # pkilint's own lint_crl command, in this process (a new Python per shard would take minutes)
        assert lint_crl.main(["lint", "-s", "ERROR", "-t", "CRL", "-p", "PKIX", str(path)]) == 0, shard


def test_revocation_reaches_its_shard_within_a_minute_and_only_that_shard_is_rebuilt(
    servers: Servers,
) -> None:
    shards = servers.deployment.authority.options.crl_shards
    revoked_serial, revoked = servers.issue()
    good_serial, good = servers.issue()
    while int(good_serial, 16) % shards == int(revoked_serial, 16) % shards:
        good_serial, good = servers.issue()
    before = _settled_shard_numbers(servers)
    revoked_shard = int(revoked_serial, 16) % shards

    servers.deployment.cli("ca", "revoke", revoked_serial, "--reason", "keyCompromise")
    started = time.monotonic()
    while True:
        path, crl = _fetch_shard(servers, servers.second, _cdp_url(revoked))
        if crl.get_revoked_certificate_by_serial_number(int(revoked_serial, 16)) is not None:
            break
        assert time.monotonic() - started < REVOCATION_PROMISE_SECONDS, (
            "the revocation did not reach its shard"
        )
        time.sleep(0.5)

    after = _settled_shard_numbers(servers)
    assert after[revoked_shard] > before[revoked_shard]
    assert {s: n for s, n in after.items() if s != revoked_shard} == {
        s: n for s, n in before.items() if s != revoked_shard
    }, "a shard without a revocation was rebuilt"
    refused = _openssl_verify_with(servers, revoked, path)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    good_path, _ = _fetch_shard(servers, servers.first, _cdp_url(good))
    accepted = _openssl_verify_with(servers, good, good_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


@contextmanager
def _maintenance_held_by_the_test(servers: Servers) -> Iterator[None]:
    """The servers' maintenance lease taken over for the block, so that what is published in it is what the
    test publishes (the servers' rounds every second would publish a dirty shard first)."""
    database = servers.deployment.authority.database
    with database.transaction() as session:
        session.merge(
            Lease(name="status-maintenance", holder="test", expires_at=utc_now() + dt.timedelta(minutes=5))
        )
    time.sleep(3)  # a round that began before the take-over ends
    try:
        yield
    finally:
        with database.transaction() as session:
            session.merge(Lease(name="status-maintenance", holder="test", expires_at=utc_now()))


def test_ca_crl_publishes_the_shard_a_revocation_left_due_and_the_full_crl(servers: Servers) -> None:
    shards = servers.deployment.authority.options.crl_shards
    serial, leaf = servers.issue()
    shard = int(serial, 16) % shards
    with _maintenance_held_by_the_test(servers):
        servers.deployment.cli("ca", "revoke", serial, "--reason", "keyCompromise")
        with servers.deployment.authority.database.reading() as session:
            dirty = (
                session.execute(select(CrlShard.shard).where(CrlShard.dirty_since.is_not(None)))
                .scalars()
                .all()
            )
        assert shard in dirty
        published = servers.deployment.cli("ca", "crl").stdout
    number, shards_line = published.split()[1].rstrip(":"), published.strip().splitlines()[-1]
    assert str(shard) in shards_line.removeprefix("shards published:").strip().split(", "), published
    assert _shard_numbers(servers)[shard] < int(number), "the shard is published before the full CRL"
    _, crl = _fetch_shard(servers, servers.first, _cdp_url(leaf))
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    with servers.deployment.authority.database.reading() as session:
        actors = (
            session.execute(
                select(AuditEntry.actor)
                .where(AuditEntry.object.like(f"crl:govsign-ca/{shard}:%"))
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
    assert actors and actors[-1].startswith("cli:"), actors


def test_shard_crl_is_served_with_its_etag_and_unknown_shards_are_404(servers: Servers) -> None:
    first = httpx.get(f"{servers.first}/pki/crl/govsign-ca/0.crl")
    assert first.status_code == 200 and first.headers["etag"]
    again = httpx.get(
        f"{servers.first}/pki/crl/govsign-ca/0.crl", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    shards = servers.deployment.authority.options.crl_shards
    for path in (f"govsign-ca/{shards}.crl", "govsign-ca/x.crl", "nobody/0.crl"):
        assert httpx.get(f"{servers.first}/pki/crl/{path}").status_code == 404, path
    full = x509.load_der_x509_crl(httpx.get(f"{servers.first}/pki/crl/govsign-ca.crl").content)
    assert not any(isinstance(e.value, x509.IssuingDistributionPoint) for e in full.extensions)


def _pyhanko_validates(servers: Servers, leaf: Path, crl_der: Path) -> None:
    """pyHanko's certificate validator, with no OCSP and no fetching: the shard CRL alone must do for the
    certificate (and the root's for the issuing CA)."""
    validator = CertificateValidator(
        asn1_x509.Certificate.load(
            x509.load_pem_x509_certificate(leaf.read_bytes()).public_bytes(Encoding.DER)
        ),
        intermediate_certs=[
            asn1_x509.Certificate.load(servers.deployment.issuing.public_bytes(Encoding.DER))
        ],
        validation_context=ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(servers.deployment.root.public_bytes(Encoding.DER))],
            crls=[crl_der.read_bytes(), httpx.get(f"{servers.first}/pki/crl/govsign-root.crl").content],
            allow_fetching=False,
            revocation_mode="require",
        ),
    )
    asyncio.run(validator.async_validate_usage({"non_repudiation"}))  # type: ignore[no-untyped-call]


def test_pyhanko_takes_the_shard_for_the_certificate_it_names(servers: Servers) -> None:
    shards = servers.deployment.authority.options.crl_shards
    good_serial, good = servers.issue()
    revoked_serial, revoked = servers.issue()
    servers.deployment.cli("ca", "revoke", revoked_serial, "--reason", "affiliationChanged")
    started = time.monotonic()
    while True:
        revoked_path, crl = _fetch_shard(servers, servers.first, _cdp_url(revoked))
        if crl.get_revoked_certificate_by_serial_number(int(revoked_serial, 16)) is not None:
            break
        assert time.monotonic() - started < REVOCATION_PROMISE_SECONDS, (
            "the revocation did not reach its shard"
        )
        time.sleep(0.5)
    good_path, _ = _fetch_shard(servers, servers.first, _cdp_url(good))
    _pyhanko_validates(servers, good, good_path)
    with pytest.raises(RevokedError):
        _pyhanko_validates(servers, revoked, revoked_path)
    if int(good_serial, 16) % shards != int(revoked_serial, 16) % shards:
        with pytest.raises(PathValidationError):  # another shard's CRL does not cover the certificate
            _pyhanko_validates(servers, revoked, good_path)
