"""GitHub client: pagination, rate limits, retries and ETags against scripted responses.

A fake session answers from a script and a fake clock records every wait, so the waits
GitHub asks for are checked exactly and no test sleeps.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
import requests

from ghbackup.credentials import TokenCredentials
from ghbackup.errors import (
    AuthenticationFailed,
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimitExceeded,
    UnexpectedRedirect,
)
from ghbackup.github import GitHubClient, RetryPolicy

TOKEN = "ghp_unit_test_token_0123456789"
API = "https://api.example.test"


def response(
    status: int = 200, body: object = None, headers: dict[str, str] | None = None
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = b"" if body is None else json.dumps(body).encode()
    resp.headers.update(headers or {})
    resp.raw = io.BytesIO(resp._content)
    return resp


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class ScriptedSession:
    """Answers requests in order; each entry is a response or a callable(request kwargs)."""

    def __init__(
        self, script: list[requests.Response | Exception | Callable[..., requests.Response]]
    ) -> None:
        self.script = list(script)
        self.calls: list[dict] = []

    def request(self, method: str, url: str, **kwargs):
        self.calls.append({"method": method, "url": url, **kwargs})
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step(url=url, **kwargs) if callable(step) else step


def authorization(call: dict) -> str | None:
    """The Authorization header a recorded call would have sent (the token travels as
    requests' ``auth``, which writes the header when the request is prepared)."""
    prepared = requests.Request("GET", call["url"], headers=call.get("headers")).prepare()
    if call.get("auth") is not None:
        prepared = call["auth"](prepared)
    return prepared.headers.get("Authorization")


def client_with(
    script, clock: FakeClock | None = None, client_class: type = GitHubClient, **policy
) -> tuple[GitHubClient, ScriptedSession, FakeClock]:
    clock = clock or FakeClock()
    session = ScriptedSession(script)
    client = client_class(
        API,
        TokenCredentials(TOKEN),
        session=session,  # type: ignore[arg-type]
        sleep=clock.sleep,
        clock=clock.time,
        policy=RetryPolicy(**policy),
    )
    return client, session, clock


def test_pagination_follows_next_links_exactly_as_given():
    first = response(
        200,
        [1, 2],
        {
            "Link": f'<{API}/repositories/42/issues?page=2&per_page=100>; rel="next", <{API}/repositories/42/issues?page=3>; rel="last"'
        },
    )
    second = response(
        200, [3], {"Link": f'<{API}/repositories/42/issues?page=3&per_page=100>; rel="next"'}
    )
    third = response(200, [4], {"Link": f'<{API}/repositories/42/issues?page=1>; rel="first"'})
    client, session, _ = client_with([first, second, third])
    assert list(client.paginate("repos/o/r/issues", {"state": "all"})) == [1, 2, 3, 4]
    assert session.calls[0]["params"] == {"per_page": 100, "state": "all"}
    assert session.calls[1]["url"] == f"{API}/repositories/42/issues?page=2&per_page=100"
    assert session.calls[1]["params"] is None
    assert client.requests_made == 3


def test_pagination_reads_a_lower_case_link_header():
    # HTTP header names are case-insensitive; HTTP/2 proxies send them in lower case.
    first = response(200, [1], {"link": f'<{API}/repositories/42/issues?page=2>; rel="next"'})
    second = response(200, [2], {"LINK": f'<{API}/repositories/42/issues?page=3>; rel="next"'})
    third = response(200, [3])
    client, session, _ = client_with([first, second, third])
    assert list(client.paginate("repos/o/r/issues")) == [1, 2, 3]
    assert session.calls[2]["url"] == f"{API}/repositories/42/issues?page=3"


def test_a_page_answered_304_still_leads_to_the_next_page():
    link = {"Link": f'<{API}/repositories/42/issues?page=2>; rel="next"', "ETag": '"p1"'}
    client, session, _ = client_with(
        [response(200, [1], link), response(200, [2]), response(304), response(200, [2])]
    )
    assert list(client.paginate("repos/o/r/issues")) == [1, 2]
    assert list(client.paginate("repos/o/r/issues")) == [1, 2]
    assert session.calls[2]["headers"]["If-None-Match"] == '"p1"'
    assert session.calls[3]["url"] == f"{API}/repositories/42/issues?page=2"


def test_secondary_rate_limit_waits_retry_after_seconds():
    limited = response(
        403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "37"}
    )
    client, _, clock = client_with([limited, response(200, {"ok": True})])
    assert client.get("repos/o/r") == {"ok": True}
    assert clock.waits == [37.0]


