"""The DER of a certificate revocation list (RFC 5280 §5.1), written as a stream, so that a CRL of a million
entries is built in one pass over the database rows and held in memory once: as the bytes that are stored.

Neither library fits at that size (`cryptography`'s builder is quadratic when entries are added one by one;
asn1crypto keeps an object tree per entry), so the entries are DER-encoded here by hand. DER writes every
length before its content, and the TBSCertList's lengths depend on its entries, so a :class:`CrlWriter`
puts each entry into a temporary file as it is encoded, behind room left for the CRL's head. Once the list
is complete the lengths are known: the TBSCertList is hashed by reading the file back (from the page cache,
in chunks), its digest is signed (the HSM is sent 32 bytes, not 50 MB), the head and the signature are
written around the entries, and the finished CRL is read back into one bytes object.

The envelope's fields (signature algorithm, issuer, extensions) come DER-encoded from the caller
(:mod:`ca.crl`, which numbers, lints, verifies and publishes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import cast

from ca.reasons import RevocationReason

__all__ = ["CrlFields", "CrlWriter", "SignedCrl", "unsigned_crl"]

_OID_REASON_CODE = bytes.fromhex("0603551d15")
_OID_INVALIDITY_DATE = bytes.fromhex("0603551d18")
# Headers of the CRL, its TBSCertList and its revokedCertificates: at most a tag and 1 + 4 length octets.
_MOST_HEADER_OCTETS = 3 * 6
_CHUNK = 1 << 20


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _header(tag: int, size: int) -> bytes:
    return bytes([tag]) + _length(size)


def _tlv(tag: int, content: bytes) -> bytes:
    return _header(tag, len(content)) + content


def _short(tag: int, content: bytes) -> bytes:
    """A TLV whose content is under 128 octets, as every part of an entry is (see :func:`_entry`)."""
    return bytes((tag, len(content))) + content


# An entry's reasonCode extension by reason: the same bytes for every entry with that reason. RFC 5280
# §5.3.1: unspecified is omitted rather than written.
_REASON_EXTENSIONS = {
    reason.value: _tlv(0x30, _OID_REASON_CODE + _tlv(0x04, _tlv(0x0A, bytes([reason.code]))))
    for reason in RevocationReason
    if reason is not RevocationReason.UNSPECIFIED
}
# The crlEntryExtensions of an entry with a reason and no invalidity date (nearly all of them), whole.
_REASON_ONLY = {reason: _short(0x30, extension) for reason, extension in _REASON_EXTENSIONS.items()}


def _generalized_time(moment: dt.datetime) -> bytes:
    m = moment.astimezone(dt.UTC)
    return b"\x18\x0f%04d%02d%02d%02d%02d%02dZ" % (m.year, m.month, m.day, m.hour, m.minute, m.second)


def _time(moment: dt.datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5); %-formatted bytes, a quarter of
    strftime's cost, since a million entries each carry one."""
    m = moment if moment.tzinfo is dt.UTC else moment.astimezone(dt.UTC)
    if m.year < 2050:
        return b"\x17\x0d%02d%02d%02d%02d%02d%02dZ" % (
            m.year % 100,
            m.month,
            m.day,
            m.hour,
            m.minute,
            m.second,
        )
    return _generalized_time(m)


def _entry(
    serial_hex: str, revoked_at: dt.datetime | None, reason: str | None, invalidity: dt.datetime | None
) -> bytes:
    """One revokedCertificates entry, joined by a single %-format (a third faster than TLVs joined part by
    part, at a million entries a second and a half). The serial is stored as hex without leading zeros: a
    0x00 octet goes before it when its first bit is set. Every part is under 128 octets (the longest entry,
    a 20-octet serial with both extensions, has about 80), so each length is one octet."""
    assert revoked_at is not None, "a revoked certificate has a revocation date"
    serial = bytes.fromhex(serial_hex if len(serial_hex) % 2 == 0 else "0" + serial_hex)
    if serial[0] & 0x80:
        serial = b"\x00" + serial
    if invalidity is None:
        extensions = _REASON_ONLY.get(reason or "", b"")
    else:
        invalid_since = _short(0x30, _OID_INVALIDITY_DATE + _short(0x04, _generalized_time(invalidity)))
        extensions = _short(0x30, _REASON_EXTENSIONS.get(reason or "", b"") + invalid_since)
    body = b"\x02%c%b%b%b" % (len(serial), serial, _time(revoked_at), extensions)
    return b"\x30%c%b" % (len(body), body)


