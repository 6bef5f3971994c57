"""Benchmark: Finalize (server-side assembly) against a naive Finalize that streams bytes.

    .venv/bin/python bench/bench_finalize.py [--items 40] [--big-mb 2048] [--small-mb 2]
                                             [--s3 refcopy,moto] [--latency-ms 0]
                                             [--copy-mibps 0]

For each S3 server in --s3 it starts that server on 127.0.0.1 in its own process, stages N
per-item zips twice (totalling --big-mb and --small-mb, same entries per item), then
measures, each in a fresh child process so peak RSS belongs to that run alone:
  * assemble_run (ghbackup.finalize), configured as the Finalize Lambda is, on both sets;
  * a naive finalize that downloads every item zip and re-zips its entries into a streamed
    multipart upload, on both sets.
Printed per run: wall seconds, the process's CPU seconds, the S3 server's CPU seconds, the
seconds spent inside UploadPartCopy / CompleteMultipartUpload calls, bytes GetObject
returned to the process, and peak RSS (VmHWM). (No tracemalloc: it slows every allocation
several-fold, which would be charged to Finalize's time.)
Each run zip assemble_run wrote is then downloaded and every entry's CRC checked.

The S3 servers:
  * refcopy (bench/refcopy_s3.py): moto with UploadPartCopy and CompleteMultipartUpload
    keeping references instead of copying: Finalize's own time, S3's copy time excluded.
    --latency-ms adds a round trip to every request; --copy-mibps models S3's copy time.
  * moto: moto as it is, which copies the bytes (and checksums the whole object in Python)
    on this machine's cores: an upper bound that mostly measures moto.

Disk: moto spools objects over 5 MB to $TMPDIR; the big set costs up to 3x --big-mb there
(item zips, the run zip, the naive zip) until the server stops. Item zips are generated one
at a time into a temporary file (random 1 MiB blocks reused: incompressible, cheap).
Prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from ghbackup import extract, finalize  # noqa: E402
from ghbackup.finalize import COPY_WORKERS  # noqa: E402
from ghbackup.records import (  # noqa: E402
    BackupItem,
    ItemResult,
    item_result_key,
    item_zip_key,
    staging_prefix,
)

BUCKET = "bench"
MIB = 1024 * 1024
SERVERS = {
    "refcopy": "moto, server-side copies by reference (bench/refcopy_s3.py)",
    "moto": "moto as it is, copying bytes on this machine",
}


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=2 * COPY_WORKERS + 4),
    )


def items_for(count: int) -> list[BackupItem]:
    return [BackupItem(kind="repository", full_name=f"acme/repo-{n:03}") for n in range(count)]


def write_item_zip(path: Path, item: BackupItem, bundle_bytes: int, block: bytes) -> None:
    """repository.bundle (STORED, ``bundle_bytes``), a few JSON files, manifest.json."""
    root = item.archive_root
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(root + "repository.bundle", date_time=(2024, 5, 1, 0, 0, 0))
        with zf.open(info, "w", force_zip64=bundle_bytes > 1 << 31) as out:
            left = bundle_bytes
            while left:
                piece = block[: min(left, len(block))]
                out.write(piece)
                left -= len(piece)
        for n in range(1, 6):
            zf.writestr(
                root + f"issues/{n}.json",
                json.dumps({"number": n, "title": "x" * 200}, indent=4),
                compress_type=zipfile.ZIP_DEFLATED,
            )
        zf.writestr(root + "manifest.json", json.dumps({"format": "ghbackup/1"}, indent=4))


def stage_run(s3: Any, run_id: str, items: list[BackupItem], total_bytes: int) -> int:
    per_item = max(1, total_bytes // len(items))
    block = os.urandom(MIB)
    staged = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "item.zip"
        for item in items:
            write_item_zip(path, item, per_item, block)
            key = item_zip_key(staging_prefix(run_id), item)
            s3.upload_file(str(path), BUCKET, key)
            size = path.stat().st_size
            staged += size
            result = ItemResult(item=item, status="succeeded", run_id=run_id,
                                started_at="2024-05-01T00:00:00Z", finished_at="2024-05-01T00:00:01Z",
                                zip_key=key, zip_bytes=size)  # fmt: skip
            s3.put_object(Bucket=BUCKET, Key=item_result_key(staging_prefix(run_id), item),
                          Body=json.dumps(result.to_json()).encode())  # fmt: skip
    return staged


class _PartWriter:
    """An unseekable file that uploads what it is given as 8 MiB multipart parts."""

    def __init__(self, s3: Any, key: str) -> None:
        self.s3, self.key, self.buf, self.parts = s3, key, bytearray(), []
        self.upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self.buf += data
        while len(self.buf) >= 8 * MIB:
            self._send(bytes(self.buf[: 8 * MIB]))
            del self.buf[: 8 * MIB]
        return len(data)

    def flush(self) -> None:
        pass

    def _send(self, data: bytes) -> None:
        n = len(self.parts) + 1
        etag = self.s3.upload_part(Bucket=BUCKET, Key=self.key, UploadId=self.upload,
                                   PartNumber=n, Body=data)["ETag"]  # fmt: skip
        self.parts.append({"PartNumber": n, "ETag": etag})

    def close(self) -> None:
        self._send(bytes(self.buf))
        self.s3.complete_multipart_upload(Bucket=BUCKET, Key=self.key, UploadId=self.upload,
                                          MultipartUpload={"Parts": self.parts})  # fmt: skip


def naive_finalize(s3: Any, run_id: str, items: list[BackupItem]) -> int:
    """What Finalize would be without server-side assembly: every byte through the Lambda
    (downloaded to /tmp, entries re-zipped into a streamed upload)."""
    writer = _PartWriter(s3, f"naive/{run_id}.zip")
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(writer, "w") as out:  # type: ignore[arg-type]
        for item in items:
            body = s3.get_object(Bucket=BUCKET, Key=item_result_key(staging_prefix(run_id), item))
            result = json.loads(body["Body"].read())
            local = Path(tmp) / "item.zip"
            s3.download_file(BUCKET, result["zip_key"], str(local))
            with zipfile.ZipFile(local) as src:
                for info in src.infolist():
                    with src.open(info) as fin, out.open(info, "w", force_zip64=True) as fout:
                        shutil.copyfileobj(fin, fout, MIB)
            local.unlink()
    writer.close()
    return 0


def measure(mode: str, endpoint: str, run_id: str, count: int) -> dict[str, Any]:
    s3 = client(endpoint)
    got: list[int] = []
    s3.meta.events.register("after-call.s3.GetObject",
                            lambda parsed, **_: got.append(parsed.get("ContentLength", 0)))  # fmt: skip
    # Time spent inside the calls where S3 itself moves the bytes (UploadPartCopy and
    # CompleteMultipartUpload): on AWS that work happens in S3; here moto does it on the
    # same two cores. Their union is reported apart from the rest of Finalize's time.
    spans: list[tuple[float, float]] = []
    for op in ("UploadPartCopy", "CompleteMultipartUpload"):
        s3.meta.events.register(f"before-call.s3.{op}", _start_span)
        s3.meta.events.register(f"after-call.s3.{op}", lambda context, **_: spans.append(
            (context["bench_started"], time.perf_counter())))  # fmt: skip
    items = items_for(count)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if mode == "assemble":
        finalize.assemble_run(s3, bucket=BUCKET, run_id=run_id, items=items,
                                storage_class="STANDARD", delete_staging_after=False,
                                copy_workers=COPY_WORKERS)  # fmt: skip
    else:
        naive_finalize(s3, run_id, items)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "get_bytes": sum(got), "gets": len(got),
            "s3_copy_s": _union(spans),
            "maxrss": peak_rss()}  # fmt: skip


def peak_rss() -> int:
    """This process's peak resident set in bytes: VmHWM, which starts afresh at exec (unlike
    ru_maxrss, which carries over the parent's high-water mark from the fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _start_span(context: dict[str, Any], **_: Any) -> None:
    context["bench_started"] = time.perf_counter()


