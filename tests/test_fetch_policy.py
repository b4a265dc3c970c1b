"""The validator's fetches against real local origins (tests/fetch_origins.py): redirects checked hop by
hop, our own host trusted only at our own origin, the operator's allow-list, capped bodies and a time
budget, each ending in a verdict with the refused URLs named, in-process and through
`POST /api/v1/verify` on a running server."""

from __future__ import annotations

import dataclasses
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from govsign.access.trust_anchors import TrustRole, add_trusted_certificate
from govsign.config.verification import fetch_policy
from signing.fetch_policy import FetchPolicy
from signing.validation import Indication, TrustStore, ValidationReport, validate_pdf
from tests.conftest import PUBLIC_PORT, Deployment, make_deployment, running_server
from tests.fetch_origins import Origin, local_origin, partner_ca, partner_signed
from tests.pdf_samples import one_page_pdf


@pytest.fixture()
def partner_origin() -> Iterator[Origin]:
    with local_origin() as origin:
        yield origin


@pytest.fixture()
def sink() -> Iterator[Origin]:
    """Where a refused redirect would land: nothing may ever reach it."""
    with local_origin() as origin:
        yield origin


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return one_page_pdf(tmp_path_factory.mktemp("fetch") / "to-trinh.pdf").read_bytes()


def allowing(deployment: Deployment, origin: Origin, budget_seconds: float = 20.0) -> FetchPolicy:
    """The deployment's policy with ``ca.govsign.vn:PORT`` of ``origin`` on the allow-list."""
    settings = deployment.settings.model_copy(
        update={"fetch_allowlist": f"ca.govsign.vn:{origin.port}", "fetch_budget_seconds": budget_seconds}
    )
    return fetch_policy(settings)


def validated(tmp_path: Path, data: bytes, trust: TrustStore, policy: FetchPolicy) -> ValidationReport:
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(data)
    return validate_pdf(signed, trust, policy)


def only(report: ValidationReport) -> tuple[Indication, str | None]:
    assert len(report.signatures) == 1, report
    return report.signatures[0].indication, report.signatures[0].sub_indication


# -- the rules --------------------------------------------------------------------------------------------


def test_an_allowed_origin_is_fetched_from_even_through_its_own_redirect(
    sqlite_deployment: Deployment, partner_origin: Origin, document: bytes, tmp_path: Path
) -> None:
    """The allow-list lets a partner's internal mirror (a private address) be used, redirects included."""
    ca = partner_ca(
        crl_url=partner_origin.url("/redirect?to=" + urllib.parse.quote(partner_origin.url("/ca.crl")))
    )
    partner_origin.files["/ca.crl"] = ca.crl()
    report = validated(
        tmp_path,
        partner_signed(document, ca),
        ca.trust(sqlite_deployment),
        allowing(sqlite_deployment, partner_origin),
    )
    assert only(report) == (Indication.TOTAL_PASSED, None), report
    assert partner_origin.hits[-1] == "/ca.crl" and report.fetches_refused == []
    refused = validated(
        tmp_path,
        partner_signed(document, ca),
        ca.trust(sqlite_deployment),
        fetch_policy(sqlite_deployment.settings),
    )
    assert only(refused) == (Indication.INDETERMINATE, "TRY_LATER"), refused
    assert refused.fetches_refused[0].startswith(partner_origin.url("/redirect")), refused.fetches_refused


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{sink}/crl",
        "http://[::1]:{sink}/crl",
        "http://[::ffff:127.0.0.1]:{sink}/crl",
        "http://2130706433:{sink}/crl",
        "http://localhost:{sink}/crl",
        "http://ca.govsign.vn:{sink}/crl",
        "http://10.1.2.3:{sink}/crl",
        "http://169.254.169.254:{sink}/latest/meta-data/",
    ],
)
def test_a_redirect_from_an_allowed_origin_to_a_private_address_is_not_followed(
    target: str,
    sqlite_deployment: Deployment,
    partner_origin: Origin,
    sink: Origin,
    document: bytes,
    tmp_path: Path,
) -> None:
    """Each hop is checked as the first URL was; the sink's port is even made a fetched port, so only the
    address rule stands between the redirect and the sink."""
    where = target.format(sink=sink.port)
    ca = partner_ca(crl_url=partner_origin.url("/redirect?to=" + urllib.parse.quote(where)))
    policy = dataclasses.replace(
        allowing(sqlite_deployment, partner_origin), ports=frozenset({80, 443, sink.port})
    )
    report = validated(tmp_path, partner_signed(document, ca), ca.trust(sqlite_deployment), policy)
    assert only(report) == (Indication.INDETERMINATE, "TRY_LATER"), report
    assert partner_origin.hits and partner_origin.hits[0].startswith("/redirect")
    assert sink.hits == []
    refusal = "\n".join(report.fetches_refused)
    assert "loopback, private, link-local or reserved" in refusal or "numeric form" in refusal, refusal
    assert (
        "TRY_LATER" in report.signatures[0].checks[2].detail
        or "revocation" in report.signatures[0].checks[2].detail
    )


