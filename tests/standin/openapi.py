"""Request-body validation against GitHub's OpenAPI description (npm ``@octokit/openapi``).

The stand-in checks every write it accepts against the same description its responses are
checked against (tests/test_standin_schema.py fetches and caches it): a client that sends a
field GitHub does not know, a wrong type or a missing required field gets GitHub's 422.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

# Where tests/test_standin_schema.py caches the description (ignored by git).
DEFAULT_PATH = (
    Path(__file__).resolve().parents[2] / ".cache" / "octokit-openapi" / "api.github.com.json"
)


class RequestValidator:
    """Finds the operation of (method, path) and validates a JSON body against it."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from openapi_schema_validator import OAS30Validator

        self._components = spec.get("components", {})
        self._validator = OAS30Validator
        self._routes: list[tuple[str, re.Pattern[str], int, dict[str, Any] | None]] = []
        for template, ops in spec.get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            literal = sum(1 for seg in template.split("/") if seg and "{" not in seg)
            for method, op in ops.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                content = (op.get("requestBody") or {}).get("content", {})
                schema = content.get("application/json", {}).get("schema")
                self._routes.append((method.upper(), pattern, literal, schema))
        # The most specific template first: /releases/assets/{id} before /releases/{id}.
        self._routes.sort(key=lambda r: -r[2])

    def errors(self, method: str, path: str, body: Any) -> list[str] | None:
        """Validation errors of ``body`` (empty: valid); None when GitHub has no such
        operation (the caller answers 404 as GitHub would)."""
        for m, pattern, _, schema in self._routes:
            if m == method and pattern.match(path):
                if schema is None:
                    return []
                return [
                    f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message[:200]}"
                    for e in self._schema_validator(json.dumps(schema)).iter_errors(body)
                ]
        return None

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one validator per schema, for the process
    def _schema_validator(self, schema_json: str) -> Any:
        return self._validator({**json.loads(schema_json), "components": self._components})


_loaded: dict[Path, RequestValidator] = {}


def load(path: Path = DEFAULT_PATH) -> RequestValidator | None:
    """The validator for the cached description (loaded once per process), or None when it
    has not been fetched yet: a later call, after the fetch, loads it."""
    if path not in _loaded:
        if not path.exists():
            return None
        _loaded[path] = RequestValidator(json.loads(path.read_text()))
    return _loaded[path]
