"""Incremental benchmark: a second ``run --local`` over an unchanged account against the first.

Figures, printed (the issue's targets beside them): on a generated organisation served by the
stand-in (default 200 repositories), ``run_local`` twice with the same output folder:
- API requests that count against the rate limit (every answer but a 304), second run
  against the first (target <= 10%);
- tasks started (batch containers; target: none for unchanged items) and git clones;
- wall time (target <= 25%);
- every repository restored from the second run's zip alone, refs equal to the source;
- then a third run after one new comment on an old issue in 20 repositories: what their
  captures cost, asking their last capture's pages with ETags, against their first capture.

The first run probes every item once without validators (about a dozen requests per
repository on top of its capture), so a 200-repository first run needs more than a
personal token's 5,000 requests an hour: the stand-in is given ``--rate-limit`` (default
15,000, an Enterprise Cloud App installation's budget) so the figures measure work, not an
hour's wait. The stand-in runs in a process of its own (bench/standin_process.py), as GitHub
does not share the machine: its answering is not charged to either run's wall time.

    .venv/bin/python -m bench.bench_incremental [--repositories 200] [--rate-limit 15000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.standin_process import StandInProcess  # noqa: E402
from ghbackup.restore import restore_archive  # noqa: E402
from tests.roundtrip import refs_of, restored_mirror  # noqa: E402
from tests.standin import AccountSpec  # noqa: E402
from workflow.local_runner import run_local  # noqa: E402


def _one_run(gh, out: Path, run_id: str) -> dict:
    gh.reset_request_log()
    gh.reset_rate_limits()
    start = time.monotonic()
    outcome = run_local({"orgs": [gh.owner]}, out_dir=out, github_api_url=gh.api_url, run_id=run_id)
    wall = time.monotonic() - start
    log, git_log = gh.request_log, gh.git_log
    manifest = json.loads((out / run_id / "manifest.json").read_text())
    modes: dict[str, int] = {}
    for line in manifest["items"]:
        modes[line.get("capture") or "none"] = modes.get(line.get("capture") or "none", 0) + 1
    per_item = {line["item_key"]: line.get("github_requests", 0) for line in manifest["items"]}
    return {
        "per_item_requests": per_item,
        "run": run_id,
        "status": outcome.status,
        "wall_s": round(wall, 1),
        "requests": len(log),
        "rate_limited_requests": sum(1 for entry in log if entry[2] != 304),
        "tasks": len(outcome.iterations),
        "git_clones": sum(1 for entry in git_log if entry[1].endswith("/git-upload-pack")),
        "items": modes,
    }


def _comment_on_old_issues(gh, count: int) -> list[str]:
    """A new comment on the oldest issue of ``count`` repositories (through the API, as a
    user would); returns the repositories changed."""
    changed = []
    for name in gh.repository_names():
        headers = {"Authorization": f"Bearer {gh.token}"}
        listed = requests.get(f"{gh.api_url}/repos/{name}/issues", timeout=30, headers=headers,
                              params={"state": "all", "direction": "asc", "per_page": 100})  # fmt: skip
        issues = [i for i in listed.json() if "pull_request" not in i] if listed.ok else []
        if not issues:
            continue
        posted = requests.post(f"{gh.api_url}/repos/{name}/issues/{issues[0]['number']}/comments",
                               json={"body": "a comment between runs"}, headers=headers,
                               timeout=30)  # fmt: skip
        posted.raise_for_status()
        changed.append(name)
        if len(changed) == count:
            break
    return changed


def _counted_for(gh, names: list[str], run: dict) -> dict:
    """Requests of ``names`` in the last run (its request log), and what their captures in
    the first run cost (its manifest): rate-limited (non-304) and all."""
    mine = [e for e in gh.request_log if any(f"/repos/{n}/" in e[1] + "/" for n in names)]
    return {
        "repositories": len(names),
        "requests": len(mine),
        "rate_limited_requests": sum(1 for e in mine if e[2] != 304),
        "first_run_capture_requests": run["per_item_requests"],
    }


def _restores(gh, out: Path, run_id: str, scratch: Path) -> bool:
    archive = out / run_id / f"ghbackup-{run_id}.zip"
    for name in gh.repository_names():
        target = scratch / name.replace("/", "__")
        restore_archive(archive, target, repo=name)
        source = refs_of(gh.bare_repo_path(name))
        if source and refs_of(restored_mirror(target, name)) != source:
            print(f"{name}: refs differ after restore", flush=True)
            return False
        shutil.rmtree(target, ignore_errors=True)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--rate-limit", type=int, default=15_000)
    parser.add_argument("--changed", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ghbackup-bench-incremental-"))
    print(f"machine: {os.cpu_count()} cores, shared with other work while this ran", flush=True)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        spec = AccountSpec(repositories=args.repositories, seed=1)
        # GitHub does not share our CPU: the stand-in answers from a process of its own.
        with StandInProcess(root / "standin", spec, rate_limit=args.rate_limit) as gh:
            os.environ["GITHUB_TOKEN"] = gh.token
            out = root / "out"
            first = _one_run(gh, out, "run-first")
            second = _one_run(gh, out, "run-second")
            restored = _restores(gh, out, "run-second", root / "restored")
            # A third run after one new comment on an old issue in 20 repositories: they are
            # captured again, asking their last capture's pages with ETags.
            changed = _comment_on_old_issues(gh, args.changed)
            third = _one_run(gh, out, "run-third")
            changed_cost = _counted_for(gh, changed, first)
            first_cost = sum(first["per_item_requests"].get(f"repository/{n}", 0) for n in changed)
            changed_cost["first_run_capture_requests"] = first_cost
        for row in (first, second, third):
            row.pop("per_item_requests")
            print(json.dumps(row), flush=True)
        print(
            f"third run, the {len(changed)} repositories with a new comment: "
            f"{json.dumps(changed_cost)}",
            flush=True,
        )
        ratio_requests = second["rate_limited_requests"] / max(first["rate_limited_requests"], 1)
        ratio_wall = second["wall_s"] / max(first["wall_s"], 1e-9)
        print(
            f"second / first: rate-limited requests {ratio_requests:.1%} (target <= 10%), "
            f"wall {ratio_wall:.1%} (target <= 25%), tasks {second['tasks']} "
            f"(target 0 for unchanged items), git clones {second['git_clones']}, "
            f"every repository restored from the second zip with equal refs: {restored}"
        )
        ok = restored and ratio_requests <= 0.10 and ratio_wall <= 0.25 and second["tasks"] == 0
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