def test_secondary_rate_limit_without_retry_after_backs_off_from_a_minute():
    limited = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
    client, _, clock = client_with(
        [response(403, limited), response(403, limited), response(200, [])]
    )
    client.get("repos/o/r")
    assert clock.waits == [60.0, 120.0]


def test_429_without_headers_is_a_secondary_limit():
    client, _, clock = client_with([response(429, {"message": "slow down"}), response(200, {})])
    client.get("x")
    assert clock.waits == [60.0]


def test_exhausted_primary_limit_waits_until_reset():
    clock = FakeClock()
    reset = int(clock.now) + 120
    exhausted = response(
        403,
        {"message": "API rate limit exceeded for user ID 1."},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    client, _, clock = client_with([exhausted, response(200, {})], clock)
    client.get("x")
    assert clock.waits == [pytest.approx(121.0)]


def test_last_request_of_the_window_pauses_the_next_one_until_reset():
    clock = FakeClock()
    reset = int(clock.now) + 30
    last = response(200, {"a": 1}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    client, _, clock = client_with([last, response(200, {"b": 2})], clock)
    client.get("a")
    assert clock.waits == []
    client.get("b")
    assert clock.waits == [pytest.approx(31.0)]


def test_a_reset_too_far_away_raises_rate_limit_exceeded():
    clock = FakeClock()
    exhausted = response(
        403,
        {"message": "API rate limit exceeded"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.now) + 7200)},
    )
    client, _, _ = client_with([exhausted], clock, max_rate_limit_wait=3600)
    with pytest.raises(RateLimitExceeded):
        client.get("x")


def test_plain_403_is_a_permission_error_not_a_wait():
    client, _, clock = client_with(
        [response(403, {"message": "Must have admin rights to Repository."})]
    )
    result = client.get_optional("repos/o/r/hooks")
    assert not result.present and "403" in (result.reason or "")
    assert clock.waits == []


def test_server_errors_are_retried_with_bounded_jittered_backoff():
    client, session, clock = client_with([response(502), response(503), response(200, {"ok": 1})])
    assert client.get("x") == {"ok": 1}
    assert len(clock.waits) == 2
    assert 0 <= clock.waits[0] <= 1.0 and 0 <= clock.waits[1] <= 2.0


def test_server_errors_give_up_after_max_attempts():
    client, session, _ = client_with([response(500)] * 3, max_attempts=3)
    with pytest.raises(GitHubUnavailable):
        client.get("x")
    assert len(session.calls) == 3


def test_connection_errors_are_retried_then_reported_without_details():
    client, _, _ = client_with([requests.ConnectionError(f"boom {TOKEN}")] * 2, max_attempts=2)
    with pytest.raises(GitHubUnavailable) as info:
        client.get("x")
    assert TOKEN not in str(info.value)


def test_every_request_has_a_timeout():
    client, session, _ = client_with([response(200, {})])
    client.get("x")
    assert session.calls[0]["timeout"] == (10.0, 60.0)


def test_etag_is_sent_back_and_304_returns_the_cached_body():
    client, session, _ = client_with([response(200, {"v": 1}, {"ETag": 'W/"abc"'}), response(304)])
    assert client.get("repos/o/r") == {"v": 1}
    assert client.get("repos/o/r") == {"v": 1}
    assert session.calls[1]["headers"]["If-None-Match"] == 'W/"abc"'


def test_revoked_token_is_an_authentication_failure_and_never_echoes_the_token():
    client, _, _ = client_with([response(401, {"message": "Bad credentials"})])
    with pytest.raises(AuthenticationFailed) as info:
        client.get("user")
    assert TOKEN not in str(info.value)


def test_not_found_and_optional_resources():
    client, _, _ = client_with(
        [
            response(404, {"message": "Not Found"}),
            response(410, {"message": "Issues are disabled for this repo"}),
        ]
    )
    with pytest.raises(NotFound):
        client.get("repos/o/missing")
    gone = client.list_optional("repos/o/r/issues")
    assert not gone.present and "disabled" in (gone.reason or "")


def test_download_restarts_a_cut_transfer_from_scratch():
    def cut(**_):
        resp = response(200)
        resp.raw = io.BytesIO(b"abc")  # 3 of 6 bytes, as if the connection dropped
        return resp

    def whole(**_):
        resp = response(200)
        resp.raw = io.BytesIO(b"abcdef")
        return resp

    client, session, _ = client_with([cut, whole])
    sink = io.BytesIO()
    assert client.download(f"{API}/repos/o/r/releases/assets/1", sink, expected_size=6) == 6
    assert sink.getvalue() == b"abcdef"
    assert session.calls[0]["headers"]["Accept"] == "application/octet-stream"


