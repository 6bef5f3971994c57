"""What every ghbackup command shares: how much it prints."""

from __future__ import annotations

import argparse

quiet = False
"""``-q``: no progress bars and only errors logged; results and one-line errors still print."""


def add_verbosity(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """``-v``/``-q`` on ``parser``. On a subcommand they default to "not given", so that
    ``ghbackup -v verify X`` and ``ghbackup verify X -v`` mean the same."""
    default: object = False if top_level else argparse.SUPPRESS
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log debug details"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=default,
        help="no progress bars, and log errors only (results still print)",
    )  # fmt: skip
