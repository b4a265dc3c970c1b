"""pyHanko's :class:`~pyhanko.sign.signers.Signer` over a subscriber key that lives in our HSM.

pyHanko builds the CMS SignedData (RFC 5652) and the PAdES signed attributes; the only thing it asks of
us is the raw signature over the DER of the signed attributes, which ``ca`` makes inside the token.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ca.hsm import HashName, KeyAlgorithm, SignatureAlgorithm
from ca.signing_keys import SubscriberKey
from signing.cms_templates import attribute_template, certificate_template, remember_attributes

__all__ = ["HsmSigner", "asn1_certificate", "signature_algorithm_for"]

_HASH_BYTES = {"sha256": 32, "sha384": 48, "sha512": 64}
# Room for a DER ECDSA-Sig-Value: two INTEGERs of the curve size, each possibly one byte longer.
_ECDSA_MAX_SIGNATURE = {KeyAlgorithm.EC_P256: 72, KeyAlgorithm.EC_P384: 104}
_KEYS_KEPT = 1024  # certificates (and chains) kept parsed: keys signing at once in one process


def signature_algorithm_for(
    key: SubscriberKey, *, pss: bool, hash_name: HashName = "sha256"
) -> SignatureAlgorithm:
    """The signature scheme for ``key``: ECDSA for EC keys, PKCS#1 v1.5 or PSS (on request) for RSA."""
    if not key.algorithm.is_rsa:
        return SignatureAlgorithm("ecdsa", hash_name)
    return SignatureAlgorithm("rsa-pss" if pss else "rsa-pkcs1v15", hash_name)


def _mechanism(algorithm: SignatureAlgorithm) -> algos.SignedDigestAlgorithm:
    """The CMS signatureAlgorithm of ``algorithm`` (RFC 4055 parameters for PSS: MGF1 with the same hash,
    salt as long as the hash)."""
    if algorithm.scheme == "ecdsa":
        return algos.SignedDigestAlgorithm({"algorithm": f"{algorithm.hash}_ecdsa"})
    if algorithm.scheme == "rsa-pkcs1v15":
        return algos.SignedDigestAlgorithm({"algorithm": f"{algorithm.hash}_rsa"})
    parameters = algos.RSASSAPSSParams(
        {
            "hash_algorithm": {"algorithm": algorithm.hash},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": algorithm.hash}},
            "salt_length": _HASH_BYTES[algorithm.hash],
        }
    )
    return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": parameters})


@lru_cache(maxsize=_KEYS_KEPT)
def asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    """``certificate`` as pyHanko takes it, parsed once per process: asn1crypto keeps what it works out of
    a parsed certificate (prepared names, key identifiers, issuer and serial), which each signature, and
    the check of each batch output, asks for again."""
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


@lru_cache(maxsize=_KEYS_KEPT)
def _chain_registry(chain: tuple[x509.Certificate, ...]) -> SimpleCertificateStore:
    """The chain a key's signatures carry, indexed once per process: indexing it (RFC 5280 name
    preparation for every subject) cost a tenth of a batch worker's time per document. pyHanko only
    reads a signer's registry (path building copies it into the validation context's own)."""
    registry: SimpleCertificateStore = SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
        [asn1_certificate(c) for c in chain]
    )
    return registry


class HsmSigner(Signer):
    """Signs with ``key`` in the HSM and carries the whole chain (issuing CA and root) in every CMS.

    What every signature of the key has in common (certificates, signer identifier, the signed
    attributes but the digest) comes from :mod:`signing.cms_templates` as DER instead of being encoded
    again by asn1crypto for each signature, which was most of a signature's time.

    ``before_signing`` is called with the size of the signed attributes and their signature just before the
    HSM signs: a holder's activation signs a document once, so whatever would make the CMS outgrow the room
    reserved for it in the PDF must be raised there, while a second try is still possible.
    """

    def __init__(
        self,
        key: SubscriberKey,
        algorithm: SignatureAlgorithm,
        before_signing: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._key = key
        self._algorithm = algorithm
        self._before_signing = before_signing
        super().__init__(
            signing_cert=asn1_certificate(key.certificate),
            cert_registry=_chain_registry(key.chain),
            signature_mechanism=_mechanism(algorithm),
            embed_roots=True,
        )

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != self._algorithm.hash:
            raise ValueError(f"asked for {digest_algorithm}, this signer hashes with {self._algorithm.hash}")
        if dry_run:
            return bytes(self._signature_size())
        self._before_signing(len(data) + self._signature_size())
        return self._key.sign(data, self._algorithm)

    def _signature_size(self) -> int:
        algorithm = self._key.algorithm
        return algorithm.rsa_bits // 8 if algorithm.is_rsa else _ECDSA_MAX_SIGNATURE[algorithm]

    async def signed_attrs(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings: PdfCMSSignedAttributes | None = None,
        content_type: str = "data",
        use_pades: bool = False,
        timestamper: Any = None,
        dry_run: bool = False,
        is_pdf_sig: bool = True,
    ) -> cms.CMSAttributes:
        settings = attr_settings or PdfCMSSignedAttributes()
        template_key = (
            self.signing_cert.dump() if self.signing_cert is not None else None,
            self.get_signature_mechanism_for_digest(digest_algorithm).dump(),
            digest_algorithm,
            content_type,
            use_pades,
            is_pdf_sig,
            settings.cades_signed_attrs is None and settings.adobe_revinfo_attr is None,
        )
        known, template = attribute_template(template_key)
        if template is not None:
            return template.with_digest(data_digest)
        attributes = await super().signed_attrs(
            data_digest,
            digest_algorithm,
            attr_settings=attr_settings,
            content_type=content_type,
            use_pades=use_pades,
            timestamper=timestamper,
            dry_run=dry_run,
            is_pdf_sig=is_pdf_sig,
        )
        if not known and not dry_run:
            remember_attributes(template_key, attributes)
        return attributes

    def _package_signature(
        self,
        *,
        digest_algorithm: str,
        cms_version: Any,
        signed_attrs: cms.CMSAttributes,
        signature: bytes,
        unsigned_attrs: cms.CMSAttributes | None,
        encap_content_info: Any,
    ) -> cms.ContentInfo:
        """pyHanko's SignedData (RFC 5652 §5.1, 5.3) with the certificates and the signer identifier
        taken from the key's template: the same structure, none of it encoded again."""
        assert self.signing_cert is not None, "HsmSigner always has the signer's certificate"
        template = certificate_template(self.signing_cert, list(self.cert_registry or ()))
        digest_algorithm_value = algos.DigestAlgorithm({"algorithm": digest_algorithm})
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": template.signer_identifier_value(),
                "digest_algorithm": digest_algorithm_value,
                "signature_algorithm": self.get_signature_mechanism_for_digest(digest_algorithm),
                "signed_attrs": signed_attrs,
                "signature": signature,
            }
        )
        if unsigned_attrs is not None:
            signer_info["unsigned_attrs"] = unsigned_attrs
        signed_data = cms.SignedData(
            {
                "version": cms_version,
                "digest_algorithms": cms.DigestAlgorithms((digest_algorithm_value,)),
                "encap_content_info": encap_content_info or {"content_type": "data"},
                "certificates": template.certificate_set(),
                "signer_infos": [signer_info],
            }
        )
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
