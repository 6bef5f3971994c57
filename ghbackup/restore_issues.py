"""Issues and pull requests restored to GitHub, with their conversations.

GitHub's API cannot set an author or a date, so every body starts with one attribution line
(original author, time, link). Where the target is new, numbers are preserved: items are
created in number order, and a number the archive does not hold (a deleted or transferred
issue) gets a closed placeholder. A pull request whose head and base branches exist in the
target is created as a pull request (closed again if it was closed or merged: GitHub cannot
re-merge); any other becomes an issue marked as a pull request, keeping its number. Review
comments and reviews become conversation comments, quoting their file, line and diff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ghbackup.errors import GitHubError, NotFound
from ghbackup.restore_source import items

if TYPE_CHECKING:
    from ghbackup.restore_github import Restorer

MAX_BODY = 65536  # GitHub refuses longer issue and comment bodies
MARK = " · originally "
CLOSED_REASONS = (
    "completed",
    "not_planned",
    "duplicate",
)  # state_reason of a closed issue  # in every attribution line, before the original's link


def strip_attribution(body: str | None) -> str:
    """A restored body without the attribution line (and the blank line after it)."""
    text = body or ""
    first, _, rest = text.partition("\n")
    if first.startswith("> ") and MARK in first:
        return rest[1:] if rest.startswith("\n") else rest
    return text


def _who(obj: dict[str, Any]) -> str:
    user = obj.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return f"@{login}" if isinstance(login, str) else "a deleted user"


def _line(what: str, obj: dict[str, Any], when: Any, link: str) -> str:
    url = obj.get("html_url")
    where = f"[{link}]({url})" if isinstance(url, str) else link
    return f"> **{_who(obj)}** {what} on {when or 'an unknown date'}{MARK}{where}"


def _with_body(line: str, body: Any) -> str:
    text = f"{line}\n\n{body}" if isinstance(body, str) and body else line
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 40] + "\n\n_(truncated)_"


def item_body(full_name: str, number: int, data: dict[str, Any], note: str = "") -> str:
    line = _line("opened this", data, data.get("created_at"), f"{full_name}#{number}") + note
    return _with_body(line, data.get("body"))


def conversation(pull: dict[str, Any] | None, issue: dict[str, Any]) -> list[tuple[str, str]]:
    """(journal key, body) of every comment, review and review comment, oldest first."""
    out: list[tuple[str, str, str]] = []
    regular = items(issue.get("comment_regular_data" if pull else "comment_data"))
    for i, c in enumerate(regular):
        if isinstance(c, dict):
            line = _line("commented", c, c.get("created_at"), "comment")
            out.append((str(c.get("created_at")), _key("c", c, i), _with_body(line, c.get("body"))))
    if pull:
        for i, r in enumerate(items(pull.get("review_data"))):
            if isinstance(r, dict) and r.get("state") != "PENDING":
                state = str(r.get("state", "")).replace("_", " ").lower()
                line = _line(f"reviewed ({state})", r, r.get("submitted_at"), "review")
                out.append(
                    (str(r.get("submitted_at")), _key("r", r, i), _with_body(line, r.get("body")))
                )
        for i, c in enumerate(items(pull.get("comment_data"))):
            if isinstance(c, dict):
                where = f"`{c.get('path')}` line {c.get('line') or c.get('original_line')}"
                commit = str(c.get("original_commit_id") or c.get("commit_id") or "")[:12]
                line = _line(
                    f"commented on {where} ({commit})", c, c.get("created_at"), "review comment"
                )
                hunk = c.get("diff_hunk")
                quoted = f"```diff\n{hunk}\n```\n\n" if isinstance(hunk, str) and hunk else ""
                out.append((str(c.get("created_at")), _key("rc", c, i),
                              _with_body(line, quoted + str(c.get("body") or ""))))  # fmt: skip
    out.sort(key=lambda t: t[0])
    return [(key, body) for _, key, body in out]


def _key(kind: str, obj: dict[str, Any], index: int) -> str:
    """A comment's journal key: its id, or its place when the archive lacks one."""
    ident = obj.get("id")
    return f"{kind}{ident}" if isinstance(ident, int) else f"{kind}#{index}"


def planned_writes(source: Any, number: int, include_closed: bool) -> int:
    """Writes to restore item ``number`` (create, comments, final update)."""
    data = source.pulls.get(number) or source.issues.get(number)
    if data is None or (data.get("state") == "closed" and not include_closed):
        return 2  # a closed placeholder
    pull = source.pulls.get(number)
    closing = data.get("state") == "closed" or bool(
        pull and (data.get("labels") or data.get("milestone"))
    )
    return 1 + len(conversation(pull, data)) + int(closing)


def restore_items(r: Restorer) -> None:
    src = r.source
    numbers = sorted(set(src.issues) | set(src.pulls))
    last = numbers[-1] if numbers else 0
    wanted = range(1, last + 1) if r.preserve_numbers else numbers
    for number in wanted:
        data = src.pulls.get(number) or src.issues.get(number)
        if data is None or (data.get("state") == "closed" and not r.include_closed):
            if r.preserve_numbers:
                _placeholder(r, number)
            continue
        _restore_one(r, number, data, src.pulls.get(number))


