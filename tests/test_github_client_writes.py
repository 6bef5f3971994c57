"""GitHub client writes: JSON bodies, uploads, and which failures are retried."""

from __future__ import annotations

import pytest
import requests

from ghbackup.errors import GitHubError, WriteOutcomeUnknown
from ghbackup.github_writes import GitHubWriter
from tests.test_github_client import client_with as reader_with
from tests.test_github_client import response


def client_with(script, clock=None, **policy):
    return reader_with(script, clock, client_class=GitHubWriter, **policy)


SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}


def test_post_sends_json_and_returns_the_created_object():
    client, session, _ = client_with([response(201, {"number": 7})])
    assert client.write("POST", "repos/o/r/issues", {"title": "t"}) == {"number": 7}
    assert session.calls[0]["method"] == "POST"
    assert session.calls[0]["json"] == {"title": "t"}


def test_a_secondary_limit_on_a_post_waits_retry_after_then_retries():
    client, session, clock = client_with(
        [response(403, SECONDARY, {"Retry-After": "42"}), response(201, {"id": 1})]
    )
    assert client.write("POST", "repos/o/r/labels", {"name": "x"}) == {"id": 1}
    assert clock.waits == [42.0]
    assert len(session.calls) == 2


def test_a_secondary_limit_without_retry_after_waits_a_minute_then_doubles():
    client, _, clock = client_with(
        [response(403, SECONDARY), response(403, SECONDARY), response(201, {"id": 1})]
    )
    client.write("POST", "repos/o/r/labels", {"name": "x"})
    assert clock.waits == [60.0, 120.0]


def test_a_server_error_on_a_post_is_not_retried_it_may_have_created_something():
    client, session, _ = client_with([response(502, {"message": "Bad Gateway"})])
    with pytest.raises(WriteOutcomeUnknown):
        client.write("POST", "repos/o/r/issues", {"title": "t"})
    assert len(session.calls) == 1


def test_a_dropped_connection_on_a_post_is_not_retried():
    client, session, _ = client_with([requests.ReadTimeout("slow")])
    with pytest.raises(WriteOutcomeUnknown):
        client.write("POST", "repos/o/r/issues", {"title": "t"})
    assert len(session.calls) == 1


def test_a_post_that_never_connected_is_retried():
    client, session, _ = client_with([requests.ConnectTimeout("x"), response(201, {"id": 2})])
    assert client.write("POST", "repos/o/r/issues", {"title": "t"}) == {"id": 2}


def test_a_server_error_on_a_patch_is_retried_patch_is_idempotent():
    client, session, _ = client_with([response(500, {}), response(200, {"state": "closed"})])
    assert client.write("PATCH", "repos/o/r/issues/1", {"state": "closed"}) == {"state": "closed"}
    assert len(session.calls) == 2


def test_a_delete_answered_204_returns_none():
    client, _, _ = client_with([response(204)])
    assert client.write("DELETE", "repos/o/r/labels/bug") is None


def test_upload_goes_to_the_upload_url_with_name_and_content_type():
    client, session, _ = client_with([response(201, {"id": 9, "size": 3})])
    url = "https://api.example.test:8443/repos/o/r/releases/1/assets{?name,label}"
    assert client.upload(url, "a.bin", b"abc", "application/zip")["id"] == 9
    call = session.calls[0]
    assert call["url"] == url.split("{")[0]
    assert call["params"] == {"name": "a.bin"}
    assert call["data"] == b"abc"
    assert call["headers"]["Content-Type"] == "application/zip"


def test_upload_to_another_host_is_refused_before_the_token_leaves():
    client, session, _ = client_with([])
    with pytest.raises(GitHubError, match="not sending it the token"):
        client.upload("https://evil.example.com/upload{?name}", "a", b"", "text/plain")
    assert session.calls == []


def test_github_dot_com_uploads_go_to_uploads_github_com():
    from ghbackup.github_http import origin_of as _origin
    from ghbackup.github_writes import _trusted_upload_origin

    api = _origin("https://api.github.com")
    assert _trusted_upload_origin(_origin("https://uploads.github.com/x"), api)
    assert not _trusted_upload_origin(_origin("https://uploads.github.com.evil/x"), api)


def test_an_upload_from_a_file_is_sent_whole_again_after_a_rate_limit():
    import io

    sent = []

    def reads_body(url, data, **kwargs):
        sent.append(data.read())
        return (
            response(403, SECONDARY, {"Retry-After": "1"})
            if len(sent) == 1
            else response(201, {"id": 3})
        )

    client, _, _ = client_with([reads_body, reads_body])
    url = "https://api.example.test/repos/o/r/releases/1/assets{?name,label}"
    assert client.upload(url, "a.bin", io.BytesIO(b"payload"), "application/zip") == {"id": 3}
    assert sent == [b"payload", b"payload"]
