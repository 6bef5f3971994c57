"""``make bench``: every benchmark in turn, each printing its own figures."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    ["-m", "bench.bench_engine"],
    ["-m", "bench.bench_batches"],
    ["bench/bench_finalize.py"],
    ["-m", "bench.bench_aws_model"],
    ["-m", "bench.bench_incremental"],
    ["-m", "bench.bench_memory"],
    ["-m", "bench.bench_census"],
)


def main() -> int:
    worst = 0
    for args in BENCHMARKS:
        print(f"== {' '.join(args)}", flush=True)
        worst = max(
            worst, subprocess.run([sys.executable, *args], check=False, timeout=7200).returncode
        )
    return worst


if __name__ == "__main__":
    sys.exit(main())