def test_a_rate_limit_that_outlasts_its_waits_fails_instead_of_skipping():
    limited = response(
        403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "1"}
    )
    client, _, _ = client_with([limited, limited], max_attempts=2)
    with pytest.raises(RateLimitExceeded):
        client.list_optional("repos/o/r/issues")


def test_wrapped_lists_are_paginated():
    page = response(200, {"total_count": 2, "repositories": [{"id": 1}, {"id": 2}]})
    client, _, _ = client_with([page])
    assert list(client.paginate("installation/repositories", wrapped_in="repositories")) == [
        {"id": 1},
        {"id": 2},
    ]


def test_a_trickling_download_is_abandoned_and_retried():
    clock = FakeClock()

    class Trickle(io.RawIOBase):
        """1 KiB a minute: never silent long enough for the read timeout."""

        def __init__(self):
            self.left = 10

        def readable(self):
            return True

        def readinto(self, buffer):
            if not self.left:
                return 0
            self.left -= 1
            clock.now += 60
            buffer[:1024] = b"x" * 1024
            return 1024

    def trickle(**_):
        resp = response(200)
        resp.raw = io.BufferedReader(Trickle(), buffer_size=1024)
        return resp

    def whole(**_):
        resp = response(200)
        resp.raw = io.BytesIO(b"y" * 10240)
        return resp

    client, session, _ = client_with([trickle, whole], clock)
    sink = io.BytesIO()
    assert client.download(f"{API}/repos/o/r/releases/assets/1", sink, expected_size=10240) == 10240
    assert sink.getvalue() == b"y" * 10240 and len(session.calls) == 2


def test_the_token_goes_only_to_the_api_host():
    client, session, _ = client_with([response(200, {}), response(200, {})])
    client.get("repos/o/r")
    client.get("https://API.example.test:443/repositories/42")  # same origin, spelled out
    assert [authorization(c) for c in session.calls] == [f"Bearer {TOKEN}"] * 2
    with pytest.raises(GitHubError, match="objects.example.net, not the API host"):
        client.get("https://objects.example.net/some/file")  # neither token nor a quiet 404
    assert len(session.calls) == 2


def test_a_blocked_repository_says_why_and_where():
    block = {"reason": "dmca", "created_at": "2024-01-01T00:00:00Z",
             "html_url": "https://github.com/github/dmca/blob/master/2024/01/notice.md"}  # fmt: skip
    client, _, _ = client_with(
        [response(451, {"message": "Repository access blocked", "block": block})]
    )
    with pytest.raises(GitHubError) as failed:
        client.get("repos/o/taken-down")
    assert str(failed.value) == (
        "/repos/o/taken-down: HTTP 451 Repository access blocked by GitHub (dmca): "
        "https://github.com/github/dmca/blob/master/2024/01/notice.md"
    )


def test_a_page_github_keeps_timing_out_on_is_asked_for_in_smaller_pages():
    timeout = response(502, {"message": "Server Error"})
    half = response(200, [1, 2], {"Link": f'<{API}/repositories/42/issues?per_page=50&page=2>; rel="next"'})  # fmt: skip
    rest = response(200, [3])
    client, session, _ = client_with([timeout, timeout, half, rest], max_attempts=2)
    assert list(client.paginate("repos/o/r/issues", {"state": "all"})) == [1, 2, 3]
    assert session.calls[2]["url"] == f"{API}/repos/o/r/issues?per_page=50&state=all"
    assert session.calls[2]["params"] is None
    assert session.calls[3]["url"] == f"{API}/repositories/42/issues?per_page=50&page=2"


def test_a_later_page_keeps_its_place_when_pages_shrink():
    first = response(200, [1], {"Link": f'<{API}/repositories/42/issues?per_page=100&page=3>; rel="next"'})  # fmt: skip
    timeout = response(504, {"message": "Gateway Timeout"})
    client, session, _ = client_with(
        [first, timeout, timeout, timeout, timeout, response(200, [2])], max_attempts=2
    )
    assert list(client.paginate("repos/o/r/issues")) == [1, 2]
    # page 3 of 100 starts at item 200: page 5 of 50, then page 9 of 25
    assert session.calls[3]["url"] == f"{API}/repositories/42/issues?per_page=50&page=5"
    assert session.calls[5]["url"] == f"{API}/repositories/42/issues?per_page=25&page=9"


