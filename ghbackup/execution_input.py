"""The execution input: checked against input.schema.json, merged over the defaults.

``{}`` (what the schedule sends) means the configured defaults. An input that names what to
back up (any of ``repositories``, ``users``, ``orgs``) replaces all three of the defaults: a
console run of ``{"orgs": ["acme"]}`` backs up acme alone, not acme plus the defaults' users.
Any other key (filters, ``gists``, ``account``) replaces the same key of the defaults. Errors name the field: ``repositories: 'not-a-list' is not of type
'array'``, ``unknown field 'colour'``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from ghbackup.errors import ConfigurationError, InvalidInput, InvalidItem
from ghbackup.selection import compile_filter

SCHEMA_PATH = Path(__file__).with_name("input.schema.json")
REGEX_FIELDS = ("include", "exclude")
TARGET_FIELDS = ("repositories", "users", "orgs")


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _field(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        prefix = f"{_field(error)}: " if _field(error) else ""
        return prefix + ", ".join(f"unknown field {name!r}" for name in unknown)
    if error.validator == "pattern":
        return f"{_field(error)}: {error.instance!r} is not a valid name"
    field = _field(error) or "input"
    return f"{field}: {error.message}"


def validate_selection(data: Any, *, source: str = "input") -> dict[str, Any]:
    """Check one selection object; raise InvalidInput naming every bad field (one line)."""
    errors = sorted(
        _validator().iter_errors(data), key=lambda e: (list(e.absolute_path), e.message)
    )
    problems = [_describe(error) for error in errors]
    if isinstance(data, dict):
        for name in REGEX_FIELDS:
            value = data.get(name)
            if isinstance(value, str):
                try:
                    compile_filter(name, value)
                except InvalidItem as error:
                    problems.append(str(error))
    if problems:
        unique = list(dict.fromkeys(problems))
        prefix = "" if source == "input" else f"{source}: "
        raise InvalidInput(prefix + "; ".join(unique))
    return dict(data)


def parse_defaults(text: str | None) -> dict[str, Any]:
    """The configured defaults (env DEFAULT_INPUT, JSON); a bad value is a configuration error."""
    if not text or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"DEFAULT_INPUT is not JSON: {error.msg}") from None
    try:
        return validate_selection(data, source="DEFAULT_INPUT")
    except InvalidInput as error:
        raise ConfigurationError(str(error)) from None


def normalise_input(execution_input: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """Validate the execution input and merge it over the defaults (see the module doc)."""
    if execution_input is None:
        execution_input = {}
    selection = validate_selection(execution_input)
    if any(key in selection for key in TARGET_FIELDS):
        defaults = {k: v for k, v in defaults.items() if k not in TARGET_FIELDS}
    return {**defaults, **selection}
