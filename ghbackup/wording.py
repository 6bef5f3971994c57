"""Counts in words: "1 item", "2 items", "1 repository", "3 repositories".

One place, so every message a person reads agrees (the CLI, the run summary, the
notification)."""

from __future__ import annotations

# Plurals that do not just add an "s".
_IRREGULAR = {
    "repository": "repositories",
    "entry": "entries",
    "batch": "batches",
    "LFS object": "LFS objects",
}


def plural(word: str) -> str:
    """The plural of ``word`` (an English noun this project prints)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def counted(count: int, word: str, *, thousands: bool = True) -> str:
    """``count`` and ``word``, plural unless the count is exactly one: "1 item", "0 items",
    "1,234 bytes" (``thousands``: with a thousands separator)."""
    number = f"{count:,}" if thousands else str(count)
    return f"{number} {word if count == 1 else plural(word)}"
