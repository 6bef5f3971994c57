"""moto's S3 server with server-side copies that cost the benchmark machine nothing.

    python -m bench.refcopy_s3 -H 127.0.0.1 -p PORT [--latency-ms N] [--copy-mibps R]

On AWS, UploadPartCopy and CompleteMultipartUpload move bytes inside S3: the Lambda that
calls them waits, but spends no CPU, memory or bandwidth of its own. moto carries both out
on the machine under test instead (it reads each source object whole, slices it, re-reads
every part and computes a full-object CRC64 in Python), so on two cores a benchmark of
Finalize mostly measures moto. This server keeps moto for everything and changes only
that: a copied part and a completed upload hold references to byte ranges of the objects
they came from, and a ranged GetObject reads only its range (moto reads the whole object
and slices it). GetObject still returns the real bytes, assembled when read, so the run
zip can be checked. Part ETags of copies are derived from the source ETag and range rather
than computed over the bytes, and no checksum is kept for completed uploads.

Connections are kept alive (HTTP/1.1), as S3 keeps them; moto's server closes each one.
``--latency-ms`` adds that many milliseconds before every request is answered: a stand-in
for S3's round trip. ``--copy-mibps`` makes each UploadPartCopy take its bytes at that many
MiB/s: a stand-in for the time S3 itself spends copying, which is not measured here (no
real S3) and which Finalize waits for, 32 copies at a time.

Only for benchmarks: deleting a source object that a completed object refers to is not
supported (the benchmark keeps staging).
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from moto.s3 import models, responses
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML

Segment = tuple[Any, int, int]  # (moto FakeKey holding real bytes, offset, length)


class Ranges:
    """An object's bytes as ranges of other objects' bytes."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = [s for s in segments if s[2] > 0]
        self.length = sum(length for _, _, length in self.segments)

    def __len__(self) -> int:
        return self.length

    def slice(self, start: int, end: int) -> Ranges:
        """Bytes [start, end)."""
        out, pos = [], 0
        for key, offset, length in self.segments:
            lo, hi = max(start, pos), min(end, pos + length)
            if lo < hi:
                out.append((key, offset + lo - pos, hi - lo))
            pos += length
        return Ranges(out)

    def read(self) -> bytes:
        chunks = []
        for key, offset, length in self.segments:
            with key.lock:
                key._value_buffer.seek(offset)
                chunks.append(key._value_buffer.read(length))
        return b"".join(chunks)


class RangedContent:
    """A GET body that reads only the bytes a Range header asks for. moto reads the whole
    object for every ranged GET and slices it afterwards; S3 reads the range."""

    def __init__(self, ranges: Ranges) -> None:
        self.ranges = ranges

    def __len__(self) -> int:
        return len(self.ranges)

    def __getitem__(self, span: slice) -> bytes:
        start, stop, _ = span.indices(len(self.ranges))
        return self.ranges.slice(start, stop).read()


_request = threading.local()
_copy_rate = 0.0  # bytes per second of one UploadPartCopy; 0: instantaneous


def ranges_of(key: Any) -> Ranges:
    held = key.__dict__.get("_ranges")
    return held if held is not None else Ranges([(key, 0, key.contentsize)])


def _detached(part: Any) -> Any:
    """An uploaded part's bytes, kept out of reach of moto disposing the finished upload's
    parts (which closes their buffers); a copied part already refers to its source."""
    if part.__dict__.get("_ranges") is not None:
        return part
    holder = SimpleNamespace(_value_buffer=part._value_buffer, lock=threading.Lock(),
                             contentsize=part.contentsize)  # fmt: skip
    part._value_buffer = tempfile.SpooledTemporaryFile()
    return holder


