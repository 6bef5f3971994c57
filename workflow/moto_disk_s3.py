"""moto's S3 with every object on disk and no whole-object copy in memory (issue 23, item 3).

moto keeps an object in a SpooledTemporaryFile, but reads it whole wherever it is used: a
GET answers ``key.value`` (then slices it for a range), a copy or UploadPartCopy reads the
source whole, CompleteMultipartUpload joins every part in a bytearray (twice, and once more for
a full-object checksum), and every PUT body is read whole from the request, then decoded into
another copy. A local run over three 300 MB repositories peaked at 4.76 GB.

Here an object's bytes live in a file of their own under one spool folder (only objects up to
``IN_MEMORY_BYTES`` stay in memory), and each of those paths moves data in chunks:
- a PUT (object or part) streams its body, aws-chunked or not, into a spool file;
- a GET (whole or ranged) answers a body that reads its range of the file as it is sent;
- CopyObject links the source file (a new file per write, so a link is never changed in
  place); UploadPartCopy copies only its range;
- CompleteMultipartUpload concatenates the part files and computes checksums as it goes.

A file is never held open between requests, so an account of many thousands of objects does
not run out of file descriptors. Like ``workflow.moto_fixes``, this patches moto's classes in
the process that serves moto; ``apply()`` is idempotent and ``moto_fixes.apply_all`` calls it.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import contextvars
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

# Objects up to this size stay in memory: JSON records and small zips, where a file per
# object would cost more than it saves.
IN_MEMORY_BYTES = 16 * 1024
# PUT bodies up to this size are read by moto as before (an XML body, a small object).
STREAMED_PUT_BYTES = 256 * 1024
CHUNK_BYTES = 1024 * 1024

_lock = threading.Lock()
_applied = False
_spool_dir: Path | None = None

# What ``FakeKey.value`` answers in this request: bytes (moto's default), a lazily read body
# (a GET), or the key's stored value itself (a copy, which links the file).
_value_mode: contextvars.ContextVar[str] = contextvars.ContextVar("ghbackup_s3_value_mode")


def spool_dir() -> Path:
    """The folder every on-disk object lives in (one per process, removed at exit)."""
    global _spool_dir
    with _lock:
        if _spool_dir is None:
            _spool_dir = Path(tempfile.mkdtemp(prefix="ghbackup-local-s3-"))
            atexit.register(shutil.rmtree, _spool_dir, True)
        return _spool_dir


def _new_path() -> Path:
    handle, name = tempfile.mkstemp(dir=spool_dir(), suffix=".obj")
    os.close(handle)
    return Path(name)


class Spool:
    """A finished file of bytes, not yet owned by a key: what a streamed PUT, a multipart
    completion or a part copy hands to ``FakeKey.value``, which adopts the file."""

    def __init__(self, path: Path, size: int) -> None:
        self.path: Path | None = path
        self.size = size

    def __bool__(self) -> bool:
        return self.size > 0

    def __len__(self) -> int:
        return self.size

    def take(self) -> Path:
        """Hand the file over (once); the spool no longer deletes it."""
        path, self.path = self.path, None
        if path is None:
            raise ValueError("this spool was already taken")
        return path

    def __del__(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class StoredValue:
    """One object's bytes: in memory when small, otherwise in a file that is written once.

    Quacks like the file moto's code expects in ``FakeKey._value_buffer`` (seek, read,
    truncate, write, close), so moto's unpatched uses of it (the ETag, disposal) still work.
    """

    def __init__(self) -> None:
        self.memory = b""
        self.path: Path | None = None
        self.size = 0
        self._position = 0

    # -- writing: always a new file, so a linked copy never changes under another key -------
    def set(self, value: Any) -> None:
        """Store bytes, a Spool's file (adopted) or another StoredValue (linked)."""
        old = self.path
        if isinstance(value, StoredValue):
            self.memory, self.size = value.memory, value.size
            self.path = _link_or_copy(value.path) if value.path is not None else None
        elif isinstance(value, Spool):
            self.size = value.size
            if value.size <= IN_MEMORY_BYTES:
                path = value.take()
                self.memory, self.path = path.read_bytes(), None
                path.unlink(missing_ok=True)
            else:
                self.memory, self.path = b"", value.take()
        else:
            data = value.encode() if isinstance(value, str) else bytes(value)
            self.size = len(data)
            if self.size <= IN_MEMORY_BYTES:
                self.memory, self.path = data, None
            else:
                path = _new_path()
                path.write_bytes(data)
                self.memory, self.path = b"", path
        if old is not None and old != self.path:
            old.unlink(missing_ok=True)
        self._position = 0

    # -- reading ------------------------------------------------------------------------------
    def read_range(self, start: int, length: int) -> bytes:
        """Bytes [start, start + length) of the value."""
        if self.path is None:
            return self.memory[start : start + length]
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def open(self) -> BinaryIO:
        """A handle on the value from its start (kept readable if the key is replaced)."""
        if self.path is None:
            import io

            return io.BytesIO(self.memory)
        return self.path.open("rb")

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The value (or a range of it) in chunks of at most CHUNK_BYTES."""
        remaining = self.size - start if length is None else length
        with self.open() as handle:
            handle.seek(start)
            while remaining > 0:
                block = handle.read(min(CHUNK_BYTES, remaining))
                if not block:
                    return
                remaining -= len(block)
                yield block

    # -- the file interface moto's FakeKey uses -----------------------------------------------
    def seek(self, position: int, whence: int = 0) -> int:
        self._position = position if whence == 0 else self.size + position
        return self._position

    def read(self, size: int = -1) -> bytes:
        # A sized read returns at most a chunk (as a raw file may): moto's ETag reads 16 MiB
        # at a time, in as many request threads as there are parts being uploaded.
        rest = self.size - self._position
        length = rest if size is None or size < 0 else min(size, CHUNK_BYTES)
        block = self.read_range(self._position, length)
        self._position += len(block)
        return block

    def truncate(self, size: int = 0) -> int:
        self.set(self.read_range(0, size) if size else b"")
        return size

    def write(self, data: bytes) -> int:
        self.set(self.read_range(0, self._position) + bytes(data))
        self._position = self.size
        return len(data)

    def close(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
        self.memory = b""


def _link_or_copy(source: Path) -> Path:
    target = _new_path()
    target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


class LazyBody:
    """A GET's body: ``len()``, slicing (moto's Range handling) and iteration (werkzeug
    sending it) without reading more than one chunk at a time. The file is opened when the
    body is made, so a key replaced meanwhile still answers what it held."""

    def __init__(self, handle: BinaryIO, start: int, length: int) -> None:
        self._handle = handle
        self._start = start
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    def __getitem__(self, item: slice) -> LazyBody:
        begin, end, _ = item.indices(self._length)
        return LazyBody(self._handle, self._start + begin, max(0, end - begin))

    def __iter__(self) -> Iterator[bytes]:
        remaining = self._length
        offset = self._start
        fileno = self._handle.fileno() if hasattr(self._handle, "fileno") else None
        try:
            while remaining > 0:
                if fileno is None:
                    self._handle.seek(offset)
                    block = self._handle.read(min(CHUNK_BYTES, remaining))
                else:
                    block = os.pread(fileno, min(CHUNK_BYTES, remaining), offset)
                if not block:
                    return
                offset += len(block)
                remaining -= len(block)
                yield block
        finally:
            self.close()

    def close(self) -> None:
        self._handle.close()


def _stored(key: Any) -> StoredValue:
    buffer = key.__dict__.get("_value_buffer")
    if not isinstance(buffer, StoredValue):
        replacement = StoredValue()
        if buffer is not None:
            with contextlib.suppress(ValueError):
                buffer.seek(0)
                replacement.set(buffer.read())
            buffer.close()
        key.__dict__["_value_buffer"] = replacement
        buffer = replacement
    return buffer


def _value_get(key: Any) -> Any:
    stored = _stored(key)
    mode = _value_mode.get("bytes")
    if mode == "source":
        return stored
    if mode == "stream" and stored.path is not None:
        return LazyBody(stored.open(), 0, stored.size)
    with key.lock:
        return stored.read_range(0, stored.size)


def _value_set(key: Any, new_value: Any) -> None:
    stored = _stored(key)
    stored.set(new_value)
    key.contentsize = stored.size


def _spool_chunks(chunks: Iterator[bytes]) -> Spool:
    path = _new_path()
    size = 0
    with path.open("wb") as handle:
        for block in chunks:
            handle.write(block)
            size += len(block)
    return Spool(path, size)


class _Checksum:
    """moto's compute_checksum, fed in chunks (the same algorithms and fallbacks)."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._crc = 0
        self._hash: Any = None
        if algorithm == "SHA1":
            self._hash = hashlib.sha1(usedforsecurity=False)
        elif algorithm not in ("CRC32", "CRC32C", "CRC64NVME"):
            self._hash = hashlib.sha256(usedforsecurity=False)

    def update(self, block: bytes) -> None:
        if self._hash is not None:
            self._hash.update(block)
        elif self.algorithm == "CRC64NVME" and _crt_checksums() is not None:
            self._crc = _crt_checksums().crc64nvme(block, self._crc)
        elif self.algorithm == "CRC32C" and _crc32c() is not None:
            self._crc = _crc32c().crc32c(block, self._crc)
        else:
            self._crc = binascii.crc32(block, self._crc)

    def digest(self) -> bytes:
        if self._hash is not None:
            return bytes(self._hash.digest())
        wide = self.algorithm == "CRC64NVME" and _crt_checksums() is not None
        return int(self._crc).to_bytes(8 if wide else 4, "big")