def test_our_own_host_is_trusted_only_at_our_own_origin(
    sqlite_deployment: Deployment, sink: Origin, document: bytes, tmp_path: Path
) -> None:
    """ca.govsign.vn:PUBLIC_PORT is ours; ca.govsign.vn on any other port is a private address like any."""
    ca = partner_ca(crl_url=sink.url("/crl"))
    own = fetch_policy(sqlite_deployment.settings)
    assert own.own_origin == f"http://ca.govsign.vn:{PUBLIC_PORT}"
    for policy in (own, dataclasses.replace(own, ports=frozenset({80, 443, sink.port}))):
        report = validated(tmp_path, partner_signed(document, ca), ca.trust(sqlite_deployment), policy)
        assert only(report) == (Indication.INDETERMINATE, "TRY_LATER"), report
        assert report.fetches_refused and report.fetches_refused[0].startswith(sink.url("/crl")), report
    assert sink.hits == []


def test_an_endless_answer_is_cut_at_its_cap_and_ends_in_a_verdict(
    sqlite_deployment: Deployment, partner_origin: Origin, document: bytes, tmp_path: Path
) -> None:
    """A CRL stops at 10 MiB, an OCSP response at 64 KiB; the signature is TRY_LATER, not a 500."""
    ca = partner_ca(crl_url=partner_origin.url("/endless"), ocsp_url=partner_origin.url("/endless?ocsp"))
    policy = allowing(sqlite_deployment, partner_origin)
    began = time.monotonic()
    report = validated(tmp_path, partner_signed(document, ca), ca.trust(sqlite_deployment), policy)
    assert only(report) == (Indication.INDETERMINATE, "TRY_LATER"), report
    assert time.monotonic() - began < 15
    refused = "\n".join(report.fetches_refused)
    assert f"/endless: the answer is longer than the {10 * 2**20}-byte limit for a CRL" in refused, refused
    assert f"/endless?ocsp: the answer is longer than the {64 * 2**10}-byte limit" in refused, refused
    read_buffer = 2**16  # aiohttp hands the body over in chunks of at most this
    assert policy.bytes_received <= 10 * 2**20 + 64 * 2**10 + 2 * read_buffer, policy.bytes_received


def test_a_trickling_origin_spends_the_time_budget_and_no_more(
    sqlite_deployment: Deployment, partner_origin: Origin, document: bytes, tmp_path: Path
) -> None:
    ca = partner_ca(crl_url=partner_origin.url("/trickle"), ocsp_url=partner_origin.url("/trickle?ocsp"))
    policy = allowing(sqlite_deployment, partner_origin, budget_seconds=3.0)
    began = time.monotonic()
    report = validated(tmp_path, partner_signed(document, ca), ca.trust(sqlite_deployment), policy)
    elapsed = time.monotonic() - began
    assert only(report) == (Indication.INDETERMINATE, "TRY_LATER"), report
    assert 3.0 <= elapsed < 10, elapsed
    assert "fetch time budget (3 s) is spent" in "\n".join(report.fetches_refused), report.fetches_refused


