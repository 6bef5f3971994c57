"""Engine benchmark: ghbackup against python-github-backup on the same stand-in account.

Figures, not pass/fail. For a generated 200-repository account served by the stand-in
(HTTPS and /api/v3, so python-github-backup can use it as GitHub Enterprise):
- wall time, GitHub API requests, peak memory (largest process) and bytes stored, for both
  tools, one item at a time and 8 at a time;
- peak memory of one capture while a 1 GB release asset streams through.

    .venv/bin/python -m bench.bench_engine [--repositories 200] [--asset-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.standin import AccountSpec, GitHubStandIn  # noqa: E402

PGB_CAPTURE_FLAGS = [
    "--issues", "--issue-comments", "--issue-events",
    "--pulls", "--pull-comments", "--pull-reviews", "--pull-commits",
    "--labels", "--hooks", "--milestones", "--releases", "--assets",
    "--repositories", "--bare", "--lfs", "--wikis", "--private", "--fork",
]  # fmt: skip


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def peak_rss_mb_of(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[int, float, str]:
    """Run ``cmd`` inside a fresh measuring process; returns (exit code, peak MB of the
    largest descendant, stderr tail)."""
    probe = (
        "import resource, subprocess, sys, json;"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,"
        " p.stderr[-400:]]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    code, peak, err = json.loads(out.stdout.strip().splitlines()[-1])
    return code, peak, err


def _measure(gh, names: list[str], out: Path, workers: int, one) -> dict:
    """Run ``one(name) -> (exit code, peak MB, failure line)`` for every repository,
    ``workers`` at a time, from a fresh request log and a fresh rate-limit budget."""
    peaks: list[float] = []
    failures: list[str] = []

    def measured(name: str) -> None:
        code, peak, failure = one(name)
        peaks.append(peak)
        if code:
            failures.append(f"{name}: {failure}")

    gh.reset_request_log()
    gh.reset_rate_limits()  # each tool starts with GitHub's full 5,000 requests an hour
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(measured, names))
    wall = time.monotonic() - start
    return {
        "wall_s": round(wall, 1),
        "requests": len(gh.request_log),
        "peak_mb": round(max(peaks), 1),
        "stored_mb": round(tree_bytes(out) / 1e6, 1),
        "failures": failures,
    }


def _ghbackup_env(gh, out: Path) -> dict[str, str]:
    """What ECS would pass the container, pointed at the stand-in (and its CA over TLS)."""
    ca = gh.ca_bundle_path or ""
    return {
        **os.environ,
        "GITHUB_TOKEN": gh.token,
        "GITHUB_API_URL": gh.api_url,
        "RUN_ID": "bench",
        "BACKUP_OUTPUT_DIR": str(out),
        "REQUESTS_CA_BUNDLE": ca,
        "SSL_CERT_FILE": ca,
        "GIT_SSL_CAINFO": ca,
        "LOG_LEVEL": "WARNING",
    }


def run_ghbackup(gh, names: list[str], out: Path, workers: int) -> dict:
    env = _ghbackup_env(gh, out)

    def one(name: str) -> tuple[int, float, str]:
        item_env = {**env, "BACKUP_ITEM": json.dumps({"kind": "repository", "full_name": name})}
        code, peak, err = peak_rss_mb_of([sys.executable, "-m", "container.entrypoint"], item_env)
        return code, peak, str(err.strip().splitlines()[-1:])

    return _measure(gh, names, out, workers, one)


def run_python_github_backup(gh, names: list[str], out: Path, workers: int) -> dict:
    """python-github-backup has no concurrency of its own and one error aborts its whole
    run (a 410 on a repository with issues disabled, for one), so it runs once per
    repository with -R: one process at a time, or 8 processes at a time."""
    exe = shutil.which("github-backup", path=str(Path(sys.executable).parent)) or "github-backup"
    host = gh.api_url.split("://", 1)[1].split("/", 1)[0]
    token_file = Path(tempfile.mkdtemp()) / "token"  # the stand-in's throwaway token only
    token_file.write_text(gh.token)
    ca = gh.ca_bundle_path or ""
    env = {**os.environ, "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca, "GIT_SSL_CAINFO": ca}
    owner = names[0].split("/")[0]
    base = [exe, owner, "-O", "-H", host, "-t", f"file://{token_file}", "-q", *PGB_CAPTURE_FLAGS]

    def one(name: str) -> tuple[int, float, str]:
        code, peak, err = peak_rss_mb_of([*base, "-R", name.split("/")[1], "-o", str(out)], env)
        return code, peak, err.strip().splitlines()[-1][:160] if err.strip() else str(code)

    try:
        return _measure(gh, names, out, workers, one)
    finally:
        shutil.rmtree(token_file.parent, ignore_errors=True)


def bench_large_asset(root: Path, asset_mb: int) -> dict:
    spec = AccountSpec(
        owner="bigco", owner_type="Organization", repositories=1, seed=3, gists=0, lfs=False
    )
    with GitHubStandIn(root=root / "big", account=spec, tls=False) as gh:
        name = gh.repository_names()[0]
        gh.add_large_asset(name, size=asset_mb * 1024 * 1024)
        out = root / "big-out"
        env = {
            **_ghbackup_env(gh, out),
            "GHBACKUP_SCRATCH_DIR": str(root),
            "BACKUP_ITEM": json.dumps({"kind": "repository", "full_name": name}),
        }
        start = time.monotonic()
        code, peak, err = peak_rss_mb_of([sys.executable, "-m", "container.entrypoint"], env)
        wall = time.monotonic() - start
        return {
            "asset_mb": asset_mb,
            "exit": code,
            "wall_s": round(wall, 1),
            "peak_mb": round(peak, 1),
            "stored_mb": round(tree_bytes(out) / 1e6, 1),
            "error": err.strip()[-200:] if code else "",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--asset-mb", type=int, default=1024)
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ghbackup-bench-"))
    rows = []
    try:
        if not args.skip_compare:
            spec = AccountSpec(
                owner="acme",
                owner_type="Organization",
                repositories=args.repositories,
                seed=11,
                gists=0,
                lfs=True,
            )
            with GitHubStandIn(root=root / "standin", account=spec, tls=True) as gh:
                names = gh.repository_names()
                for workers in (1, 8):
                    for tool, fn in (
                        ("ghbackup", run_ghbackup),
                        ("python-github-backup", run_python_github_backup),
                    ):
                        out = root / f"{tool}-{workers}"
                        figures = fn(gh, names, out, workers)
                        figures.update(tool=tool, workers=workers, repositories=len(names))
                        rows.append(figures)
                        print(
                            json.dumps(
                                {
                                    **figures,
                                    "failed": len(figures["failures"]),
                                    "failures": figures["failures"][:3],
                                }
                            ),  # the first 3
                            flush=True,
                        )
                        shutil.rmtree(out, ignore_errors=True)
            print()
            print(
                f"{'tool':<22}{'workers':>8}{'wall s':>9}{'requests':>10}{'req/repo':>10}{'peak MB':>9}{'stored MB':>11}{'failed':>8}"
            )
            for r in rows:
                print(
                    f"{r['tool']:<22}{r['workers']:>8}{r['wall_s']:>9}{r['requests']:>10}{r['requests'] / r['repositories']:>10.1f}{r['peak_mb']:>9}{r['stored_mb']:>11}{len(r['failures']):>8}"
                )
        big = bench_large_asset(root, args.asset_mb)
        print()
        print(f"large release asset: {json.dumps(big)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        print(
            f"resource usage of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