def _find_item(r: Restorer, number: int, body: str) -> dict[str, Any] | None:
    """The target item created for source ``number`` by an earlier, interrupted attempt."""
    first = body.split("\n", 1)[0]
    if r.preserve_numbers:
        try:
            found = r.client.get(f"{r.base}/issues/{number}")
        except NotFound:
            return None
        return found if (found.get("body") or "").split("\n", 1)[0] == first else None
    for item in r.client.paginate(
        f"{r.base}/issues", {"state": "all", "sort": "created", "direction": "desc"}
    ):
        if (item.get("body") or "").split("\n", 1)[0] == first:
            return item
    return None


def _placeholder(r: Restorer, number: int) -> None:
    key = f"issue:{number}"
    entry = r.journal.get(key)
    body = (
        f"> **ghbackup** kept this number free{MARK}{r.source.full_name}#{number}\n\n"
        "This number was deleted or transferred before the backup, or not restored."
    )
    if entry is None:
        entry = r.create(
            "placeholders",
            key,
            f"{r.base}/issues",
            {"title": f"Placeholder for #{number}", "body": body},
            lambda: _find_item(r, number, body),
            lambda obj: {"number": obj["number"], "kind": "placeholder", "finished": False},
        )
    if not entry["finished"]:
        r.write(
            "PATCH",
            f"{r.base}/issues/{entry['number']}",
            {"state": "closed", "state_reason": "not_planned"},
        )
        r.journal.done(key, {**entry, "finished": True})


def _restore_one(
    r: Restorer, number: int, data: dict[str, Any], pull: dict[str, Any] | None
) -> None:
    key = f"issue:{number}"
    entry = r.journal.get(key)
    if entry is not None and entry.get("finished"):
        return
    if entry is None:
        entry = _create(r, number, data, pull)
    target = entry["number"]
    if r.preserve_numbers and target != number:
        r.warn(f"#{number} was restored as #{target}: the target's numbering moved on")
    for ckey, body in conversation(pull, data):
        r.create(
            "comments",
            f"comment:{number}:{ckey}",
            f"{r.base}/issues/{target}/comments",
            {"body": body},
            lambda body=body: _find_comment(r, target, body),
            lambda obj: obj["id"],
        )
    update: dict[str, Any] = {}
    if entry["kind"] == "pull":
        update.update(_extras(r, data))
    if data.get("state") == "closed":
        update["state"] = "closed"
        if entry["kind"] != "pull" and data.get("state_reason") in CLOSED_REASONS:
            update["state_reason"] = data["state_reason"]
    if update:
        r.write("PATCH", f"{r.base}/issues/{target}", update)
    r.journal.done(key, {**entry, "finished": True})


def _extras(r: Restorer, data: dict[str, Any]) -> dict[str, Any]:
    """Labels, milestone and assignees of the source item, as the target knows them."""
    out: dict[str, Any] = {}
    labels = [
        lb["name"] for lb in items(data.get("labels")) if isinstance(lb, dict) and lb.get("name")
    ]
    if labels:
        out["labels"] = labels
    ms = data.get("milestone")
    if isinstance(ms, dict):
        mapped = r.journal.get(f"milestone:{ms.get('number')}")
        if mapped is not None:
            out["milestone"] = mapped
    people = [a.get("login") for a in items(data.get("assignees")) if isinstance(a, dict)]
    assignable = [p for p in people if isinstance(p, str) and r.assignable(p)]
    if assignable:
        out["assignees"] = assignable
    return out


def _create(
    r: Restorer, number: int, data: dict[str, Any], pull: dict[str, Any] | None
) -> dict[str, Any]:
    src = r.source
    title = str(data.get("title") or f"#{number}")
    if pull is not None:
        head, base = (
            x if isinstance(x, dict) else {} for x in (pull.get("head"), pull.get("base"))
        )
        repo = head.get("repo")
        head_repo = repo.get("full_name") if isinstance(repo, dict) else None
        branches = r.target_branches
        merged = pull.get("merged_at")
        note = (
            f" · merged in {str(pull.get('merge_commit_sha'))[:12]} on {merged}" if merged else ""
        )
        reason = "its branches are not in the target"
        if (
            head_repo == src.full_name
            and head.get("ref") in branches
            and base.get("ref") in branches
        ):
            body = item_body(src.full_name, number, data, note)
            try:
                entry = r.create(
                    "pulls",
                    f"issue:{number}",
                    f"{r.base}/pulls",
                    {"title": title, "head": head["ref"], "base": base["ref"], "body": body},
                    lambda: _find_item(r, number, body),
                    lambda obj: {"number": obj["number"], "kind": "pull", "finished": False},
                )
                return entry
            except GitHubError as exc:
                if exc.status != 422:
                    raise
                r.warn(f"#{number}: GitHub refused the pull request ({exc}); restored as an issue")
                reason = "GitHub refused it as a pull request"
        note += f" · a pull request from `{head.get('ref')}` into `{base.get('ref')}`, restored as an issue ({reason})"
    else:
        note = ""
    body = item_body(src.full_name, number, data, note)
    entry = r.create(
        "pulls as issues" if pull is not None else "issues",
        f"issue:{number}",
        f"{r.base}/issues",
        {"title": title, "body": body, **_extras(r, data)},
        lambda: _find_item(r, number, body),
        lambda obj: {
            "number": obj["number"],
            "kind": "issue" if pull is None else "pull-as-issue",
            "finished": False,
        },
    )
    return entry


def _find_comment(r: Restorer, target: int, body: str) -> dict[str, Any] | None:
    first = body.split("\n", 1)[0]
    for c in r.client.paginate(f"{r.base}/issues/{target}/comments"):
        if (c.get("body") or "").split("\n", 1)[0] == first:
            return c
    return None
