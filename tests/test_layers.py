"""The direction of dependencies: the core stands alone, adapters depend on it.

``ghbackup/`` (the domain) imports no adapter; the Lambda handlers (``tasks/``) and the
container entrypoint (``container/``) import the core only, never the local runner or the
CLI. Only ``cli/`` (and the tests) may import both the core and ``workflow/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("workflow", "tasks", "container", "cli")
ALLOWED = {
    "ghbackup": set(),
    "tasks": {"tasks"},
    "container": {"container"},
    "workflow": {"workflow", "tasks", "container"},  # the local runner runs them in-process
    "cli": {"cli", "workflow"},
}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_no_adapter_it_must_not_depend_on(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    forbidden = set(ADAPTERS) - ALLOWED[package]
    offenders = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in _imported_top_levels(path) & forbidden
    }
    assert not offenders, sorted(offenders)
