"""The zip end structures writer and reader, including offsets and sizes past 4 GiB."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import replace

import pytest

from ghbackup import zipformat
from ghbackup.errors import ArchiveCorrupt

GIB = 1 << 30


def entry(name: str, offset: int, size: int = 5, crc: int = 0) -> zipformat.CentralEntry:
    return zipformat.CentralEntry(
        name=name.encode(), version_made_by=20, version_needed=20, flags=0, method=0,
        mod_time=0, mod_date=0x5821, crc32=crc, compressed_size=size, uncompressed_size=size,
        local_header_offset=offset, extra=b"UT\x05\x00\x01\x00\x00\x00\x00",
    )  # fmt: skip


def test_offsets_and_sizes_past_4_gib_round_trip_through_zip64_fields():
    entries = [entry("a/small", 10), entry("a/far", 5 * GIB), entry("a/huge", 6 * GIB, 7 * GIB)]
    cd_offset = 14 * GIB
    data = zipformat.central_directory(entries, cd_offset)
    end = zipformat.find_end_record(data, cd_offset)
    assert end.zip64_eocd_offset is not None
    zip64 = zipformat.parse_zip64_end_record(data[end.zip64_eocd_offset - cd_offset :])
    assert (zip64.entries, zip64.cd_offset) == (3, cd_offset)
    parsed = zipformat.parse_central_directory(data[: zip64.cd_size], zip64.entries)
    assert [replace(e, version_needed=20) for e in parsed] == entries
    assert [e.version_needed for e in parsed] == [20, 45, 45]
    # The small entry needs no ZIP64 field; the far one only its offset; the huge one all.
    records = [zipformat.central_record(e) for e in entries]
    assert b"\x01\x00" not in records[0][46 + 7 : 46 + 7 + 4]
    assert struct.unpack_from("<I", records[1], 42)[0] == 0xFFFFFFFF
    assert struct.unpack_from("<II", records[2], 20) == (0xFFFFFFFF, 0xFFFFFFFF)
    assert struct.unpack_from("<H", records[2], 6)[0] == 45


def test_small_zip_gets_plain_end_record():
    data = zipformat.central_directory([entry("x", 0)], 100)
    end = zipformat.find_end_record(data, 100)
    assert end.zip64_eocd_offset is None and (end.entries, end.cd_offset) == (1, 100)


def test_zipfile_reads_an_entry_placed_past_4_gib(tmp_path):
    # A sparse file: one STORED entry whose local header starts at 4.5 GiB.
    payload = b"hello from far away"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("o/n/manifest.json", payload)
    small = buf.getvalue()
    end = zipformat.find_end_record(small, 0)
    [original] = zipformat.parse_central_directory(
        small[end.cd_offset : end.cd_offset + end.cd_size], end.entries
    )
    base = 4 * GIB + GIB // 2
    region = small[: end.cd_offset]
    path = tmp_path / "far.zip"
    with path.open("wb") as out:
        out.seek(base)
        out.write(region)
        out.write(zipformat.central_directory([original.moved(base)], base + len(region)))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("o/n/manifest.json")
        assert info.header_offset == base
        assert zf.read(info) == payload and info.CRC == zlib.crc32(payload)


def test_tail_that_is_not_a_zip_is_corrupt():
    with pytest.raises(ArchiveCorrupt, match="no end of central directory"):
        zipformat.find_end_record(b"x" * 100, 0)


def test_truncated_central_directory_is_corrupt():
    data = zipformat.central_directory([entry("x", 0), entry("y", 40)], 0)
    with pytest.raises(ArchiveCorrupt):
        zipformat.parse_central_directory(data[:60], 2)


def test_comment_after_the_end_record_is_skipped():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a", b"1")
        zf.comment = b"PK\x05\x06 looks like a signature"
    data = buf.getvalue()
    end = zipformat.find_end_record(data, 0)
    assert end.entries == 1