def _crt_checksums() -> Any:
    from moto.s3.utils import HAS_CRT

    if not HAS_CRT:
        return None
    from awscrt import checksums

    return checksums


def _crc32c() -> Any:
    try:
        import crc32c
    except ImportError:
        return None
    return crc32c


def _complete(multipart: Any, body: Iterator[tuple[int, str]]) -> tuple[Any, str, Any]:
    """FakeMultipart.complete with the parts concatenated on disk, checksums as it goes."""
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
    from moto.s3.models import S3_UPLOAD_PART_MIN_SIZE, MultipartChecksumBuilder
    from moto.s3.utils import compute_checksum

    metadata = multipart.metadata
    builder = MultipartChecksumBuilder(
        metadata.get("x-amz-checksum-algorithm"), metadata.get("x-amz-checksum-type")
    )
    whole = _Checksum(builder.checksum_algorithm)
    composite = bytearray()
    md5s = bytearray()
    last = None
    count = 0
    path = _new_path()
    size = 0
    with path.open("wb") as out:
        for number, etag in body:
            part = multipart.parts.get(number)
            if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
                raise InvalidPart()
            if last is not None and last.contentsize < S3_UPLOAD_PART_MIN_SIZE:
                raise EntityTooSmall()
            md5s.extend(binascii.unhexlify(part.etag.replace('"', "")))
            per_part = _Checksum(builder.checksum_algorithm)
            for block in _stored(part).chunks():
                out.write(block)
                size += len(block)
                whole.update(block)
                per_part.update(block)
            composite.extend(per_part.digest())
            last = part
            count += 1
    spool = Spool(path, size)
    if count == 0:
        raise MalformedXML
    if builder.checksum_type == "COMPOSITE":
        checksum = compute_checksum(bytes(composite), builder.checksum_algorithm).decode()
        details = (builder.checksum_type, checksum, count)
    else:
        details = (builder.checksum_type, base64.b64encode(whole.digest()).decode(), 1)
    full_etag = hashlib.md5(bytes(md5s), usedforsecurity=False).hexdigest()
    return spool, f"{full_etag}-{count}", details