@dataclass(frozen=True)
class CrlFields:
    """The TBSCertList's fields around its entries; ``signature_algorithm`` (an AlgorithmIdentifier),
    ``issuer`` (a Name) and ``extensions`` (TBSCertListExtensions, untagged) are DER."""

    signature_algorithm: bytes
    issuer: bytes
    this_update: dt.datetime
    next_update: dt.datetime
    extensions: bytes

    @property
    def before_entries(self) -> bytes:
        """version (v2), signature, issuer, thisUpdate, nextUpdate."""
        return (
            b"\x02\x01\x01"
            + self.signature_algorithm
            + self.issuer
            + _time(self.this_update)
            + _time(self.next_update)
        )

    def tbs_around(self, entries_size: int) -> tuple[bytes, bytes]:
        """The TBSCertList up to its first entry (its own header included) and after its last, for entries
        of ``entries_size`` octets in all (none: revokedCertificates is left out, RFC 5280 §5.1.2.6)."""
        before = self.before_entries + (_header(0x30, entries_size) if entries_size else b"")
        after = _tlv(0xA0, self.extensions)
        return _header(0x30, len(before) + entries_size + len(after)) + before, after


def unsigned_crl(fields: CrlFields, entries: bytes) -> bytes:
    """A CRL of ``entries`` (DER, one after another) with an empty signature: a linter's copy."""
    before, after = fields.tbs_around(len(entries))
    return _tlv(0x30, before + entries + after + fields.signature_algorithm + _tlv(0x03, b"\x00"))


@dataclass(frozen=True)
class SignedCrl:
    """A signed CRL's DER and where its TBSCertList lies in it."""

    der: bytes
    tbs_start: int
    tbs_end: int

    @property
    def tbs(self) -> memoryview:
        """The TBSCertList, without a copy."""
        return memoryview(self.der)[self.tbs_start : self.tbs_end]


class CrlWriter:
    """One CRL being written: entries added one by one (:meth:`add`), then signed once (:meth:`sign`).

    The temporary file goes when the writer is closed (use it as a context manager); ``sample`` keeps the
    first ``sample_size`` entries, for a linter's copy that costs what a small CRL does.
    """

    def __init__(self, fields: CrlFields, sample_size: int) -> None:
        self.fields = fields
        self.count = 0
        self.size = 0
        self.sample = bytearray()
        self._sample_size = sample_size
        self._reserve = len(fields.before_entries) + _MOST_HEADER_OCTETS
        # closed by __exit__; buffered random access, as tempfile opens "w+b" files
        self._file = cast(io.BufferedRandom, tempfile.TemporaryFile(buffering=_CHUNK))  # noqa: SIM115
        self._file.seek(self._reserve)

    def __enter__(self) -> CrlWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._file.close()

    def add(
        self,
        serial_hex: str,
        revoked_at: dt.datetime | None,
        reason: str | None,
        invalidity: dt.datetime | None,
    ) -> None:
        """Append the entry of a certificate revoked at ``revoked_at`` for ``reason`` (RFC 5280 name;
        unspecified or None: no reasonCode), compromised since ``invalidity`` if known."""
        entry = _entry(serial_hex, revoked_at, reason, invalidity)
        self._file.write(entry)
        self.size += len(entry)
        if self.count < self._sample_size:
            self.sample += entry
        self.count += 1

    def sign(self, hash_name: str, sign_digest: Callable[[bytes], bytes]) -> SignedCrl:
        """The CRL whose TBSCertList's ``hash_name`` digest ``sign_digest`` signed (it returns the
        signature value, e.g. a DER ECDSA-Sig-Value)."""
        before, after = self.fields.tbs_around(self.size)
        signature = _tlv(0x03, b"\x00" + sign_digest(self._tbs_digest(hash_name, before, after)))
        tbs_size = len(before) + self.size + len(after)
        tail = after + self.fields.signature_algorithm + signature
        outer = _header(0x30, tbs_size + len(self.fields.signature_algorithm) + len(signature))
        start = self._reserve - len(outer) - len(before)  # the head ends where the first entry begins
        self._file.seek(start)
        self._file.write(outer + before)
        self._file.seek(self._reserve + self.size)
        self._file.write(tail)
        self._file.flush()
        self._file.seek(start)
        total = len(outer) + len(before) + self.size + len(tail)
        der = self._file.read(total)  # one allocation of the CRL's size, filled by the reads
        if len(der) != total:
            raise OSError(f"the CRL's temporary file gave {len(der)} of its {total} octets back")
        return SignedCrl(der, len(outer), len(outer) + tbs_size)

    def _tbs_digest(self, hash_name: str, before: bytes, after: bytes) -> bytes:
        hasher = hashlib.new(hash_name, before)
        self._file.flush()
        self._file.seek(self._reserve)
        chunk = memoryview(bytearray(_CHUNK))
        remaining = self.size
        while remaining:
            read = self._file.readinto(chunk[: min(_CHUNK, remaining)])
            if not read:
                raise OSError("the CRL's temporary file ended before its entries did")
            hasher.update(chunk[:read])
            remaining -= read
        hasher.update(after)
        return hasher.digest()
