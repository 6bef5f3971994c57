"""``make demo``: a first try of ghbackup on one machine, offline.

1. Start the GitHub stand-in with a generated organisation (repositories with LFS, wikis,
   issues, pull requests, releases; an empty one, a disabled one, an archived fork; gists).
2. Run the real state machine locally: ``ghbackup run --local --org acme``.
3. Verify the run archive and restore one repository from it, then compare its refs with the
   stand-in's own repository.

    .venv/bin/python -m tests.demo [--repositories 12] [--out backups/demo]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from cli import main as cli
from tests.roundtrip import lfs_oids, refs_of
from tests.standin import AccountSpec, GitHubStandIn

console = Console()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("backups/demo"))
    args = parser.parse_args()

    work = Path(".cache/demo")
    shutil.rmtree(work, ignore_errors=True)
    run_id = "demo-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    spec = AccountSpec(
        owner="acme", owner_type="Organization", repositories=args.repositories, seed=7
    )
    console.rule("[bold]1. A GitHub organisation (the local stand-in)")
    with GitHubStandIn(root=work / "standin", account=spec) as gh:
        console.print(
            f"stand-in at {gh.api_url}: {len(gh.repository_names())} repositories of {gh.owner}"
        )
        os.environ["GITHUB_TOKEN"] = gh.token  # handed to the run through the environment only

        console.rule("[bold]2. ghbackup run --local --org acme")
        code = cli.main(
            [
                "run",
                "--local",
                "--org",
                gh.owner,
                "--out",
                str(args.out),
                "--api-url",
                gh.api_url,
                "--run-id",
                run_id,
            ]
        )
        if code != 0:
            console.print(f"[red]the run did not succeed (exit {code})[/red]")
            return code

        archive = args.out / run_id / f"ghbackup-{run_id}.zip"
        console.rule("[bold]3. ghbackup verify, then restore one repository")
        if cli.main(["verify", str(archive)]) != 0:
            return 1
        name = f"{gh.owner}/repo-001"  # private, with LFS objects
        target = args.out / run_id / "restored"
        shutil.rmtree(target, ignore_errors=True)
        if cli.main(["restore", str(archive), "--to", str(target), "--repo", name]) != 0:
            return 1
        owner, repo = name.split("/")
        restored, source = refs_of(target / owner / f"{repo}.git"), refs_of(gh.bare_repo_path(name))
        lfs = lfs_oids(target / owner / f"{repo}.git")
        same = restored == source and lfs == set(gh.lfs_object_ids(name))
        colour = "green" if same else "red"
        console.print(
            f"[{colour}]{name}: {len(restored)} refs and {len(lfs)} LFS objects restored; "
            f"identical to the source: {same}[/{colour}]"
        )
        console.print(
            f"archive: {archive} ({archive.stat().st_size:,} bytes); restored into {target}"
        )
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