def _read_exactly(stream: Any, size: int) -> Iterator[bytes]:
    while size > 0:
        block = stream.read(min(CHUNK_BYTES, size))
        if not block:
            raise ValueError("the request body ended early")
        size -= len(block)
        yield block


def _aws_chunks(stream: Any, trailer: bytearray) -> Iterator[bytes]:
    """The payload of an aws-chunked body (signed or not), read as it arrives; the trailing
    headers (a checksum) are appended to ``trailer``."""
    while True:
        line = stream.readline()
        if not line:
            return
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        yield from _read_exactly(stream, size)
        stream.readline()  # the CRLF after each chunk
    for line in iter(stream.readline, b""):
        trailer.extend(line)


def _streamed_put_body(request: Any) -> tuple[Spool, bytes] | None:
    """A large PUT's body spooled to disk straight from the request stream, or None for a
    request moto reads as before (small, a copy, not a werkzeug request)."""
    if getattr(request, "method", "") != "PUT" or not _served(request):
        return None
    headers = request.headers
    if "x-amz-copy-source" in headers:
        return None
    length = int(headers.get("x-amz-decoded-content-length") or headers.get("Content-Length") or 0)
    if length <= STREAMED_PUT_BYTES:
        return None
    encoding = headers.get("x-amz-content-sha256", "")
    trailer = bytearray()
    if encoding.startswith("STREAMING-") or "aws-chunked" in headers.get("Content-Encoding", ""):
        spool = _spool_chunks(_aws_chunks(request.stream, trailer))
    else:
        spool = _spool_chunks(_read_exactly(request.stream, length))
    return spool, bytes(trailer)


