"""``python -m container.entrypoint`` whose capture damages one repository's bundle as it is
written: the way a bad disk, bad memory or a bug would, before the bundle goes into the zip.

One byte in the middle of the bundle's pack is flipped and the pack's SHA-1 trailer made to
match; the zip writer then records the damaged bundle's own size and SHA-256 in the item's
manifest, so every checksum is consistent and only git's own checks can tell. The repository
is named by DAMAGE_BUNDLE_OF (``owner/name``); every other item is captured as usual.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

from container import entrypoint
from ghbackup import capture

_bundling = threading.local()  # the item whose bundle this thread is writing
_real_bundle_of = capture._bundle_of
_real_create_bundle = capture.create_bundle


def damage_pack(bundle: Path) -> None:
    """Flip one byte in the middle of the bundle's pack; keep the pack's trailer valid."""
    data = bundle.read_bytes()
    split = data.index(b"\n\n") + 2  # the header ends with a blank line
    header, pack = data[:split], bytearray(data[split:-20])
    pack[len(pack) // 2] ^= 0x55
    bundle.write_bytes(header + bytes(pack) + hashlib.sha1(bytes(pack)).digest())


def _bundle_of(cap: Any, url: str, name: str, **kwargs: Any) -> Any:
    _bundling.item = cap.item.full_name
    return _real_bundle_of(cap, url, name, **kwargs)


def _create_bundle(repo: Path, dest: Path, **kwargs: Any) -> None:
    _real_create_bundle(repo, dest, **kwargs)
    target = os.environ.get("DAMAGE_BUNDLE_OF")
    if target and getattr(_bundling, "item", None) == target and dest.name == "repository.bundle":
        damage_pack(dest)


capture._bundle_of = _bundle_of  # type: ignore[assignment]
capture.create_bundle = _create_bundle  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(entrypoint.main())
