"""Writing to GitHub: what a restore to GitHub sends (repositories, issues, releases...).

A POST creates something, so it is retried only when GitHub certainly did not act on it (a
rate-limit answer, a connection that never opened); after a 5xx or a dropped connection it
raises WriteOutcomeUnknown and the caller looks before creating the object again.
"""

from __future__ import annotations

from typing import IO, Any

import requests

from ghbackup.errors import GitHubError, NotFound
from ghbackup.github import GitHubClient
from ghbackup.github_http import origin_of, path_of


class GitHubWriter(GitHubClient):
    """A GitHubClient that may also write (and upload release assets)."""

    def exists(self, path: str) -> bool:
        """Whether GET ``path`` answers 2xx: GitHub's "check" endpoints answer 204 or 404."""
        try:
            self._send("GET", self._url(path)).close()
        except NotFound:
            return False
        return True

    def write(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST, PATCH, PUT or DELETE with a JSON body; the JSON answer (None for 204).

        PATCH, PUT and DELETE set a state, so they are retried like reads. A POST creates
        something: it is retried only when GitHub certainly did not act on it (a rate-limit
        answer, a connection that never opened); after a 5xx or a dropped connection it
        raises WriteOutcomeUnknown, so the caller looks before creating the object again.
        """
        url = self._url(path)
        resp = self._send(method, url, json_body=body, creates=method == "POST")
        return _json_answer(resp, url)

    def upload(
        self,
        upload_url: str,
        name: str,
        data: bytes | IO[bytes],
        content_type: str,
        label: str | None = None,
    ) -> Any:
        """Upload a release asset to the release's ``upload_url`` (a URI template on the
        uploads host: uploads.github.com for github.com, the API host for GHES). ``data``
        may be an open file: it is streamed, and rewound for each attempt."""
        url = upload_url.split("{", 1)[0]
        origin = origin_of(url)
        if not _trusted_upload_origin(origin, self._api_origin):
            raise GitHubError(
                f"GitHub returned an upload URL on {origin[1]}, not an uploads host of "
                f"{self._api_origin[1]}; not sending it the token"
            )
        params = {"name": name, **({"label": label} if label else {})}
        resp = self._send(
            "POST",
            url,
            params=params,
            data=data,
            content_type=content_type,
            creates=True,
            origin=origin,
            read_timeout=self.policy.download_read_timeout,
        )
        return _json_answer(resp, url)


def _json_answer(resp: requests.Response, url: str) -> Any:
    if resp.status_code == 204 or not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise GitHubError(
            f"{path_of(url)} returned a body that is not JSON", resp.status_code
        ) from None


def _trusted_upload_origin(upload: tuple[str, str], api: tuple[str, str]) -> bool:
    """uploads.github.com for api.github.com; the API's own host (any port) otherwise."""
    if upload[0] != api[0]:
        return False
    upload_host, api_host = upload[1].split(":")[0], api[1].split(":")[0]
    if api_host == "api.github.com":
        return upload_host == "uploads.github.com"
    return upload_host == api_host
