"""Partitioned CRLs (RFC 5280 §5.2.5, as EJBCA's partitioned CRLs and Boulder's CRL shards): which shard a
certificate belongs to, and the URL its CDP names.

A certificate's shard is its serial modulo the shard count fixed at the ceremony. Serials are 128 random
bits (ca.certificate_building.random_serial), so shards fill evenly whatever the issuance pattern: a shard
is 1/N of the revoked certificates, not of a month's issuance, which a national roll-out makes lopsided
(sharding by expiry window would put a mass enrolment's revocations into one shard). The shard is known
from the serial alone, so it costs no state to assign, and it is stored on the certificate's row so that a
shard's CRL is one indexed query. The serial is drawn after the order is made, so the order keeps the full
CRL's CDP and :meth:`CrlPartition.extensions_for` names the shard once the serial is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from ca.profiles import Extension, ProfileOptions

__all__ = ["CrlPartition", "crl_partition"]


@dataclass(frozen=True)
class CrlPartition:
    """The shards of one issuing CA's CRL."""

    options: ProfileOptions
    ca_name: str

    @property
    def shards(self) -> int:
        return self.options.crl_shards

    def shard_of(self, serial: int) -> int:
        return serial % self.shards

    def url(self, shard: int) -> str:
        return self.options.crl_shard_url(self.ca_name, shard)

    def extensions_for(self, extensions: Sequence[Extension], serial: int) -> list[Extension]:
        """``extensions`` with the CDP (if any) naming the CRL of ``serial``'s shard instead of the full CRL."""
        points = x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    [x509.UniformResourceIdentifier(self.url(self.shard_of(serial)))], None, None, None
                )
            ]
        )
        return [
            Extension(points, extension.critical)
            if isinstance(extension.value, x509.CRLDistributionPoints)
            else extension
            for extension in extensions
        ]


def crl_partition(options: ProfileOptions, ca_name: str) -> CrlPartition | None:
    """The partition of ``ca_name``'s CRL, or None when the ceremony chose one full CRL (0 shards)."""
    return CrlPartition(options, ca_name) if options.crl_shards > 0 else None
