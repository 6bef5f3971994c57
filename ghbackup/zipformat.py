"""The zip container's end structures, read and written from the APPNOTE (PKWARE 6.3.x).

Only what Finalize and restore need: find a zip's central directory from its tail (EOCD,
ZIP64 locator, ZIP64 EOCD), parse central directory records (ZIP64 extra field included),
and write a central directory plus its end records for entries whose local headers and
data already sit somewhere else. Local headers are never rewritten: they hold no offsets,
so an entry's bytes can be moved unchanged; only its central record carries its position.

Everything works on ``bytes`` so callers decide how the bytes are fetched (S3 ranged GETs).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from ghbackup.errors import ArchiveCorrupt

EOCD_SIG = 0x06054B50
ZIP64_LOCATOR_SIG = 0x07064B50
ZIP64_EOCD_SIG = 0x06064B50
CENTRAL_SIG = 0x02014B50
LOCAL_SIG = 0x04034B50

EOCD_SIZE = 22
ZIP64_LOCATOR_SIZE = 20
ZIP64_EOCD_SIZE = 56
CENTRAL_SIZE = 46
LOCAL_SIZE = 30
MAX_COMMENT = 0xFFFF
ZIP64_EXTRA_ID = 0x0001
ZIP64_VERSION = 45

# A 32-bit field holding this value means "see the ZIP64 extra field"; a real value equal
# to it must therefore be written through ZIP64 too.
U32_MARK = 0xFFFFFFFF
U16_MARK = 0xFFFF

# Bytes at the end of a zip that always contain its EOCD (with the longest comment) and,
# for a ZIP64 zip, the locator in front of it.
TAIL_WITH_EOCD = EOCD_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE

_EOCD = struct.Struct("<IHHHHIIH")
_LOCATOR = struct.Struct("<IIQI")
_ZIP64_EOCD = struct.Struct("<IQHHIIQQQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<IHHHHHIIIHH")


@dataclass(frozen=True)
class EndRecord:
    """Where a zip's central directory is. ``zip64_eocd_offset`` is set when the zip has
    a ZIP64 end record that must be read (from that offset) to get the real values."""

    entries: int
    cd_size: int
    cd_offset: int
    zip64_eocd_offset: int | None = None


@dataclass(frozen=True)
class CentralEntry:
    """One central directory record, with ZIP64 values already resolved and the ZIP64
    extra field removed from ``extra`` (the writer adds it back when needed)."""

    name: bytes
    version_made_by: int
    version_needed: int
    flags: int
    method: int
    mod_time: int
    mod_date: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    local_header_offset: int
    internal_attr: int = 0
    external_attr: int = 0
    extra: bytes = b""
    comment: bytes = b""

    @property
    def filename(self) -> str:
        # Bit 11: name is UTF-8; otherwise the APPNOTE says IBM code page 437.
        return self.name.decode("utf-8" if self.flags & 0x800 else "cp437")

    def moved(self, delta: int) -> CentralEntry:
        """The same entry with its local header ``delta`` bytes further into the zip."""
        return replace(self, local_header_offset=self.local_header_offset + delta)


def find_end_record(tail: bytes, tail_offset: int) -> EndRecord:
    """Locate the EOCD in ``tail`` (the last bytes of a zip, starting at ``tail_offset``)."""
    pos = tail.rfind(struct.pack("<I", EOCD_SIG))
    while pos >= 0:
        if len(tail) - pos >= EOCD_SIZE:
            (_, disk, cd_disk, _, entries, cd_size, cd_offset, comment_len) = _EOCD.unpack_from(
                tail, pos
            )
            if pos + EOCD_SIZE + comment_len == len(tail):
                break
        pos = tail.rfind(struct.pack("<I", EOCD_SIG), 0, pos)
    else:
        raise ArchiveCorrupt("not a zip: no end of central directory record")
    zip64_at = None
    loc = pos - ZIP64_LOCATOR_SIZE
    if loc >= 0 and struct.unpack_from("<I", tail, loc)[0] == ZIP64_LOCATOR_SIG:
        _, eocd_disk, zip64_at, disks = _LOCATOR.unpack_from(tail, loc)
        if eocd_disk != 0 or disks > 1:
            raise ArchiveCorrupt("multi-disk zips are not supported")
    elif disk != 0 or cd_disk != 0:
        raise ArchiveCorrupt("multi-disk zips are not supported")
    if zip64_at is None and cd_offset + cd_size > tail_offset + pos:
        raise ArchiveCorrupt("central directory runs past the end record")
    return EndRecord(entries, cd_size, cd_offset, zip64_at)


def parse_zip64_end_record(data: bytes) -> EndRecord:
    """Parse a ZIP64 EOCD record (at least its fixed 56 bytes)."""
    if len(data) < ZIP64_EOCD_SIZE or struct.unpack_from("<I", data)[0] != ZIP64_EOCD_SIG:
        raise ArchiveCorrupt("ZIP64 end of central directory record is missing")
    (_, _, _, _, disk, cd_disk, _, entries, cd_size, cd_offset) = _ZIP64_EOCD.unpack_from(data)
    if disk != 0 or cd_disk != 0:
        raise ArchiveCorrupt("multi-disk zips are not supported")
    return EndRecord(entries, cd_size, cd_offset)


def _split_extra(extra: bytes) -> tuple[bytes | None, bytes]:
    """(ZIP64 field payload or None, the other extra fields unchanged)."""
    zip64, kept, pos = None, bytearray(), 0
    while pos + 4 <= len(extra):
        hid, size = struct.unpack_from("<HH", extra, pos)
        if pos + 4 + size > len(extra):
            break
        if hid == ZIP64_EXTRA_ID:
            zip64 = extra[pos + 4 : pos + 4 + size]
        else:
            kept += extra[pos : pos + 4 + size]
        pos += 4 + size
    kept += extra[pos:]  # trailing padding some writers leave: keep it as found
    return zip64, bytes(kept)


def parse_central_directory(data: bytes, entries: int) -> list[CentralEntry]:
    """Parse ``entries`` central directory records from ``data``."""
    out: list[CentralEntry] = []
    pos = 0
    for _ in range(entries):
        if pos + CENTRAL_SIZE > len(data):
            raise ArchiveCorrupt("central directory is shorter than its entry count")
        (sig, made_by, needed, flags, method, mtime, mdate, crc, csize, usize, name_len,
         extra_len, comment_len, disk, iattr, eattr, offset) = _CENTRAL.unpack_from(data, pos)  # fmt: skip
        if sig != CENTRAL_SIG:
            raise ArchiveCorrupt(f"bad central directory record signature at {pos}")
        pos += CENTRAL_SIZE
        name = data[pos : pos + name_len]
        extra = data[pos + name_len : pos + name_len + extra_len]
        comment = data[pos + name_len + extra_len : pos + name_len + extra_len + comment_len]
        pos += name_len + extra_len + comment_len
        if pos > len(data):
            raise ArchiveCorrupt("central directory record runs past its end")
        zip64, extra = _split_extra(extra)
        wanted = [usize == U32_MARK, csize == U32_MARK, offset == U32_MARK, disk == U16_MARK]
        if any(wanted):
            sizes = [8, 8, 8, 4]
            need = sum(s for s, w in zip(sizes, wanted, strict=True) if w)
            if zip64 is None or len(zip64) < need:
                raise ArchiveCorrupt(f"entry {name!r} lacks its ZIP64 extra field")
            values: list[int | None] = []
            at = 0
            for size, want in zip(sizes, wanted, strict=True):
                if want:
                    values.append(int.from_bytes(zip64[at : at + size], "little"))
                    at += size
                else:
                    values.append(None)  # not in the record: the 32-bit field stands
            usize = values[0] if values[0] is not None else usize
            csize = values[1] if values[1] is not None else csize
            offset = values[2] if values[2] is not None else offset
            disk = values[3] if values[3] is not None else disk
        if disk != 0:
            raise ArchiveCorrupt("multi-disk zips are not supported")
        out.append(
            CentralEntry(
                name,
                made_by,
                needed,
                flags,
                method,
                mtime,
                mdate,
                crc,
                csize,
                usize,
                offset,
                iattr,
                eattr,
                extra,
                comment,
            )  # fmt: skip
        )
    return out


def central_record(entry: CentralEntry) -> bytes:
    """One central directory record, with a ZIP64 extra field when a value needs one."""
    usize, csize, offset = entry.uncompressed_size, entry.compressed_size, entry.local_header_offset
    zip64 = b""
    if usize >= U32_MARK or csize >= U32_MARK:
        zip64 += struct.pack("<QQ", usize, csize)
        usize = csize = U32_MARK
    if offset >= U32_MARK:
        zip64 += struct.pack("<Q", offset)
        offset = U32_MARK
    extra = entry.extra
    needed = entry.version_needed
    if zip64:
        extra = struct.pack("<HH", ZIP64_EXTRA_ID, len(zip64)) + zip64 + extra
        needed = max(needed, ZIP64_VERSION)
    if len(extra) > U16_MARK:
        raise ArchiveCorrupt(f"extra field of {entry.name!r} is too long")
    head = _CENTRAL.pack(
        CENTRAL_SIG, entry.version_made_by, needed, entry.flags, entry.method, entry.mod_time,
        entry.mod_date, entry.crc32, csize, usize, len(entry.name), len(extra),
        len(entry.comment), 0, entry.internal_attr, entry.external_attr, offset,
    )  # fmt: skip
    return head + entry.name + extra + entry.comment


def end_records(entries: int, cd_offset: int, cd_size: int) -> bytes:
    """EOCD (preceded by a ZIP64 EOCD and locator when a count or offset needs 64 bits)."""
    out = b""
    if entries >= U16_MARK or cd_offset >= U32_MARK or cd_size >= U32_MARK:
        zip64_at = cd_offset + cd_size
        out += _ZIP64_EOCD.pack(ZIP64_EOCD_SIG, ZIP64_EOCD_SIZE - 12, ZIP64_VERSION,
                                ZIP64_VERSION, 0, 0, entries, entries, cd_size, cd_offset)  # fmt: skip
        out += _LOCATOR.pack(ZIP64_LOCATOR_SIG, 0, zip64_at, 1)
        entries, cd_offset, cd_size = (
            min(entries, U16_MARK),
            min(cd_offset, U32_MARK),
            min(cd_size, U32_MARK),
        )
    return out + _EOCD.pack(EOCD_SIG, 0, 0, entries, entries, cd_size, cd_offset, 0)


def central_directory(entries: list[CentralEntry], cd_offset: int) -> bytes:
    """The whole end of a zip: central records for ``entries`` then the end records."""
    records = b"".join(central_record(e) for e in entries)
    return records + end_records(len(entries), cd_offset, len(records))


def local_header_span(header: bytes) -> int:
    """Length of a local file header (fixed part + name + extra) from its first bytes."""
    if len(header) < LOCAL_SIZE or struct.unpack_from("<I", header)[0] != LOCAL_SIG:
        raise ArchiveCorrupt("bad local file header signature")
    fields = _LOCAL.unpack_from(header)
    return LOCAL_SIZE + int(fields[9]) + int(fields[10])
