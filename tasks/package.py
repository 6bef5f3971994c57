"""Build the one Lambda zip every ghbackup function runs from, reproducibly.

``python -m tasks.package --out build/lambda`` writes ``build/lambda/ghbackup-lambda.zip``
holding the packages ``ghbackup`` and ``tasks`` plus the runtime dependencies
installed for Lambda's python3.12 on x86_64. The same sources give the same bytes: entries
are sorted, every timestamp is fixed and permissions are normalised, so Terraform's
``filebase64sha256`` only changes when the code does.

Downloaded dependencies are cached under ``.cache/lambda-deps/<hash of the requirements>``
so later builds need no package index at all.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ZIP_NAME = "ghbackup-lambda.zip"
SOURCE_PACKAGES = ("ghbackup", "tasks")
# boto3/botocore come with the Lambda runtime; shipping them would only add size.
# In the Lambda runtime already, whose copies must win: never declared (boto3, botocore) nor
# pulled in transitively (aws-xray-sdk needs botocore) into the zip.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
PIP_PLATFORM_ARGS = (
    "--platform",
    "manylinux2014_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
)
# 1980-01-01 is the earliest time a zip entry can carry.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")

REPO_ROOT = Path(__file__).resolve().parent.parent


def runtime_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> tuple[str, ...]:
    """The project's own dependencies (same version ranges), minus what Lambda provides."""
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    name = re.compile(r"^[A-Za-z0-9_.-]+")
    return tuple(
        sorted(
            requirement
            for requirement in declared
            if name.match(requirement)[0].lower() not in RUNTIME_PROVIDED  # type: ignore[index]
        )
    )


class PackagingError(RuntimeError):
    """The zip could not be built (dependency install failed, a package is missing)."""


def requirements_digest(requirements: tuple[str, ...]) -> str:
    """A short hash naming one set of requirements and target platform in the cache."""
    text = "\n".join([*requirements, *PIP_PLATFORM_ARGS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _remove_runtime_provided(site: Path) -> None:
    for entry in site.iterdir():
        name = (
            entry.name.split("-", 1)[0].lower()
            if entry.suffix == ".dist-info"
            else entry.name.lower()
        )
        if name in RUNTIME_PROVIDED:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def install_dependencies(cache_root: Path, requirements: tuple[str, ...]) -> Path:
    """Install the runtime dependencies for Lambda into the cache once; return that folder."""
    target = cache_root / f"lambda-deps-{requirements_digest(requirements)}"
    done_marker = target / ".complete"
    if done_marker.exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(staging),
        *PIP_PLATFORM_ARGS,
        *requirements,
    ]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=900
        )
    except subprocess.TimeoutExpired:
        raise PackagingError(
            "pip did not finish installing the Lambda dependencies in 900 s"
        ) from None
    if completed.returncode != 0:
        raise PackagingError(
            "pip could not install the Lambda dependencies: "
            + (completed.stderr.strip().splitlines() or ["no output"])[-1]
        )
    _remove_runtime_provided(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    done_marker.touch()
    return target


def _wanted(relative: Path) -> bool:
    if any(part in SKIPPED_DIRS for part in relative.parts):
        return False
    if relative.name == ".complete" and len(relative.parts) == 1:
        return False
    # pip's bin/ scripts carry the build machine's interpreter path: not reproducible, unused.
    if relative.parts and relative.parts[0] == "bin":
        return False
    return not relative.name.endswith(SKIPPED_SUFFIXES)


def collect_entries(source_root: Path, deps_dir: Path) -> dict[str, Path]:
    """Map every archive name to the file it comes from; sources win over dependencies."""
    entries: dict[str, Path] = {}
    for path in deps_dir.rglob("*"):
        relative = path.relative_to(deps_dir)
        if path.is_file() and _wanted(relative):
            entries[relative.as_posix()] = path
    for package in SOURCE_PACKAGES:
        package_dir = source_root / package
        if not (package_dir / "__init__.py").is_file():
            raise PackagingError(f"source package {package!r} not found in {source_root}")
        for path in package_dir.rglob("*"):
            relative = path.relative_to(source_root)
            if path.is_file() and _wanted(relative):
                entries[relative.as_posix()] = path
    return entries


def write_reproducible_zip(entries: dict[str, Path], destination: Path) -> None:
    """Write the entries sorted by name with fixed times and modes, atomically."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(entries):
            source = entries[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr below means a file mode
            mode = EXECUTABLE_MODE if os.access(source, os.X_OK) else FILE_MODE
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, source.read_bytes())
    os.replace(partial, destination)


def build(
    out_dir: Path,
    source_root: Path = REPO_ROOT,
    cache_root: Path | None = None,
    requirements: tuple[str, ...] | None = None,
) -> Path:
    """Build the Lambda zip into ``out_dir`` and return its path."""
    cache = cache_root if cache_root is not None else source_root / ".cache"
    if requirements is None:
        requirements = runtime_requirements(source_root / "pyproject.toml")
    deps_dir = install_dependencies(cache, requirements)
    destination = out_dir / ZIP_NAME
    write_reproducible_zip(collect_entries(source_root, deps_dir), destination)
    return destination


def main(argv: list[str] | None = None) -> int:
    """Command line: build the zip and print its path and sha256."""
    parser = argparse.ArgumentParser(prog="python -m tasks.package", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/lambda"), help="output folder")
    parser.add_argument("--cache", type=Path, default=None, help="dependency cache folder")
    args = parser.parse_args(argv)
    try:
        path = build(args.out.resolve(), cache_root=args.cache)
    except PackagingError as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{path} sha256={digest} size={path.stat().st_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
