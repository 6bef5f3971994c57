"""The Lambda zip is reproducible: the same sources give the same bytes."""

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tasks import package

REPO_ROOT = Path(__file__).resolve().parents[2]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.build(tmp_path_factory.mktemp("first"))


def test_two_builds_of_the_same_sources_are_identical(first_build, tmp_path):
    second = package.build(tmp_path)
    assert _sha256(second) == _sha256(first_build)


def test_source_timestamps_and_modes_do_not_change_the_zip(tmp_path):
    """A copy of the sources with other mtimes builds to the same bytes as the original."""
    copy_root = tmp_path / "src"
    for name in package.SOURCE_PACKAGES:
        shutil.copytree(REPO_ROOT / name, copy_root / name, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO_ROOT / "pyproject.toml", copy_root / "pyproject.toml")
    for path in copy_root.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
        if path.is_file():
            path.chmod(0o664)
    cache = REPO_ROOT / ".cache"
    original = package.build(tmp_path / "a", source_root=REPO_ROOT, cache_root=cache)
    copied = package.build(tmp_path / "b", source_root=copy_root, cache_root=cache)
    assert _sha256(copied) == _sha256(original)


def test_zip_holds_the_handlers_packages_and_dependencies_but_not_boto3(first_build):
    with zipfile.ZipFile(first_build) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert names == sorted(names)
    for expected in ("ghbackup/__init__.py", "ghbackup/input.schema.json", "tasks/__init__.py"):
        assert expected in names
    # The local runner and the CLI are adapters of their own: the functions never load them.
    assert not any(name.startswith(("workflow/", "cli/")) for name in names)
    for dependency in ("requests/", "rich/", "jsonschema/", "aws_lambda_powertools/", "jwt/"):
        assert any(name.startswith(dependency) for name in names), dependency
    assert not any(name.startswith(("boto3/", "botocore/")) for name in names)
    assert not any(name.endswith(".pyc") or "__pycache__" in name for name in names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(info.external_attr >> 16) & 0o777 for info in infos} <= {0o644, 0o755}


def test_dependencies_are_built_for_lambda_python312_x86_64(first_build):
    with zipfile.ZipFile(first_build) as zf:
        native = [name for name in zf.namelist() if name.endswith(".so")]
    assert native, "cryptography's native extension is missing"
    assert all("darwin" not in name and "win_" not in name for name in native)
    assert any("cpython-312-x86_64" in name or "abi3" in name for name in native)


def test_runtime_requirements_follow_pyproject_without_boto3():
    requirements = package.runtime_requirements()
    assert any(r.startswith("pyjwt[crypto]") for r in requirements)
    assert not any(r.startswith(("boto3", "botocore")) for r in requirements)
