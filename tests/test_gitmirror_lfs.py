"""Reading git-lfs's output: what GitHub cannot serve is told apart from what may pass."""

from __future__ import annotations

from ghbackup.gitmirror import _unservable

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"


def test_objects_github_does_not_have_are_counted_and_named():
    oids = [f"{n:x}" * 64 for n in range(7)]
    output = "fetch: 9 objects found, done.\nfetch: Fetching all references...\n"
    output += "\n".join(f"[{oid}] Object does not exist on the server: [404] Object does not "
                       "exist on the server" for oid in [*oids, oids[0]])  # fmt: skip
    output += "\nerror: failed to fetch some objects from 'https://github.com/a/b.git/info/lfs'"
    assert _unservable(output) == (
        "7 LFS object(s) not on GitHub: " + ", ".join(o[:12] for o in oids[:5]) + " ..."
    )


def test_an_exhausted_bandwidth_quota_is_reported_as_such():
    output = (
        "batch response: This repository is over its data quota. Account responsible for "
        "LFS bandwidth should purchase more data packs to restore access.\n"
        "error: failed to fetch some objects from 'https://github.com/a/b.git/info/lfs'"
    )
    assert "quota is used up" in (_unservable(output) or "")


def test_other_failures_are_left_to_the_retries_even_beside_a_missing_object():
    missing = (
        f"[{OID}] Object does not exist on the server: [404] Object does not exist on the server"
    )
    for output in (
        f"{missing}\nFatal error: Server error https://github.com/a/b.git/info/lfs from HTTP 502",
        f"{missing}\n[{'e' * 64}] Error: [500] Internal Server Error",
        'batch response: Post "https://github.com/a/b.git/info/lfs/objects/batch": EOF',
        f"[{OID}] Error: [500] Internal Server Error",
        f"[{OID}] Object does not exist: [403] Forbidden",
        "error: failed to fetch some objects from 'https://github.com/a/b.git/info/lfs'",
    ):
        assert _unservable(output) is None
