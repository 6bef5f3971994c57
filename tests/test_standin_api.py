"""The stand-in's REST API behaves as GitHub documents: pagination, ETags, rate limits, faults."""

from __future__ import annotations

import re
import time

import pytest
import requests

LINK = re.compile(r'<([^>]+)>; rel="(next|last|first|prev)"')


def get(gh, path, token=None, **kw):
    headers = kw.pop("headers", {})
    headers.setdefault("Authorization", f"token {token or gh.token}")
    url = path if path.startswith("http") else gh.api_url + path
    return requests.get(url, headers=headers, timeout=10, **kw)


def links(resp):
    return {rel: url for url, rel in LINK.findall(resp.headers.get("Link", ""))}


def test_link_pagination_walks_repositories_id_next_links_to_every_issue(standin):
    everything = get(standin, "/repos/acme/repo-000/issues?state=all&per_page=100").json()
    assert len(everything) >= 4
    resp = get(standin, "/repos/acme/repo-000/issues?state=all&per_page=2")
    first = links(resp)
    repo_id = standin.repository("acme/repo-000").id
    assert first["next"].startswith(f"{standin.api_url}/repositories/{repo_id}/issues?")
    assert "prev" not in first and "first" not in first
    seen = resp.json()
    url = first["next"]
    while url:
        resp = get(standin, url)
        assert resp.status_code == 200
        rels = links(resp)
        assert rels["first"].endswith("page=1") and "prev" in rels
        seen += resp.json()
        url = rels.get("next")
    assert [i["number"] for i in seen] == [i["number"] for i in everything]
    assert any("pull_request" in i for i in everything)  # issues list includes PRs


def test_link_header_is_formatted_like_github(standin):
    resp = get(standin, "/orgs/acme/repos?per_page=2&page=2")
    parts = [p.strip() for p in resp.headers["Link"].split(",")]
    assert [p.split("; ")[1] for p in parts] == [
        'rel="prev"',
        'rel="next"',
        'rel="last"',
        'rel="first"',
    ]
    assert "per_page=2" in parts[1] and "page=3" in parts[1]


def test_per_page_is_capped_at_100_and_defaults_to_30(standin):
    owner = standin.repository("acme/repo-000")
    resp = get(standin, "/orgs/acme/repos?per_page=500")
    assert len(resp.json()) == 5 and "Link" not in resp.headers
    assert owner.id in {r["id"] for r in resp.json()}


def test_every_response_carries_rate_limit_headers_and_spends_budget(standin):
    a = get(standin, "/repos/acme/repo-000")
    b = get(standin, "/repos/acme/repo-000/labels")
    for h in ("Limit", "Remaining", "Used", "Reset", "Resource"):
        assert f"X-RateLimit-{h}" in a.headers
    assert int(b.headers["X-RateLimit-Remaining"]) == int(a.headers["X-RateLimit-Remaining"]) - 1
    assert int(b.headers["X-RateLimit-Used"]) == int(a.headers["X-RateLimit-Used"]) + 1


