"""What an incremental run keeps between runs: each item's validators beside its warm copy.

``latest/<item key>/state.json`` (an ``ItemState``) says what GitHub answered when the item
was last captured, and which zip that capture produced (``latest/<item key>/item.zip``).
The list step of the next run asks GitHub the same questions with those validators; only
when every answer says "unchanged" is the warm copy reused. ``staging/R/items/<key>/
validators.json`` (a ``Validators``) holds what the list step saw for an item it sends to
capture; Finalize promotes it into ``state.json`` once the run manifest is stored.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import Field

from ghbackup.records.base import ITEM_MANIFEST_FORMAT, SHA256_PATTERN, Record
from ghbackup.records.items import BackupItem

STATE_FORMAT: Final = "ghbackup-state/1"

# How an item got into a run: captured because a signal changed, reused from an earlier
# run's warm copy, or captured in full because there was nothing to trust.
CaptureMode = Literal["captured", "reused", "full"]


class ProbeAnswer(Record):
    """GitHub's answer to one probe: the validators to send next time and a hash of the body
    (compared when a validator cannot be used, e.g. an ETag minted for another token).
    ``status`` is 200, or a 403/404/410 that means "not available here" (kept: the same
    answer next time is no change)."""

    status: int
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)
    next: str | None = None  # the next page of a whole-list probe, as GitHub linked it


class Validators(Record):
    """Everything the list step saw of one item before its capture started. Seen before the
    capture, so a change during the capture shows up as a difference next run."""

    item: BackupItem
    observed_at: str
    credential_kind: str
    capture: CaptureMode
    capture_reason: str
    # Only a complete observation (every probe answered) may become the item's state.
    complete: bool = False
    probes: dict[str, ProbeAnswer] = Field(default_factory=dict)
    # git refs by remote ("repository", "wiki"); None: the remote does not exist.
    refs: dict[str, dict[str, str] | None] = Field(default_factory=dict)
    # the remotes' URLs, so a 304 on the repository object still says where to look
    remotes: dict[str, str] = Field(default_factory=dict)


class ItemState(Record):
    """``latest/<item key>/state.json``: the last successful capture of an item, written by
    Finalize after the run manifest, and only after the warm copy it describes. It is
    trusted only when its warm copy is the one it describes: the copy's ETag matches
    ``zip_etag`` when the list step copies it (or, for a state without one, the copy's
    recorded checksum and size match): a state without its zip, or beside another zip,
    is no state."""

    format: Literal["ghbackup-state/1"] = STATE_FORMAT
    archive_format: str = ITEM_MANIFEST_FORMAT
    item: BackupItem
    run_id: str
    captured_at: str
    zip_sha256: str = Field(pattern=SHA256_PATTERN)
    zip_bytes: int = Field(ge=0)
    credential_kind: str
    probes: dict[str, ProbeAnswer] = Field(default_factory=dict)
    refs: dict[str, dict[str, str] | None] = Field(default_factory=dict)
    remotes: dict[str, str] = Field(default_factory=dict)
    # The S3 ETag of the warm copy as Finalize wrote it: the list step copies it only on
    # this condition, so a zip replaced by an interrupted update is never staged as this
    # state's. (States written before it was kept have none: their zip is checked by HEAD.)
    zip_etag: str | None = None
    # What that capture recorded (the item result's counts and skipped parts), so a run that
    # reuses the warm copy reports the item as its capture did. Older states have neither.
    counts: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    # Whether the warm copy passed verify at write when its run wrote it; a run reusing it
    # records the same (the copy is conditional on zip_etag, so the bytes are those).
    verified: bool = False


PAGES_FORMAT: Final = "ghbackup-pages/1"


class CachedPage(Record):
    """One API answer as a capture read it: its ETag, its JSON and the next page's URL."""

    etag: str
    body: Any = None
    next: str | None = None


class PageCache(Record):
    """``latest/<item key>/pages.json.gz``: every API page the item's last capture read, by
    request URL. The next capture of a changed item asks each page with its ETag; GitHub
    answers an unchanged one 304 (no primary rate limit) and the body here stands in. Each
    entry vouches for itself (a 304 says that very body is current), so the cache needs no
    link to a state: a stale or missing one only costs requests."""

    format: Literal["ghbackup-pages/1"] = PAGES_FORMAT
    api_url: str
    pages: dict[str, CachedPage] = Field(default_factory=dict)
