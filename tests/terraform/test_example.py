"""examples/complete is what a user copies: settings in main.tf, variables only for what every
user supplies, and no copy of the module's validations (they drift)."""

from __future__ import annotations

import re
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "terraform" / "examples" / "complete"


def _declared_variables() -> set[str]:
    text = "".join(p.read_text() for p in EXAMPLE_DIR.glob("*.tf"))
    return set(re.findall(r'^variable "([^"]+)"', text, flags=re.MULTILINE))


def test_example_declares_only_what_every_user_supplies():
    assert _declared_variables() == {
        "region",
        "default_selection",
        "notification_emails",
        "image_tag",
        "operator_principal_arns",
    }


def test_example_leaves_validation_to_the_module():
    for path in EXAMPLE_DIR.glob("*.tf"):
        assert "validation {" not in path.read_text(), f"{path.name} re-declares a validation"


def test_tfvars_example_sets_exactly_the_declared_variables():
    text = (EXAMPLE_DIR / "terraform.tfvars.example").read_text()
    assert set(re.findall(r"^(\w+)\s*=", text, flags=re.MULTILINE)) == _declared_variables()
