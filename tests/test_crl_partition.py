"""Which CRL shard a certificate belongs to, and the CDP that names it (ca.crl_partition): pure steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from cryptography import x509

from ca.crl_partition import crl_partition
from ca.orders import CertificateOrder
from ca.profiles import CertificateKind, Extension, ProfileOptions, extensions

pytestmark = pytest.mark.pure

OPTIONS = ProfileOptions(public_url="http://ca.govsign.vn:8000/", national_policy_oid="2.16.704.1.1.3.1")
SERIAL = (1 << 100) + 77


def _order(kind: CertificateKind, options: ProfileOptions) -> CertificateOrder:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    return CertificateOrder(
        kind=kind,
        subject=x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "test")]),
        extensions=extensions(kind, options, issuer_name="govsign-ca", key_in_hsm=True),
        not_before=now,
        not_after=now + dt.timedelta(days=30),
        requesting_agency="test",
        request_ref="TEST",
        request_json="{}",
        crl_partition=crl_partition(options, "govsign-ca"),
    )


def _cdp_urls(order_extensions: Sequence[Extension]) -> list[str]:
    return [
        str(name.value)
        for extension in order_extensions
        if isinstance(extension.value, x509.CRLDistributionPoints)
        for point in extension.value
        for name in point.full_name or []
    ]


def test_a_certificate_names_the_crl_of_its_serial_modulo_the_shard_count() -> None:
    order = _order(CertificateKind.INDIVIDUAL, OPTIONS)
    shard = SERIAL % OPTIONS.crl_shards
    assert order.crl_shard(SERIAL) == shard
    assert _cdp_urls(order.extensions_for(SERIAL)) == [
        f"http://ca.govsign.vn:8000/pki/crl/govsign-ca/{shard}.crl"
    ]
    others = [
        e.value for e in order.extensions_for(SERIAL) if not isinstance(e.value, x509.CRLDistributionPoints)
    ]
    assert others == [
        e.value for e in order.extensions if not isinstance(e.value, x509.CRLDistributionPoints)
    ]


def test_without_shards_the_certificate_names_the_full_crl_as_before() -> None:
    options = ProfileOptions(
        public_url=OPTIONS.public_url, national_policy_oid="2.16.704.1.1.3.1", crl_shards=0
    )
    order = _order(CertificateKind.INDIVIDUAL, options)
    assert order.crl_partition is None and order.crl_shard(SERIAL) is None
    assert _cdp_urls(order.extensions_for(SERIAL)) == ["http://ca.govsign.vn:8000/pki/crl/govsign-ca.crl"]


def test_a_certificate_without_a_cdp_is_in_no_shard() -> None:
    order = _order(CertificateKind.OCSP_SIGNER, OPTIONS)
    assert order.crl_shard(SERIAL) is None and _cdp_urls(order.extensions_for(SERIAL)) == []