def test_etag_if_none_match_answers_304_without_rate_cost(standin):
    first = get(standin, "/repos/acme/repo-000")
    etag = first.headers["ETag"]
    again = get(
        standin,
        "/repos/acme/repo-000",
        headers={"Authorization": f"token {standin.token}", "If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["X-RateLimit-Remaining"] == first.headers["X-RateLimit-Remaining"]


def test_disabled_issues_answer_410_and_empty_repository_commits_409(standin):
    assert get(standin, "/repos/acme/repo-003/issues").status_code == 410
    assert get(standin, "/repos/acme/repo-002/commits").status_code == 409
    assert get(standin, "/repos/acme/repo-002/branches").json() == []


def test_private_repository_is_404_without_token(standin):
    private = next(n for n in standin.repository_names() if standin.repository(n).private)
    assert requests.get(f"{standin.api_url}/repos/{private}", timeout=10).status_code == 404
    assert get(standin, f"/repos/{private}").status_code == 200


def test_bad_token_is_401_bad_credentials(standin):
    resp = get(standin, "/user", token="ghp_nope")
    assert resp.status_code == 401 and resp.json()["message"] == "Bad credentials"


def test_branch_protection_404_when_unprotected_403_for_non_admin(standin):
    repo = standin.repository("acme/repo-000")
    protected = next(iter(repo.protected))
    unprotected = next(b for b in repo.branches if b not in repo.protected)
    base = "/repos/acme/repo-000/branches"
    assert get(standin, f"{base}/{protected}/protection").status_code == 200
    assert get(standin, f"{base}/{unprotected}/protection").status_code == 404
    resp = get(standin, f"{base}/{protected}/protection", token=standin.reader_token)
    assert resp.status_code == 403
    assert get(standin, "/repos/acme/repo-000/hooks", token=standin.reader_token).status_code in (
        403,
        404,
    )


def test_release_asset_download_redirects_to_unauthenticated_host(standin):
    rel = get(standin, "/repos/acme/repo-000/releases").json()[0]
    asset = rel["assets"][0]
    resp = get(
        standin,
        asset["url"],
        headers={"Authorization": f"token {standin.token}", "Accept": "application/octet-stream"},
        allow_redirects=False,
    )
    assert resp.status_code == 302
    body = requests.get(resp.headers["Location"], timeout=10)  # no credentials there
    assert body.status_code == 200 and len(body.content) == asset["size"]


def test_server_error_burst_then_recovery(standin):
    standin.faults.server_errors(2)
    codes = [get(standin, "/repos/acme/repo-000").status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_too_many_requests_and_secondary_limit_carry_retry_after(standin):
    standin.faults.too_many_requests(1, retry_after=7)
    standin.faults.secondary_rate_limit(1, retry_after=3)
    r429 = get(standin, "/repos/acme/repo-000")
    r403 = get(standin, "/repos/acme/repo-000")
    assert (r429.status_code, r429.headers["Retry-After"]) == (429, "7")
    assert (r403.status_code, r403.headers["Retry-After"]) == (403, "3")
    assert "secondary rate limit" in r403.json()["message"]
    assert get(standin, "/repos/acme/repo-000").status_code == 200


def test_secondary_limit_without_retry_after(standin):
    standin.faults.secondary_rate_limit(1, retry_after=None)
    resp = get(standin, "/user")
    assert resp.status_code == 403 and "Retry-After" not in resp.headers


def test_primary_limit_exhausted_until_refusals_used_up(standin):
    standin.faults.exhaust_rate_limit(reset_in=600, requests=1)
    resp = get(standin, "/user")
    assert resp.status_code == 403
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert int(resp.headers["X-RateLimit-Reset"]) > time.time()
    assert resp.json()["message"].startswith("API rate limit exceeded")
    assert get(standin, "/user").status_code == 200


def test_revoked_token_is_refused_everywhere(standin):
    standin.faults.revoke_token()
    assert get(standin, "/user").json()["message"] == "Bad credentials"
    git = requests.get(
        f"{standin.web_url}/acme/repo-000.git/info/refs?service=git-upload-pack",
        auth=("x-access-token", standin.token),
        timeout=10,
    )
    assert git.status_code == 401


def test_fail_permanently_is_scoped_to_one_repository(standin):
    standin.fail_permanently("acme/repo-001")
    for _ in range(3):
        assert get(standin, "/repos/acme/repo-001").status_code == 500
    repo_id = standin.repository("acme/repo-001").id
    assert get(standin, f"/repositories/{repo_id}/labels").status_code == 500
    assert get(standin, "/repos/acme/repo-000").status_code == 200
    git = requests.get(
        f"{standin.web_url}/acme/repo-001.git/info/refs?service=git-upload-pack",
        auth=("x", standin.token),
        timeout=10,
    )
    assert git.status_code == 500
    standin.faults.clear()
    assert get(standin, "/repos/acme/repo-001").status_code == 200


def test_scope_does_not_match_longer_names():
    from tests.standin.faults import scope_matches

    assert scope_matches("acme/repo-007", "/repos/acme/repo-007/issues")
    assert scope_matches("acme/repo-007", "/acme/repo-007.git/info/refs")
    assert not scope_matches("acme/repo-007", "/repos/acme/repo-0070")


def test_slow_responses(standin):
    standin.faults.slow(300, count=1)
    start = time.monotonic()
    get(standin, "/user")
    assert time.monotonic() - start >= 0.3


def test_cut_download_closes_after_partial_body(standin):
    rel = get(standin, "/repos/acme/repo-000/releases").json()[0]
    asset = rel["assets"][0]
    standin.faults.cut_download("acme/repo-000")
    with pytest.raises(requests.exceptions.RequestException):
        resp = get(
            standin,
            asset["url"],
            headers={
                "Authorization": f"token {standin.token}",
                "Accept": "application/octet-stream",
            },
        )
        resp.raise_for_status()
        assert len(resp.content) == asset["size"]


def test_large_asset_streams_without_being_stored(standin):
    asset = standin.add_large_asset("acme/repo-000", 50 * 1024 * 1024)
    resp = get(
        standin,
        f"/repos/acme/repo-000/releases/assets/{asset.id}",
        headers={"Authorization": f"token {standin.token}", "Accept": "application/octet-stream"},
        stream=True,
    )
    assert int(resp.headers["Content-Length"]) == asset.size
    assert sum(len(c) for c in resp.iter_content(1 << 20)) == asset.size


def test_request_log_records_api_calls(standin):
    standin.reset_request_log()
    get(standin, "/repos/acme/repo-000")
    get(standin, "/repos/acme/nope")
    assert standin.request_log == [
        ("GET", "/api/v3/repos/acme/repo-000", 200),
        ("GET", "/api/v3/repos/acme/nope", 404),
    ]


def test_root_and_api_v3_prefix_serve_the_same(standin):
    a = get(standin, "/repos/acme/repo-000").json()
    b = get(standin, f"{standin.web_url}/repos/acme/repo-000").json()
    assert a == b