def test_pages_stop_shrinking_at_25_and_the_error_is_raised():
    timeout = response(502, {"message": "Server Error"})
    client, session, _ = client_with([timeout] * 6, max_attempts=2)
    with pytest.raises(GitHubUnavailable):
        list(client.paginate("repos/o/r/issues"))
    assert [c["url"] for c in session.calls[::2]] == [
        f"{API}/repos/o/r/issues",  # per_page=100 in the params
        f"{API}/repos/o/r/issues?per_page=50",
        f"{API}/repos/o/r/issues?per_page=25",
    ]


def test_a_blocked_part_is_skipped_with_the_notice():
    block = {"reason": "tos", "html_url": "https://github.com/tos"}
    client, _, _ = client_with([response(451, {"message": "Repository access blocked", "block": block})])  # fmt: skip
    part = client.list_optional("repos/o/r/releases")
    assert part.reason == (
        "unavailable for legal reasons (HTTP 451): Repository access blocked by GitHub (tos): "
        "https://github.com/tos"
    )


def test_smaller_pages_keep_repeated_parameters_and_cursors():
    from ghbackup.github_http import smaller_pages as _smaller_pages

    assert _smaller_pages(f"{API}/x?page=3&per_page=100&labels=a&labels=b", None) == (
        f"{API}/x?page=5&per_page=50&labels=a&labels=b",
        None,
    )
    assert _smaller_pages(f"{API}/x?after=Y2%2B&per_page=100", None) == (
        f"{API}/x?after=Y2%2B&per_page=50",
        None,
    )
    assert _smaller_pages(f"{API}/x?page=last", None) is None


def test_api_requests_do_not_let_requests_follow_redirects():
    client, session, _ = client_with([response(200, {})])
    client.get("repos/o/r")
    assert session.calls[0]["allow_redirects"] is False


def test_a_renamed_repository_is_followed_on_the_api_host_with_the_token():
    moved = response(301, {"message": "Moved Permanently"}, {"Location": f"{API}/repositories/42"})
    client, session, _ = client_with([moved, response(200, {"full_name": "o/new-name"})])
    assert client.get("repos/o/old-name") == {"full_name": "o/new-name"}
    assert session.calls[1]["url"] == f"{API}/repositories/42"
    assert authorization(session.calls[1]) == f"Bearer {TOKEN}"


def test_a_relative_redirect_is_resolved_against_the_request():
    moved = response(307, None, {"location": "/repositories/42/issues?page=2"})
    client, session, _ = client_with([moved, response(200, [7])])
    assert list(client.paginate("repos/o/r/issues")) == [7]
    assert session.calls[1]["url"] == f"{API}/repositories/42/issues?page=2"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_fails_the_item_instead_of_skipping_a_part(status):
    away = response(status, None, {"Location": "https://elsewhere.example.net/repos/o/r/hooks"})
    client, session, _ = client_with([away, away])
    with pytest.raises(UnexpectedRedirect, match="elsewhere.example.net") as raised:
        client.get_optional("repos/o/r/hooks")
    assert raised.value.status == status
    with pytest.raises(UnexpectedRedirect):
        client.list_optional("repos/o/r/hooks")
    assert len(session.calls) == 2  # nothing was sent to the other host
    assert TOKEN not in str(raised.value)


def test_a_redirect_loop_on_the_api_host_is_bounded():
    loop = response(302, None, {"Location": f"{API}/repos/o/r"})
    client, session, _ = client_with([loop] * 20)
    with pytest.raises(UnexpectedRedirect, match="redirects"):
        client.get("repos/o/r")
    assert len(session.calls) <= 6


def test_a_release_asset_download_still_follows_its_storage_redirect():
    def stored(**kwargs):
        assert kwargs["allow_redirects"] is True  # requests drops the token on the new host
        resp = response(200)
        resp.raw = io.BytesIO(b"asset")
        return resp

    client, _, _ = client_with([stored])
    sink = io.BytesIO()
    assert client.download(f"{API}/repos/o/r/releases/assets/1", sink) == 5


def test_the_token_is_sent_even_when_a_netrc_names_the_host(tmp_path, monkeypatch):
    """requests replaces an Authorization header with ~/.netrc credentials for the host when
    it is given no ``auth``; the client's token must win, and be the only credential sent."""
    import http.server
    import threading

    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    try:
        client = GitHubClient(
            f"http://127.0.0.1:{server.server_address[1]}", TokenCredentials(TOKEN)
        )
        client.get("user")
    finally:
        server.shutdown()
    assert seen == [f"Bearer {TOKEN}"]