def _union(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the (possibly overlapping) spans."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def verify_run_zip(s3: Any, run_id: str, items: int) -> str:
    """Download the run zip assemble_run wrote and test every entry's CRC."""
    manifest = extract.read_run_manifest(s3, BUCKET, run_id)
    assert manifest.archive is not None and manifest.counts["succeeded"] == items, manifest.counts
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.zip"
        # One GET without a Range: moto answers every ranged GET by reading the whole object.
        body = s3.get_object(Bucket=BUCKET, Key=manifest.archive["key"])["Body"]
        with path.open("wb") as out:
            for chunk in body.iter_chunks(MIB):
                out.write(chunk)
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            entries = len(zf.infolist())
        assert bad is None, f"{run_id}: entry {bad} fails its CRC"
        assert entries == manifest.archive["entries"], (entries, manifest.archive["entries"])
        return f"{path.stat().st_size / MIB:.1f} MiB, {entries} entries, every CRC good"


def start_server(kind: str, port: int, args: argparse.Namespace, env: dict[str, str]) -> Any:
    if kind == "moto":
        command = [sys.executable, "-m", "moto.server"]
    else:
        command = [sys.executable, "-m", "bench.refcopy_s3", "--latency-ms", str(args.latency_ms),
                   "--copy-mibps", str(args.copy_mibps)]  # fmt: skip
    return subprocess.Popen(command + ["-H", "127.0.0.1", "-p", str(port)], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def bench_against(kind: str, args: argparse.Namespace) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    model = []
    if kind == "refcopy" and args.latency_ms:
        model.append(f"{args.latency_ms:g} ms per request")
    if kind == "refcopy" and args.copy_mibps:
        model.append(f"copies at {args.copy_mibps:g} MiB/s each")
    print(f"--- S3: {SERVERS[kind]}" + "".join(f", {m}" for m in model))
    server = start_server(kind, port, args, env)
    try:
        s3 = client(endpoint)
        for _ in range(100):
            try:
                s3.create_bucket(Bucket=BUCKET)
                break
            except Exception:  # noqa: BLE001 - the server is still starting
                time.sleep(0.1)
        sets = {"small": args.small_mb * MIB, "big": args.big_mb * MIB}
        staged = {}
        for name, total in sets.items():
            t0 = time.perf_counter()
            staged[name] = stage_run(s3, f"bench-{name}", items_for(args.items), int(total))
            print(f"staged {name}: {args.items} item zips, {staged[name] / MIB:.1f} MiB "
                  f"in {time.perf_counter() - t0:.1f}s", flush=True)  # fmt: skip
        rows = []
        for mode in ("assemble", "naive"):
            for name in ("small", "big"):
                if mode == "naive" and name == "big" and args.skip_naive_big:
                    continue
                cpu0 = server_cpu(server.pid)
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", mode, "--endpoint", endpoint,
                     "--run", f"bench-{name}", "--items", str(args.items)],
                    check=True, capture_output=True, text=True, env=env,
                )  # fmt: skip
                row = json.loads(out.stdout.strip().splitlines()[-1])
                row.update(mode=mode, set=name, staged=staged[name],
                           server_cpu_s=server_cpu(server.pid) - cpu0)  # fmt: skip
                rows.append(row)
                print(f"{mode:9} {name:5} input {row['staged'] / MIB:9.1f} MiB | wall "
                      f"{row['wall_s']:7.2f}s (in S3-side copy calls {row['s3_copy_s']:6.2f}s)"
                      f" | cpu {row['cpu_s']:6.2f}s | S3-server cpu "
                      f"{row['server_cpu_s']:6.2f}s | read {row['get_bytes'] / MIB:9.2f} MiB in "
                      f"{row['gets']:4} GETs "
                      f"| maxrss {row['maxrss'] / MIB:7.1f} MiB", flush=True)  # fmt: skip
                if mode == "assemble" and args.verify:
                    print(f"          run zip: {verify_run_zip(s3, f'bench-{name}', args.items)}",
                          flush=True)  # fmt: skip
        by = {(r["mode"], r["set"]): r for r in rows}
        a_small, a_big = by[("assemble", "small")], by[("assemble", "big")]
        print(
            f"assemble_run big/small against {kind}: wall x{a_big['wall_s'] / a_small['wall_s']:.2f}"
            f" ({a_big['wall_s']:.2f}s vs {a_small['wall_s']:.2f}s), "
            f"process cpu x{a_big['cpu_s'] / a_small['cpu_s']:.2f}, "
            f"peak rss {max(a_big['maxrss'], a_small['maxrss']) / MIB:.0f} MiB "
            f"(targets: time within 2x, peak memory < 256 MiB)",
            flush=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--big-mb", type=int, default=2048)
    parser.add_argument("--small-mb", type=float, default=2)
    parser.add_argument("--s3", default="refcopy,moto",
                        help="comma-separated S3 servers to measure against: " + "; ".join(
                            f"{k}: {v}" for k, v in SERVERS.items()))  # fmt: skip
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="refcopy only: milliseconds added to every S3 response")  # fmt: skip
    parser.add_argument("--copy-mibps", type=float, default=0.0,
                        help="refcopy only: model S3's copy time, MiB/s per UploadPartCopy")  # fmt: skip
    parser.add_argument("--skip-naive-big", action="store_true")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="do not download and CRC-check the run zips")  # fmt: skip
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.endpoint, args.run, args.items)))
        return
    kinds = [k.strip() for k in args.s3.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in SERVERS]
    if unknown or not kinds:
        parser.error(f"--s3 takes {', '.join(SERVERS)}; got {args.s3!r}")
    for kind in kinds:
        bench_against(kind, args)


if __name__ == "__main__":
    main()
