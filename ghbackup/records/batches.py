"""The Map item: a batch, as a pointer into the run's items.json."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import ConfigDict, Field

from ghbackup.errors import InvalidItem
from ghbackup.records.base import Record
from ghbackup.records.items import BackupItem

# A pointer is about 40 characters; a longer value is not one, and is not echoed back.
MAX_POINTER_CHARS = 256


class BatchPointer(Record):
    """One Map item, one ECS task: items ``first`` .. ``first + count - 1`` of the run's
    ``items.json`` (``batches.json`` holds one per batch; ghbackup/batch.py groups them).

    JSON ``{"batch": 3, "first": 75, "count": 25}``; ``batch`` numbers the batches from 0.
    ``verify_items`` is the execution input's: whether the task verifies each item zip
    before storing it; written only when false (absent: true). A pointer, not the items: ECS
    container overrides are capped at 8 KiB.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    invalid: ClassVar[type[Exception]] = InvalidItem

    batch: int = Field(ge=0)
    first: int = Field(ge=0)
    count: int = Field(ge=1)
    verify_items: bool = True

    @classmethod
    def from_json(cls, data: Any) -> Self:
        if isinstance(data, str | bytes | bytearray) and len(data) > MAX_POINTER_CHARS:
            raise InvalidItem(
                f"batch pointer is {len(data)} characters, more than {MAX_POINTER_CHARS}"
            )
        return super().from_json(data)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.verify_items:
            del data["verify_items"]  # the default: the pointer stays under 64 characters
        return data

    def select(self, items: list[BackupItem]) -> list[BackupItem]:
        """The batch's items out of the run's item list."""
        if self.first + self.count > len(items):
            raise InvalidItem(
                f"batch {self.batch} covers items {self.first}..{self.first + self.count - 1} "
                f"but the run lists {len(items)}"
            )
        return list(items[self.first : self.first + self.count])
