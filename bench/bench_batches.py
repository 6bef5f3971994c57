"""Batches benchmark: ``ghbackup run --local`` against python-github-backup, whole account.

Figures, not pass/fail. On a generated 200-repository organisation served by the stand-in
(HTTPS and /api/v3, so python-github-backup runs as a GitHub Enterprise client):
- ``ghbackup run --local`` with its defaults (the real state machine on moto, batches of up
  to 25 items, up to 10 batch tasks at a time as the Terraform module's default, 4 items
  at a time in each);
- the same with the execution input's ``verify_items`` false, right after it: what verifying
  each item zip as it is written costs (ratios within this run, per repository);
- python-github-backup in one process with every metadata flag;
- raw ``git clone --mirror``, 8 at a time: the floor;
each with wall time, CPU-seconds (this process's children: user + system) per repository and
GitHub API requests per repository. Every repository has issues enabled (an empty list
where the generator disabled them): python-github-backup aborts its whole run at the first
HTTP 410 GitHub gives for disabled issues. Then the same on a content-free account (no issues,
pulls, labels, milestones, releases), where git and process overheads show. Last, the peak
memory of one batch task capturing 4 items at a time while one streams a 1 GiB release asset.

    .venv/bin/python -m bench.bench_batches [--repositories 200] [--asset-mb 1024]
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
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_engine import PGB_CAPTURE_FLAGS, peak_rss_mb_of, tree_bytes  # noqa: E402
from ghbackup.archive import manifests_in  # noqa: E402
from ghbackup.credentials import Credentials  # noqa: E402
from ghbackup.git_credential import GitCredential, git_credential_access  # noqa: E402
from ghbackup.restore import verify_archive  # noqa: E402
from tests.standin import AccountSpec, GitHubStandIn  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measured(gh, label: str, repositories: int, run) -> dict:
    """Run ``run() -> (ok, note[, extra fields])`` from a fresh request log and rate-limit
    budget."""
    gh.reset_request_log()
    gh.reset_rate_limits()
    cpu, start = _children_cpu(), time.monotonic()
    ok, note, *extra = run()
    wall, cpu = time.monotonic() - start, _children_cpu() - cpu
    return {
        **(extra[0] if extra else {}),
        "tool": label,
        "repositories": repositories,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cpu_per_repo_s": round(cpu / repositories, 3),
        "requests": len(gh.request_log),
        "requests_per_repo": round(len(gh.request_log) / repositories, 1),
        "ok": ok,
        "note": note,
    }


def _tls_env(gh) -> dict[str, str]:
    ca = str(gh.ca_bundle_path or "")
    return {**os.environ, "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca, "GIT_SSL_CAINFO": ca}


def run_ghbackup_local(gh, out: Path, *, verify: bool = True) -> tuple[bool, str, dict]:
    env = {**_tls_env(gh), "GITHUB_TOKEN": gh.token, "LOG_LEVEL": "WARNING"}
    selection = ["--org", gh.owner]
    if not verify:
        out.mkdir(parents=True)
        (out / "input.json").write_text(json.dumps({"orgs": [gh.owner], "verify_items": False}))
        selection = ["--input", str(out / "input.json")]
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "run", "--local", *selection]
        + ["--out", str(out), "--api-url", gh.api_url, "--run-id", "bench"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    summary = {}
    if "{" in proc.stdout:
        try:
            summary = json.loads(proc.stdout[proc.stdout.index("{") : proc.stdout.rindex("}") + 1])
        except ValueError:
            pass
    counts = summary.get("counts", {})
    note = f"exit {proc.returncode}, status {summary.get('status')}, counts {counts}"
    if proc.returncode not in (0, 3):
        note += f", stderr: {proc.stderr.strip()[-300:]}"
    return proc.returncode == 0, note, _verification(out / "bench" / "manifest.json")


def _verification(manifest_path: Path) -> dict:
    """Items verified at write, and the seconds the tasks spent verifying (each item's
    ``verify_seconds``, summed: wall time inside the tasks, items overlapping)."""
    try:
        items = json.loads(manifest_path.read_text())["items"]
    except (OSError, ValueError, KeyError):
        return {}
    seconds = [i["verify_seconds"] for i in items if i.get("verify_seconds") is not None]
    return {
        "verified": sum(1 for i in items if i.get("verified")),
        "verify_s_sum": round(sum(seconds), 1),
        "verify_s_mean": round(sum(seconds) / len(seconds), 3) if seconds else 0.0,
    }


def verify_cost(run_zip: Path, work: Path) -> dict:
    """Verify at write on its own: the run zip split back into its item zips, then one
    process verifying them one after another as a task does (``verify_archive``, git
    included). Its CPU (with its git children) and wall per item: the cost without the
    noise of the 40 captures running beside it in a run."""
    folder = work / "item-zips"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(run_zip) as src:
        roots = [m.root for m in manifests_in(src)]
        entries = src.infolist()
        for n, root in enumerate(roots):
            with zipfile.ZipFile(folder / f"{n:05}.zip", "w") as dst:
                for info in entries:
                    if info.filename.startswith(root):
                        dst.writestr(info, src.read(info))
    cpu, start = _children_cpu(), time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "bench.bench_batches", "--verify-zips", str(folder)],
        cwd=ROOT,
        check=True,
        timeout=3600,
    )
    wall, cpu = time.monotonic() - start, _children_cpu() - cpu
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "verify_alone_items": len(roots),
        "verify_alone_cpu_per_item_s": round(cpu / max(len(roots), 1), 3),
        "verify_alone_wall_per_item_s": round(wall / max(len(roots), 1), 3),
    }


def _verify_zips(folder: Path) -> None:
    for path in sorted(folder.glob("*.zip")):
        verify_archive(path)


def run_python_github_backup(gh, out: Path) -> tuple[bool, str]:
    exe = shutil.which("github-backup", path=str(Path(sys.executable).parent)) or "github-backup"
    host = gh.api_url.split("://", 1)[1].split("/", 1)[0]
    token_dir = Path(tempfile.mkdtemp())
    token_file = token_dir / "token"  # the stand-in's throwaway token only
    token_file.write_text(gh.token)
    try:
        proc = subprocess.run(
            [exe, gh.owner, "-O", "-H", host, "-t", f"file://{token_file}", "-q"]
            + [*PGB_CAPTURE_FLAGS, "-o", str(out)],
            env=_tls_env(gh),
            capture_output=True,
            text=True,
            timeout=3600,
        )
    finally:
        shutil.rmtree(token_dir, ignore_errors=True)
    repos = out / "repositories"
    done = len(list(repos.iterdir())) if repos.is_dir() else 0
    tail = proc.stderr.strip().splitlines()[-1][:200] if proc.stderr.strip() else ""
    return proc.returncode == 0, f"exit {proc.returncode}, {done} repository folders; {tail}"


def run_raw_clones(gh, out: Path, names: list[str]) -> tuple[bool, str]:
    credentials = Credentials.from_mapping({"GITHUB_TOKEN": gh.token})
    env = _tls_env(gh)

    def clone(name: str) -> int:
        url = f"{gh.web_url}/{name}.git"
        with git_credential_access(GitCredential(credentials, url)) as (helper, fd):
            return subprocess.run(
                ["git", "clone", "--mirror", "-q", url, str(out / f"{name}.git")],
                env={**env, **helper, "GIT_TERMINAL_PROMPT": "0"},
                capture_output=True,
                timeout=600,
                pass_fds=(fd,),
            ).returncode

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(clone, names))
    failed = sum(1 for code in codes if code)
    return failed == 0, f"{failed} clones failed"


def _strip_content(gh) -> None:
    """Empty every list a repository has beyond git: issues, pulls, labels, milestones,
    releases, topics."""
    for repo in gh.account.repos:
        for name in ("issues", "labels", "milestones", "releases", "topics"):
            getattr(repo, name).clear()
    gh.account.index()


def compare(root: Path, repositories: int, content: bool) -> list[dict]:
    spec = AccountSpec(
        owner="acme",
        owner_type="Organization",
        repositories=repositories,
        seed=11,
        gists=0,
        lfs=content,
        wikis=content,
        releases=content,
    )
    label = "with content" if content else "content-free"
    rows = []
    with GitHubStandIn(root=root / f"standin-{label}", account=spec, tls=True) as gh:
        # python-github-backup 0.65 aborts its whole run at the first HTTP 410 (issues
        # disabled): with them enabled everywhere, one process can back up the account.
        for repo in gh.account.repos:
            repo.has_issues = True
        if not content:
            _strip_content(gh)
        names = gh.repository_names()
        for tool, run in (
            ("ghbackup run --local", run_ghbackup_local),
            ("ghbackup, verify off", lambda gh, out: run_ghbackup_local(gh, out, verify=False)),
            ("python-github-backup", run_python_github_backup),
            ("git clone --mirror x8", lambda gh, out: run_raw_clones(gh, out, names)),
        ):
            out = root / f"out-{label}-{tool.replace(' ', '_').replace(',', '')}"
            row = _measured(gh, tool, len(names), lambda run=run, out=out: run(gh, out))
            row["account"] = label
            row["stored_mb"] = round(tree_bytes(out) / 1e6, 1) if out.exists() else 0
            run_zip = out / "bench" / "ghbackup-bench.zip"
            if tool == "ghbackup run --local" and run_zip.exists():
                row.update(verify_cost(run_zip, root))
            rows.append(row)
            print(json.dumps(row), flush=True)
            shutil.rmtree(out, ignore_errors=True)
    return rows


def batch_memory(root: Path, asset_mb: int) -> dict:
    """One batch task (BACKUP_BATCH, 4 items at a time) while one item streams a large
    release asset: the task's peak resident memory."""
    spec = AccountSpec(
        owner="bigco", owner_type="Organization", repositories=4, seed=3, gists=0, lfs=False
    )
    with GitHubStandIn(root=root / "big", account=spec, tls=False) as gh:
        names = gh.repository_names()
        gh.add_large_asset(names[0], size=asset_mb * 1024 * 1024)
        out = root / "big-out"
        out.mkdir()
        (out / "items.json").write_text(
            json.dumps([{"kind": "repository", "full_name": n} for n in names])
        )
        env = {
            **os.environ,
            "GITHUB_TOKEN": gh.token,
            "GITHUB_API_URL": gh.api_url,
            "RUN_ID": "bench",
            "BACKUP_OUTPUT_DIR": str(out),
            "BACKUP_BATCH": json.dumps({"batch": 0, "first": 0, "count": len(names)}),
            "GHBACKUP_CONCURRENCY": "4",
            "GHBACKUP_SCRATCH_DIR": str(root),
            "LOG_LEVEL": "WARNING",
        }
        start = time.monotonic()
        code, peak, err = peak_rss_mb_of([sys.executable, "-m", "container.entrypoint"], env)
        return {
            "items": len(names),
            "asset_mb": asset_mb,
            "exit": code,
            "wall_s": round(time.monotonic() - start, 1),
            "peak_mb": round(peak, 1),
            "target_mb": 300,
            "stored_mb": round(tree_bytes(out) / 1e6, 1),
            "error": err.strip()[-200:] if code else "",
        }