def _served(request: Any) -> bool:
    """Whether the request came through moto's server (whose body can be streamed from the
    socket, and whose answer werkzeug sends in chunks), not through mock_aws in-process,
    which builds a werkzeug request too and wants bytes back."""
    return _serving.get(False) and hasattr(request, "stream")


# Set while moto's server (DomainDispatcherApplication) handles a request in this thread.
_serving: contextvars.ContextVar[bool] = contextvars.ContextVar("ghbackup_s3_serving")


def _patch_server() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original_call = DomainDispatcherApplication.__call__

    def call(self: Any, environ: Any, start_response: Any) -> Any:
        token = _serving.set(True)
        try:
            return original_call(self, environ, start_response)
        finally:
            _serving.reset(token)

    DomainDispatcherApplication.__call__ = call


def _checksum_trailer(spool: Spool, algorithm: str) -> bytes:
    """What moto would compute from the body when a checksum algorithm is named but no value
    is sent, in the trailer form its _get_checksum searches for."""
    stored = StoredValue()
    stored.path, stored.size = spool.path, spool.size
    summer = _Checksum(algorithm)
    for block in stored.chunks():
        summer.update(block)
    stored.path = None  # still the spool's file
    value = base64.b64encode(summer.digest()).decode()
    return f"x-amz-checksum-{algorithm.lower()}:{value}\r\n".encode()


def _patch_response() -> None:
    from moto.s3.responses import S3Response

    original_setup = S3Response.setup_class
    original_v4 = S3Response._handle_v4_chunk_signatures
    original_get = S3Response.get_object

    def setup_class(self: Any, request: Any, full_url: Any = None, headers: Any = None) -> None:
        streamed = _streamed_put_body(request)
        self._ghbackup_streamed = streamed is not None
        original_setup(self, request, full_url, headers)
        if streamed is not None:
            spool, trailer = streamed
            algorithm = request.headers.get("x-amz-sdk-checksum-algorithm", "")
            sent = request.headers.get(f"x-amz-checksum-{algorithm.lower()}")
            if algorithm and not sent and b"x-amz-checksum-" not in trailer:
                trailer = _checksum_trailer(spool, algorithm)
            self.body, self.raw_body = spool, trailer

    def handle_v4_chunk_signatures(self: Any, body: bytes, content_length: int) -> Any:
        if getattr(self, "_ghbackup_streamed", False):
            return b""  # the body was already decoded into a spool file
        return original_v4(self, body, content_length)

    def get_object(self: Any) -> Any:
        if not _served(self.request):
            return original_get(self)  # mock_aws in-process: its caller wants bytes
        token = _value_mode.set("stream")
        try:
            return original_get(self)
        finally:
            _value_mode.reset(token)

    S3Response.setup_class = setup_class
    S3Response._handle_v4_chunk_signatures = handle_v4_chunk_signatures
    S3Response.get_object = get_object


def _patch_models() -> None:
    from moto.s3.models import FakeKey, FakeMultipart, S3Backend

    FakeKey.value = property(_value_get, _value_set)

    def getstate(key: Any) -> dict[str, Any]:
        state = {k: v for k, v in key.__dict__.items() if k not in ("_value_buffer", "lock")}
        state["value"] = _stored(key).read_range(0, _stored(key).size)
        return state

    FakeKey.__getstate__ = getstate
    FakeMultipart.complete = _complete
    original_copy = S3Backend.copy_object

    def copy_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _value_mode.set("source")
        try:
            return original_copy(self, *args, **kwargs)
        finally:
            _value_mode.reset(token)

    def upload_part_copy(
        self: Any,
        dest_bucket_name: str,
        multipart_id: str,
        part_id: int,
        src_bucket_name: str,
        src_key_name: str,
        src_version_id: str | None,
        start_byte: int,
        end_byte: int,
    ) -> Any:
        multipart = self.get_bucket(dest_bucket_name).multiparts[multipart_id]
        source = _stored(self.get_object(src_bucket_name, src_key_name, version_id=src_version_id))
        if start_byte is None:
            chunks = source.chunks()
        else:
            end = min(end_byte, source.size - 1)
            chunks = source.chunks(start_byte, max(0, end - start_byte + 1))
        return multipart.set_part(part_id, _spool_chunks(chunks))

    S3Backend.copy_object = copy_object
    S3Backend.upload_part_copy = upload_part_copy


def apply() -> None:
    """Keep moto's S3 objects on disk and stream them (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        _patch_models()
        _patch_response()
        _patch_server()
        _applied = True
