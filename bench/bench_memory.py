"""Memory benchmark: the peak resident memory of a whole ``run --local`` (issue 23, item 3).

Two shapes, each one ``run_local`` into an empty output folder:
- ``large``: three repositories of about 300 MB of git data each (incompressible blobs on a
  branch of their own, so the zips, the copies and the run zip are all that large);
- ``small``: an organisation of 1,000 generated repositories (the stand-in's usual mix).

The figure is the peak, over the run, of the summed resident memory (VmRSS; and, beside it,
the summed PSS, which counts shared library pages once) of this process
(the local runner, moto's server and the in-process Lambda handlers) and every process it
starts (the ECS task processes and their git), sampled every 0.1 s from /proc. The stand-in
runs in a process of its own (bench/standin_process.py) and is not counted: GitHub's memory is
not the run's. Target: under 600 MB for both shapes. Linux only (it reads /proc).

    .venv/bin/python -m bench.bench_memory [--shape large|small|both] [--repositories 1000]
        [--megabytes 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.standin_process import StandInProcess  # noqa: E402
from tests.standin import AccountSpec  # noqa: E402
from workflow.local_runner import run_local  # noqa: E402

TARGET_MB = 600
SAMPLE_SECONDS = 0.1
BLOB_MB = 25


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the parent follows it.
        parent = int(stat.rsplit(b")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (libpython, the git binaries) divided among the
    processes that share them, so a sum over processes counts them once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """Samples the summed RSS of this process and its descendants, leaving out the subtree
    of ``excluded`` (the stand-in), until stopped; ``peak_mb`` and ``peak_processes``."""

    def __init__(self, excluded: int | None) -> None:
        self.excluded = excluded
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self.peak_self_kb = 0
        self.peak_processes = 0
        self.series: list[tuple[float, int, int, int]] = []  # (s, runner MB, total MB, processes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _sample(self) -> None:
        me = os.getpid()
        started = time.monotonic()
        while not self._stop.is_set():
            tree = _children()
            pids, todo = [], [me]
            while todo:
                pid = todo.pop()
                if pid == self.excluded:
                    continue
                pids.append(pid)
                todo.extend(tree.get(pid, []))
            total = sum(_rss_kb(pid) for pid in pids)
            self.peak_kb = max(self.peak_kb, total)
            self.peak_pss_kb = max(self.peak_pss_kb, sum(_pss_kb(pid) for pid in pids))
            self.peak_self_kb = max(self.peak_self_kb, _rss_kb(me))
            self.peak_processes = max(self.peak_processes, len(pids))
            mine = _rss_kb(me)
            self.series.append((time.monotonic() - started, mine // 1024, total // 1024, len(pids)))
            self._stop.wait(SAMPLE_SECONDS)

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kb / 1024, 1)


def _grow(bare: Path, megabytes: int, seed: int) -> None:
    """Add a branch ``bulk`` of ``megabytes`` of incompressible blobs to a bare repository."""
    stream = bytearray()
    stream += b"commit refs/heads/bulk\ncommitter Bench <bench@example.com> 1700000000 +0000\n"
    stream += b"data 10\nBulk data\n"
    process = subprocess.Popen(
        [
            "git",
            "-c",
            "pack.compression=0",
            "-c",
            "fastimport.unpackLimit=1",
            "fast-import",
            "--quiet",
        ],
        cwd=bare,
        stdin=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(bytes(stream))
    for index in range(max(1, megabytes // BLOB_MB)):
        blob = os.urandom(BLOB_MB * 1024 * 1024)
        header = f"M 100644 inline data/bulk-{seed}-{index}.bin\ndata {len(blob)}\n"
        process.stdin.write(header.encode() + blob + b"\n")
    process.stdin.close()
    if process.wait(timeout=600) != 0:
        raise RuntimeError(f"git fast-import failed in {bare}")


def _run(gh, out: Path) -> dict:
    with PeakMemory(excluded=gh.pid) as peak:
        start = time.monotonic()
        outcome = run_local({"orgs": [gh.owner]}, out_dir=out, github_api_url=gh.api_url,
                            run_id="run-memory")  # fmt: skip
        wall = time.monotonic() - start
    if os.environ.get("BENCH_MEMORY_SERIES"):
        # Where the peak falls (capture, Finalize, export): one line every 5 s.
        step = max(1, len(peak.series) // max(1, int(wall / 5)))
        for at, mine, total, count in peak.series[::step]:
            print(f"  {at:6.1f} s runner {mine} MB, all {total} MB, {count} processes", flush=True)
    zips = sorted((out / "run-memory").glob("*.zip"))
    return {
        "status": outcome.status,
        "wall_s": round(wall, 1),
        "peak_rss_mb": peak.peak_mb,
        "peak_pss_mb": round(peak.peak_pss_kb / 1024, 1),
        "peak_rss_runner_process_mb": round(peak.peak_self_kb / 1024, 1),
        "most_processes_at_once": peak.peak_processes,
        "tasks": len(outcome.iterations),
        "run_zip_mb": round(sum(z.stat().st_size for z in zips) / 2**20, 1),
    }


def _shape(root: Path, name: str, args: argparse.Namespace) -> dict:
    if name == "large":
        # full, lfs, empty, disabled: the three that have a default branch get the data.
        spec = AccountSpec(repositories=4, seed=3, gists=0)
    else:
        spec = AccountSpec(repositories=args.repositories, seed=1)
    with StandInProcess(root / name / "standin", spec, rate_limit=1_000_000) as gh:
        os.environ["GITHUB_TOKEN"] = gh.token
        if name == "large":
            grown = [n for n in gh.repository_names() if not n.endswith("-002")]
            for seed, full_name in enumerate(grown):
                _grow(Path(gh.bare_repo_path(full_name)), args.megabytes, seed)
        row = _run(gh, root / name / "out")
    row["shape"] = (
        f"{len(grown)} repositories of {args.megabytes} MB"
        if name == "large"
        else f"{args.repositories} repositories"
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("large", "small", "both"), default="both")
    parser.add_argument("--repositories", type=int, default=1000)
    parser.add_argument("--megabytes", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, shared with other work while this ran", flush=True)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    ok = True
    for name in ("large", "small") if args.shape == "both" else (args.shape,):
        root = Path(tempfile.mkdtemp(prefix=f"ghbackup-bench-memory-{name}-"))
        try:
            row = _shape(root, name, args)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        met = row["peak_rss_mb"] < TARGET_MB and row["status"] == "SUCCEEDED"
        row["target"] = f"peak < {TARGET_MB} MB: {'met' if met else 'NOT met'}"
        print(json.dumps(row), flush=True)
        ok = ok and met
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
