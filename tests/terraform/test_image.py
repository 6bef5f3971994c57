"""The capture image's build inputs: locked, hash-checked dependencies and a small context.

No docker engine runs on the test machines, so these check the files docker reads.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "container" / "Dockerfile"
LOCK = REPO_ROOT / "container" / "requirements.lock"


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", LOCK.read_text(), flags=re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def test_every_runtime_dependency_is_pinned_with_hashes_in_the_lock_file():
    locked = _locked()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    missing = [r for r in project["dependencies"] if _name(r) not in locked]
    assert missing == [], f"not in container/requirements.lock: {missing}"
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", LOCK.read_text())
    unhashed = [b.split()[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert unhashed == []


def test_image_installs_the_lock_with_hashes_and_the_app_without_dependencies():
    steps = DOCKERFILE.read_text()
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in steps
    assert re.search(r"pip install --no-cache-dir --no-deps \.", steps)
    assert steps.index("--require-hashes") < steps.index("--no-deps")


def test_build_context_is_limited_to_what_the_image_copies():
    # docker build -f container/Dockerfile . : the context is the repository root, and that is
    # where docker reads .dockerignore.
    rules = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in rules, "everything is excluded first"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    sources = {
        source.split("/")[0]
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    assert sources <= allowed, f"copied but ignored: {sources - allowed}"
    assert {".git", ".venv", "build", "tests", "terraform"}.isdisjoint(allowed)


def test_the_base_image_is_always_pinned_by_digest():
    steps = DOCKERFILE.read_text()
    # No default: a build must be given the base image, and refuses one without a digest.
    assert re.search(r"^ARG PYTHON_BASE_IMAGE$", steps, flags=re.MULTILINE)
    assert "FROM ${PYTHON_BASE_IMAGE}" in steps
    assert "*@sha256:*) ;;" in steps and "exit 1" in steps
    # make image resolves the digest, passes it and records it in the image's labels.
    recipe = (REPO_ROOT / "Makefile").read_text().split("\nimage:", 1)[1].split("\n\n", 1)[0]
    assert "imagetools inspect $(BASE_IMAGE)" in recipe
    assert 'PYTHON_BASE_IMAGE="$(BASE_IMAGE)@$$digest"' in recipe
    assert "org.opencontainers.image.base.digest" in recipe
