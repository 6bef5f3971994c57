"""The base of every record: one parse place, one dump place, one-line errors."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

ITEM_MANIFEST_FORMAT = "ghbackup/1"
RUN_MANIFEST_FORMAT = "ghbackup-run/1"
MANIFEST_NAME = "manifest.json"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class RecordInvalid(ValueError):
    """A record failed validation on read; the message is one line naming the field."""


class Record(BaseModel):
    """Base of every record: the one parse and the one dump place."""

    model_config = ConfigDict(extra="ignore")
    # The error ``from_json`` raises; a BackupError where an adapter must name it.
    invalid: ClassVar[type[Exception]] = RecordInvalid

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Parse and validate a dict, or JSON text or bytes; raises ``cls.invalid``."""
        if isinstance(data, str | bytes | bytearray):
            try:
                data = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise cls.invalid(f"{label(cls)} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise cls.invalid(f"{label(cls)} must be a JSON object")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise cls.invalid(first_error(cls, exc)) from None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data (what is written, and what ``from_json`` reads)."""
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        """The stored form: sorted keys, indent 2, UTF-8, one trailing newline."""
        text = json.dumps(self.to_json(), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode()


def label(cls: type) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()


def first_error(cls: type, exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    text = f"{label(cls)}: {where}: {message}" if where else f"{label(cls)}: {message}"
    return " ".join(text.split())[:300]
