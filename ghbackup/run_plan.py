"""What a run would back up, without backing anything up: ``--dry-run``.

The same steps as the list step (tasks/list_items.py) takes, against GitHub only: the
execution input merged over the defaults, expanded into items by ``expand_selection`` and
grouped by ``plan_batches`` under the input's batch limits. Nothing is written anywhere;
the incremental reuse of unchanged items (which needs the bucket's warm copies) is not
applied, so the batches are those of a full run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ghbackup.batch import DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_ITEMS, plan_batches
from ghbackup.execution_input import normalise_input
from ghbackup.github import GitHubClient
from ghbackup.records import BackupItem, BatchPointer
from ghbackup.selection import Selection, expand_selection


@dataclass
class BackupPlan:
    """The items a run would capture, GitHub's size of each listed repository (bytes; None
    when GitHub gives none: explicit repositories, gists, accounts) and the batches."""

    selection: dict[str, Any]
    items: list[BackupItem]
    sizes: dict[str, int]
    batches: list[BatchPointer]

    @property
    def known_bytes(self) -> int:
        return sum(self.sizes.values())

    def counts(self) -> dict[str, int]:
        """Items by kind, in the order repositories, gists, accounts."""
        counts = {"repository": 0, "gist": 0, "account": 0}
        for item in self.items:
            counts[item.kind] += 1
        return counts


def plan_backup(
    client: GitHubClient, execution_input: Any, defaults: dict[str, Any] | None = None
) -> BackupPlan:
    """List and batch what ``execution_input`` (over ``defaults``) selects; InvalidInput
    naming the field when the input is not valid, GitHub's errors as the list step's."""
    settings = normalise_input(execution_input, defaults or {})
    sizes: dict[str, int] = {}
    items = expand_selection(client, Selection.from_json(settings), sizes)
    batches = plan_batches(
        [sizes.get(item.key) for item in items],
        max_items=int(settings.get("batch_max_items") or DEFAULT_BATCH_MAX_ITEMS),
        max_bytes=int(settings.get("batch_max_bytes") or DEFAULT_BATCH_MAX_BYTES),
    )
    return BackupPlan(selection=settings, items=items, sizes=sizes, batches=batches)
