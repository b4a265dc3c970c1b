"""A partner CA and local HTTP origins for the validator's fetch tests.

The partner CA (made by :mod:`tests.foreign_pki`) issues leaves whose CRL distribution point and OCSP responder
name whatever a test wants; a local origin serves files, redirects, and answers that never end or
trickle, and records what it was asked. ``ca.govsign.vn`` maps to 127.0.0.1 in /etc/hosts, so an origin
on ``ca.govsign.vn:PORT`` is a private address that only the allow-list lets the validator reach.
"""

from __future__ import annotations

import dataclasses
import io
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import crl as asn1_crl
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext

from ca import clock
from govsign.access.trust_store import trust_store
from signing.validation import TrustAnchor, TrustStore
from tests.conftest import Deployment
from tests.foreign_pki import ForeignCa, make_foreign_ca

__all__ = ["Origin", "PartnerCa", "local_origin", "partner_ca", "partner_signed"]


# -- a partner CA whose leaves point where a test wants ---------------------------------------------------


@dataclass(frozen=True)
class PartnerCa(ForeignCa):
    """A foreign CA (:mod:`tests.foreign_pki`) that a deployment can be told to trust."""

    def trust(self, deployment: Deployment) -> TrustStore:
        """Our deployment's store with this partner's root added as an anchor."""
        ours = trust_store(deployment.authority)
        return dataclasses.replace(ours, anchors=(*ours.anchors, TrustAnchor("partner CA", self.anchor)))


def partner_ca(
    crl_url: str | None = None, ocsp_url: str | None = None, leaf_lifetime: timedelta = timedelta(days=365)
) -> PartnerCa:
    """A fresh partner CA (ECDSA P-256, a root name of its own each time); its leaf names ``crl_url`` and
    ``ocsp_url`` when given, and nothing else to check revocation with. Its times are govsign's clock's, so
    a test that moves the clock back gets a leaf that has already expired on the real clock."""
    ca = make_foreign_ca(
        country="VN",
        organization="Partner Test CA",
        root_cn=f"Partner Test Root {x509.random_serial_number() % 10**6}",
        signer_cn="Partner Test Signer",
        new_key=partial(ec.generate_private_key, ec.SECP256R1()),
        now=clock.now(),
        leaf_lifetime=leaf_lifetime,
        ocsp_url=ocsp_url,
        crl_url=crl_url,
    )
    return PartnerCa(ca.root, ca.root_key, ca.signer)


def partner_signed(
    document: bytes,
    ca: PartnerCa,
    *,
    embed_crl: bool = False,
    timestamper: TimeStamper | None = None,
    timestamper_trust: TrustStore | None = None,
) -> bytes:
    """``document`` signed (PAdES) by the partner's leaf; with ``embed_crl``, the root's CRL goes into the
    DSS so the signature carries its own revocation data (``timestamper_trust``: the time-stamping
    authority's chain, which pyHanko checks before it embeds). pyHanko checks them at govsign's clock's
    time, which a test may have moved back to sign while a short-lived leaf was valid."""
    extra = timestamper_trust or TrustStore(anchors=())
    moment = clock.now()
    context = ValidationContext(
        trust_roots=[ca.anchor, *extra.roots_at(moment)],
        other_certs=list(extra.intermediates),
        crls=[asn1_crl.CertificateList.load(ca.crl())],
        allow_fetching=False,
        moment=moment,
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Partner",
        subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=embed_crl,
        validation_context=context if embed_crl else None,
    )
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(document)), meta, ca.signer, timestamper=timestamper
    )
    return bytes(output.getbuffer())


# -- local origins ----------------------------------------------------------------------------------------


@dataclass
class Origin:
    """A local HTTP origin: ``files`` it serves, and what it saw and sent."""

    port: int
    files: dict[str, bytes] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    body_bytes_sent: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "ca.govsign.vn") -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    """/redirect?to=URL answers 302; /endless never ends; /trickle sends a byte every 0.2 s; other paths
    are ``files`` (404 when absent)."""

    origin: Origin  # set on the per-origin subclass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer()

    def _answer(self) -> None:
        self.origin.hits.append(self.path)
        route, _, query = self.path.partition("?")
        if route == "/redirect":
            self.send_response(302)
            self.send_header("Location", urllib.parse.parse_qs(query)["to"][0])
            self.end_headers()
        elif route in ("/endless", "/trickle"):
            self.send_response(200)
            self.send_header("Content-Type", "application/pkix-crl")
            self.end_headers()
            chunk, pause = (b"\x30" * 65536, 0.0) if route == "/endless" else (b"\x30", 0.2)
            try:
                while not self.origin.stopping.is_set():
                    self.wfile.write(chunk)
                    self.origin.body_bytes_sent += len(chunk)
                    time.sleep(pause)
            except OSError:
                return  # the validator hung up, as it should
        elif route in self.origin.files:
            body = self.origin.files[route]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read ``hits``."""


class _DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # 127.0.0.1 and ::1 alike
        super().server_bind()


@contextmanager
def local_origin() -> Iterator[Origin]:
    """An origin listening on a free port of both loopbacks (127.0.0.1 and [::1])."""
    server = _DualStackServer(("::", 0), _Handler)
    origin = Origin(port=int(server.server_address[1]))
    server.RequestHandlerClass = type("Handler", (_Handler,), {"origin": origin})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        origin.stopping.set()
        server.shutdown()
        server.server_close()