def install() -> None:
    """Patch moto's S3 model in this process."""
    plain = models.FakeKey.value

    def get_value(self: Any) -> Any:
        if getattr(_request, "ranged_get", False):
            return RangedContent(ranges_of(self))
        held = self.__dict__.get("_ranges")
        return held.read() if held is not None else plain.fget(self)

    def set_value(self: Any, new_value: Any) -> None:
        if isinstance(new_value, Ranges):
            plain.fset(self, b"")
            self._ranges = new_value
            self.contentsize = len(new_value)
        else:
            self._ranges = None
            plain.fset(self, new_value)

    models.FakeKey.value = property(get_value, set_value)  # type: ignore[method-assign,assignment]

    def upload_part_copy(
        self: Any,
        dest_bucket_name: str,
        multipart_id: str,
        part_id: int,
        src_bucket_name: str,
        src_key_name: str,
        src_version_id: str | None,
        start_byte: int | None,
        end_byte: int | None,
    ) -> Any:
        multipart = self.get_bucket(dest_bucket_name).multiparts[multipart_id]
        source = self.get_object(src_bucket_name, src_key_name, version_id=src_version_id)
        ranges = ranges_of(source)
        if start_byte is not None and end_byte is not None:
            ranges = ranges.slice(start_byte, end_byte + 1)
        if _copy_rate:  # S3's own copy time, modelled: this request's bytes at the rate given
            time.sleep(len(ranges) / _copy_rate)
        part = multipart.set_part(part_id, ranges)
        part._etag = hashlib.md5(f"{source.etag}:{start_byte}-{end_byte}".encode()).hexdigest()
        return part

    def complete(self: Any, body: Iterator[tuple[int, str]]) -> tuple[Any, str, None]:
        decode_hex = codecs.getdecoder("hex_codec")
        segments: list[Segment] = []
        md5s = bytearray()
        last = None
        parts = []
        for number, etag in body:  # check every part before touching any
            part = self.parts.get(number)
            if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
                raise InvalidPart()
            if last is not None and last.contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
                raise EntityTooSmall()
            parts.append(part)
            last = part
        if last is None:
            raise MalformedXML()
        for part in parts:
            md5s.extend(decode_hex(part.etag.replace('"', ""))[0])
            segments.extend(ranges_of(_detached(part)).segments)
        count = len(md5s) // 16
        return Ranges(segments), f"{hashlib.md5(bytes(md5s)).hexdigest()}-{count}", None

    plain_key_response = responses.S3Response.key_response

    def key_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        _request.ranged_get = request.method == "GET" and bool(request.headers.get("range"))
        try:
            status, response_headers, body = plain_key_response(self, request, full_url, headers)
        finally:
            _request.ranged_get = False
        if isinstance(body, RangedContent):  # a range moto answers with the whole object
            body = body[:]
        return status, response_headers, body

    responses.S3Response.key_response = key_response  # type: ignore[method-assign]
    models.S3Backend.upload_part_copy = upload_part_copy  # type: ignore[method-assign]
    models.FakeMultipart.complete = complete  # type: ignore[method-assign,assignment]


def add_latency(seconds: float) -> None:
    """Delay every response of moto's server by ``seconds``."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatch = DomainDispatcherApplication.__call__

    def delayed(self: Any, environ: Any, start_response: Any) -> Any:
        time.sleep(seconds)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = delayed  # type: ignore[method-assign]


def keep_alive() -> None:
    """Answer over persistent HTTP/1.1 connections, as S3 does. Werkzeug's server speaks
    HTTP/1.0 by default, closing the connection after every response, which would charge
    the client a TCP connection per request."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    MotoRequestHandler.protocol_version = "HTTP/1.1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--copy-mibps", type=float, default=0.0)
    ours, rest = parser.parse_known_args(argv)
    global _copy_rate
    _copy_rate = ours.copy_mibps * 1024 * 1024
    install()
    keep_alive()
    if ours.latency_ms:
        add_latency(ours.latency_ms / 1000)
    from moto.server import main as serve

    serve(rest)


if __name__ == "__main__":
    main(sys.argv[1:])
