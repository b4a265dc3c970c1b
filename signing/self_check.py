"""The check a signing worker makes of what it just wrote, before anyone gets the file.

A full validation (pyHanko's ``validate_pdf_signature``: path building, trust, revocation, time-stamp
trust) cost more than the signature itself (24 ms against 15 ms for a one-page B-B), and told a batch
nothing it did not know: the chain is our own, checked when the key's certificate was issued, and the
time-stamp is our own TSA's. What can go wrong in a worker is the output itself: a write cut short, an
incremental update that does not cover what it should, a signature the HSM made with another key or over
other bytes. So the check reads the file back with pyHanko's reader and asks exactly that:

1. the newest regular signature's byte ranges cover the whole file but its own /Contents, and hash to the
   CMS messageDigest;
2. the CMS signature verifies with the certificate it names, and that certificate is the key's own;
3. each signature time-stamp token over it carries, in its TSTInfo, the hash of that signature value,
   and its own CMS signature verifies with the TSA certificate it carries.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter, validate_sig_integrity
from pyhanko.sign.validation.status import SignatureCoverageLevel

from signing.aes256_revision5 import decrypt
from signing.errors import SigningError

__all__ = ["check_own_signature"]


def check_own_signature(path: Path, certificate: x509.Certificate, password: str | None) -> None:
    """Raise SigningError (and remove ``path``) unless its newest signature is intact, made by
    ``certificate``'s key, and covered by an intact time-stamp where it carries one."""
    problem = _problem(path, certificate.public_bytes(Encoding.DER), password)
    if problem is not None:
        path.unlink(missing_ok=True)
        raise SigningError(f"the signed output did not verify: {problem}")


def _problem(path: Path, certificate_der: bytes, password: str | None) -> str | None:
    with path.open("rb") as stream:
        reader = PdfFileReader(stream, strict=False)
        if reader.encrypted:
            decrypt(reader, password)
        signatures = reader.embedded_regular_signatures
        if not signatures:
            return "it carries no signature"
        signature = signatures[-1]
        if signature.evaluate_signature_coverage() < SignatureCoverageLevel.ENTIRE_REVISION:
            return "the signature does not cover the whole file"
        if signature.signer_cert.dump() != certificate_der:
            return "the signature names another certificate than the key's"
        intact, valid = validate_sig_integrity(
            signature.signer_info, signature.signer_cert, "data", signature.compute_digest()
        )
        if not (intact and valid):
            return "the signature does not match the document" if not intact else "the signature is invalid"
        for token in extract_tst_data_iter(signature.signer_info, signed=False):
            problem = _time_stamp_problem(token, signature.signer_info["signature"].native)
            if problem is not None:
                return problem
    return None


def _time_stamp_problem(token: cms.SignedData, signature_value: bytes) -> str | None:
    content = token["encap_content_info"]["content"].parsed
    assert isinstance(content, tsp.TSTInfo)
    imprint = content["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    if hashlib.new(algorithm, signature_value).digest() != imprint["hashed_message"].native:
        return "the time-stamp covers another signature"
    signer_info = token["signer_infos"][0]
    wanted = signer_info["sid"].chosen
    tsa = next(
        (
            choice.chosen
            for choice in token["certificates"]
            if isinstance(choice.chosen, asn1_x509.Certificate)
            and choice.chosen.issuer_serial == _issuer_serial(wanted)
        ),
        None,
    )
    if tsa is None:
        return "the time-stamp does not carry its TSA's certificate"
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    digest = hashlib.new(digest_name, token["encap_content_info"]["content"].contents).digest()
    intact, valid = validate_sig_integrity(signer_info, tsa, "tst_info", digest)
    return None if intact and valid else "the time-stamp's signature is invalid"


def _issuer_serial(identifier: cms.IssuerAndSerialNumber) -> bytes:
    """asn1crypto's ``Certificate.issuer_serial`` form (issuer hash, serial) for a SignerIdentifier."""
    return bytes(identifier["issuer"].sha256) + b":" + str(identifier["serial_number"].native).encode("ascii")