def test_a_certificate_with_no_revocation_source_is_try_later_until_its_crl_is_embedded(
    sqlite_deployment: Deployment, document: bytes, tmp_path: Path
) -> None:
    """EU DSS's default policy: revocation data for the signer's certificate must be had; the anchor
    itself needs none."""
    ca = partner_ca()
    for policy in (
        fetch_policy(sqlite_deployment.settings),
        fetch_policy(sqlite_deployment.settings, offline=True),
    ):
        report = validated(tmp_path, partner_signed(document, ca), ca.trust(sqlite_deployment), policy)
        assert only(report) == (Indication.INDETERMINATE, "TRY_LATER"), report
        assert "revocation" in report.signatures[0].checks[2].detail, report.signatures[0].checks
        assert "thu hồi" in report.signatures[0].summary_vi
        embedded = validated(
            tmp_path, partner_signed(document, ca, embed_crl=True), ca.trust(sqlite_deployment), policy
        )
        assert only(embedded) == (Indication.TOTAL_PASSED, None), embedded


def test_urls_to_loopback_or_private_addresses_are_not_fetched_and_the_report_says_why(
    sqlite_deployment: Deployment, document: bytes, tmp_path: Path
) -> None:
    for ca, expected in (
        (partner_ca(ocsp_url="http://127.0.0.1:8081/ocsp"), "port 8081 is not one of the ports"),
        (partner_ca(crl_url="http://10.0.0.1/ca.crl"), "10.0.0.1 is 10.0.0.1, a loopback, private"),
    ):
        policy = fetch_policy(sqlite_deployment.settings)
        report = validated(tmp_path, partner_signed(document, ca), ca.trust(sqlite_deployment), policy)
        assert only(report) == (Indication.INDETERMINATE, "TRY_LATER"), report
        assert expected in "\n".join(report.fetches_refused), report.fetches_refused


# -- through a running server -----------------------------------------------------------------------------


def _listening_pid(port: int) -> int:
    """The process listening on TCP ``port`` (via /proc: the socket's inode among its descriptors)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            if int(columns[1].rsplit(":", 1)[1], 16) == port and columns[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{columns[9]}]")
    for process in Path("/proc").iterdir():
        if process.name.isdigit():
            try:
                if any(str(Path.readlink(fd)) in inodes for fd in (process / "fd").iterdir()):
                    return int(process.name)
            except OSError:
                continue
    raise AssertionError(f"nothing listens on port {port}")


def peak_rss_kib(pid: int) -> int:
    """The process's resident-set high-water mark (VmHWM), KiB."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])


@pytest.fixture(scope="module")
def partner_deployment() -> Deployment:
    """A deployment of this module's own, whose trust store may take partner roots without touching the
    audit trail that tests/test_trust_store.py reads."""
    return make_deployment("sqlite-partners", None)


def test_an_endless_answer_through_the_public_api_costs_a_few_mib_and_gives_a_report(
    partner_deployment: Deployment, partner_origin: Origin, document: bytes
) -> None:
    endless = partner_ca(crl_url=partner_origin.url("/endless"))
    mirrored = partner_ca(crl_url=partner_origin.url("/ca.crl"))
    partner_origin.files["/ca.crl"] = mirrored.crl()
    for ca, name in ((endless, "partner, endless CRL"), (mirrored, "partner, mirrored CRL")):
        add_trusted_certificate(
            partner_deployment.authority, ca.anchor, name=name, role=TrustRole.ANCHOR, actor="test"
        )
    allow = f"ca.govsign.vn:{partner_origin.port}"
    with running_server(partner_deployment, GOVSIGN_FETCH_ALLOWLIST=allow, GOVSIGN_VERIFY_BURST="50") as base:
        pid = _listening_pid(int(base.rsplit(":", 1)[1]))
        warm = httpx.post(
            f"{base}/api/v1/verify", files={"file": ("m.pdf", partner_signed(document, mirrored))}, timeout=60
        )
        assert warm.json()["signatures"][0]["indication"] == "TOTAL_PASSED", warm.text
        before = peak_rss_kib(pid)
        answer = httpx.post(
            f"{base}/api/v1/verify", files={"file": ("e.pdf", partner_signed(document, endless))}, timeout=60
        )
        after = peak_rss_kib(pid)
        schema = httpx.get(f"{base}/api/v1/verify/schema").json()
    print(f"server VmHWM before {before} KiB, after the endless upload {after} KiB (+{after - before} KiB)")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    jsonschema.validate(report, schema)
    assert report["signatures"][0]["indication"] == "INDETERMINATE"
    assert any("/endless: the answer is longer than" in entry for entry in report["fetches_refused"]), report
    assert after - before < 32 * 1024, (before, after)
