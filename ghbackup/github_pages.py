"""The pages a GitHub client read, with their ETags: asked again with ``If-None-Match``, an
unchanged page costs a 304 (no primary rate limit) and its body comes from here.

Within one capture this spares the requests identical to the probes asked just before it;
kept between runs (``PageCache``, ``latest/<key>/pages.json.gz``) it spares every unchanged
page of a changed item. Each page vouches for itself: a 304 says that very body is current.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from ghbackup.records import CachedPage, PageCache


def page_key(url: str, params: dict[str, Any] | None) -> str:
    """A GET's identity: the URL with its query sorted, so that the same question asked
    with its parameters in another order finds the same answer."""
    ordered = sorted(params.items()) if params else None
    return requests.Request("GET", url, params=ordered).prepare().url or url


class PageStore:
    """Pages by request (``page_key``): (ETag, JSON body, next page URL). Thread-safe.

    A page a probe just read for the capture that follows (``put_raw``) is *fresh*: the
    capture takes it once without asking again, so the item's validators describe exactly
    the answer it stored. Every other page is asked again with its ETag."""

    def __init__(self) -> None:
        self._pages: dict[str, tuple[str, Any, str | None]] = {}
        self._fresh: set[str] = set()
        self._lock = threading.Lock()

    def get(self, url: str, params: dict[str, Any] | None) -> tuple[str, Any, str | None] | None:
        with self._lock:
            return self._pages.get(page_key(url, params))

    def take_fresh(
        self, url: str, params: dict[str, Any] | None
    ) -> tuple[str, Any, str | None] | None:
        """The page when a probe read it for this capture (once), else None."""
        key = page_key(url, params)
        with self._lock:
            if key not in self._fresh:
                return None
            self._fresh.discard(key)
            return self._pages.get(key)

    def put(
        self, url: str, params: dict[str, Any] | None, etag: str | None, body: Any,
        next_url: str | None,
    ) -> None:  # fmt: skip
        """Keep a JSON answer (nothing without an ETag: it could not be asked again)."""
        if etag:
            with self._lock:
                self._pages[page_key(url, params)] = (etag, body, next_url)

    def put_raw(
        self, url: str, params: dict[str, Any] | None, etag: str | None, body: bytes,
        next_url: str | None,
    ) -> None:  # fmt: skip
        """Keep a probe's answer (still in bytes, when it is JSON), fresh for the capture
        that follows."""
        try:
            parsed = json.loads(body)
        except ValueError:
            return
        self.put(url, params, etag, parsed, next_url)
        if etag:
            with self._lock:
                self._fresh.add(page_key(url, params))

    def export(self, api_url: str) -> PageCache:
        """Every page kept, for the next capture of the same item."""
        with self._lock:
            entries = list(self._pages.items())
        return PageCache(
            api_url=api_url,
            pages={url: CachedPage(etag=etag, body=body, next=next_url)
                   for url, (etag, body, next_url) in entries},
        )  # fmt: skip

    def load(self, cache: PageCache, api_url: str) -> int:
        """Take an earlier capture's pages (none from another API); returns how many. A page
        read in this process already wins."""
        if cache.api_url.rstrip("/") != api_url.rstrip("/"):
            return 0
        with self._lock:
            for url, page in cache.pages.items():
                self._pages.setdefault(url, (page.etag, page.body, page.next))
        return len(cache.pages)
