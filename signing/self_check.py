"""The check a signing worker makes of what it just wrote, before anyone gets the file.

A full validation (pyHanko's ``validate_pdf_signature``: path building, trust, revocation, time-stamp
trust) cost more than the signature itself (24 ms against 15 ms for a one-page B-B), and told a batch
nothing it did not know: the chain is our own, checked when the key's certificate was issued, and the
time-stamp is our own TSA's. What can go wrong in a worker is the output itself: a write cut short, an
incremental update that does not cover what it should, a signature the HSM made with another key or over
other bytes. So the check reads the file back and asks exactly that (from the bytes: the signature's
/Contents is where its /ByteRange leaves a gap, and is never encrypted):

1. the newest regular signature's byte ranges cover the whole file (or revision) but its own /Contents,
   and hash to the CMS messageDigest;
2. the CMS signature verifies with the certificate it names, and that certificate is the key's own;
3. each signature time-stamp token over it carries, in its TSTInfo, the hash of that signature value,
   and its own CMS signature verifies with the TSA certificate it carries.
"""

from __future__ import annotations

import hashlib
import mmap
import re
from pathlib import Path

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter, validate_sig_integrity

from signing.cms_signer import asn1_certificate
from signing.errors import SigningError

__all__ = ["check_own_signature"]

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def check_own_signature(path: Path, certificate: x509.Certificate) -> None:
    """Raise SigningError (and remove ``path``) unless its newest signature is intact, made by
    ``certificate``'s key, and covered by an intact time-stamp where it carries one."""
    problem = _problem(path, asn1_certificate(certificate))
    if problem is not None:
        path.unlink(missing_ok=True)
        raise SigningError(f"the signed output did not verify: {problem}")


def _problem(path: Path, certificate: asn1_x509.Certificate) -> str | None:
    with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found = _newest_regular_signature(data)
        if found is None:
            return "it carries no signature"
        (start, first, second, last), signed_data = found
        if start != 0 or not data[: second + last].rstrip().endswith(b"%%EOF"):
            return "the signature does not cover the whole file"
        signer_info = signed_data["signer_infos"][0]
        signer = _certificate_of(signed_data, signer_info["sid"].chosen)
        if signer is None or signer.dump() != certificate.dump():
            return "the signature names another certificate than the key's"
        digest = hashlib.new(signer_info["digest_algorithm"]["algorithm"].native)
        digest.update(data[start : start + first])
        digest.update(data[second : second + last])
        # the same certificate, parsed once per process (its prepared names serve every check)
        intact, valid = validate_sig_integrity(signer_info, certificate, "data", digest.digest())
        if not (intact and valid):
            return "the signature does not match the document" if not intact else "the signature is invalid"
        for token in extract_tst_data_iter(signer_info, signed=False):
            problem = _time_stamp_problem(token, signer_info["signature"].native)
            if problem is not None:
                return problem
    return None


def _newest_regular_signature(data: mmap.mmap) -> tuple[tuple[int, int, int, int], cms.SignedData] | None:
    """The byte range and CMS of the file's last signature that is not a document time-stamp.

    A /ByteRange's gap is by definition the <hex> of its /Contents (ISO 32000-2 §12.8.1), which a
    signature dictionary never encrypts: so the CMS is read straight from the bytes, without parsing the
    document (pyHanko's reader spends most of a check decoding that hex string one token at a time).
    """
    for match in reversed(list(_BYTE_RANGE.finditer(data))):
        start, first, second, last = (int(group) for group in match.groups())
        gap = bytes(data[start + first : second]).strip()
        if not (gap.startswith(b"<") and gap.endswith(b">")):
            continue
        try:
            content = cms.ContentInfo.load(bytes.fromhex(gap[1:-1].decode("ascii")))  # padding after: ignored
            signed_data = content["content"]
            if not isinstance(signed_data, cms.SignedData):
                continue
            if signed_data["encap_content_info"]["content_type"].native == "data":
                return (start, first, second, last), signed_data
        except ValueError:
            continue  # not a signature's contents (a /ByteRange written in some page's text)
    return None


def _certificate_of(
    signed_data: cms.SignedData, wanted: cms.IssuerAndSerialNumber
) -> asn1_x509.Certificate | None:
    """The certificate ``wanted`` names among those ``signed_data`` carries."""
    key = _issuer_serial(wanted)
    return next(
        (
            choice.chosen
            for choice in signed_data["certificates"]
            if isinstance(choice.chosen, asn1_x509.Certificate) and choice.chosen.issuer_serial == key
        ),
        None,
    )


def _time_stamp_problem(token: cms.SignedData, signature_value: bytes) -> str | None:
    content = token["encap_content_info"]["content"].parsed
    assert isinstance(content, tsp.TSTInfo)
    imprint = content["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    if hashlib.new(algorithm, signature_value).digest() != imprint["hashed_message"].native:
        return "the time-stamp covers another signature"
    signer_info = token["signer_infos"][0]
    tsa = _certificate_of(token, signer_info["sid"].chosen)
    if tsa is None:
        return "the time-stamp does not carry its TSA's certificate"
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    digest = hashlib.new(digest_name, token["encap_content_info"]["content"].contents).digest()
    intact, valid = validate_sig_integrity(signer_info, tsa, "tst_info", digest)
    return None if intact and valid else "the time-stamp's signature is invalid"


def _issuer_serial(identifier: cms.IssuerAndSerialNumber) -> bytes:
    """asn1crypto's ``Certificate.issuer_serial`` form (issuer hash, serial) for a SignerIdentifier."""
    return bytes(identifier["issuer"].sha256) + b":" + str(identifier["serial_number"].native).encode("ascii")