def _table(rows: list[dict]) -> None:
    print(
        f"{'account':<14}{'tool':<24}{'wall s':>8}{'CPU s':>8}{'CPU s/repo':>11}"
        f"{'req/repo':>10}{'stored MB':>11}  note"
    )
    for r in rows:
        print(
            f"{r['account']:<14}{r['tool']:<24}{r['wall_s']:>8}{r['cpu_s']:>8}"
            f"{r['cpu_per_repo_s']:>11}{r['requests_per_repo']:>10}{r['stored_mb']:>11}  {r['note']}"
        )
    for account in dict.fromkeys(r["account"] for r in rows):
        by_tool = {r["tool"]: r for r in rows if r["account"] == account}
        ours, theirs = by_tool["ghbackup run --local"], by_tool["python-github-backup"]
        off = by_tool["ghbackup, verify off"]
        repos = ours["repositories"]
        print(
            f"{account}: verify at write, on / off: wall {ours['wall_s'] / off['wall_s']:.2f}x "
            f"({(ours['wall_s'] - off['wall_s']) / repos * 1000:+.0f} ms per repository), "
            f"CPU {ours['cpu_s'] / max(off['cpu_s'], 1e-9):.2f}x "
            f"({(ours['cpu_s'] - off['cpu_s']) / repos * 1000:+.0f} ms per repository); "
            f"{ours.get('verified', 0)} items verified, "
            f"{ours.get('verify_s_mean', 0) * 1000:.0f} ms each inside the tasks"
        )
        if "verify_alone_cpu_per_item_s" in ours:
            alone = ours["verify_alone_cpu_per_item_s"]
            print(
                f"{account}: verify at write alone, one item after another: "
                f"{alone * 1000:.0f} ms CPU and "
                f"{ours['verify_alone_wall_per_item_s'] * 1000:.0f} ms wall per repository, "
                f"{alone / max(off['cpu_per_repo_s'], 1e-9):.2f}x of the run's CPU per "
                "repository without it"
            )
        print(
            f"{account}: ghbackup / python-github-backup: wall {ours['wall_s'] / theirs['wall_s']:.2f}x "
            f"(target <= 0.5x), CPU per repository "
            f"{ours['cpu_per_repo_s'] / max(theirs['cpu_per_repo_s'], 1e-9):.2f}x (target <= 1x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--asset-mb", type=int, default=1024)
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--verify-zips", type=Path, help=argparse.SUPPRESS)  # verify_cost's child
    args = parser.parse_args()
    if args.verify_zips:
        _verify_zips(args.verify_zips)
        return
    root = Path(tempfile.mkdtemp(prefix="ghbackup-bench-batches-"))
    print(f"machine: {os.cpu_count()} cores, shared with other work while this ran", flush=True)
    try:
        if not args.skip_compare:
            rows = compare(root, args.repositories, content=True)
            rows += compare(root, args.repositories, content=False)
            print()
            _table(rows)
        print()
        print(f"one batch task, 4 items at a time: {json.dumps(batch_memory(root, args.asset_mb))}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
