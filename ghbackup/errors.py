"""The core's exception hierarchy.

Adapters translate these and nothing else: the container entrypoint into exit codes and
one-line messages, the Lambda handlers into ASL error names (the class name), the CLI into
messages. Messages never contain a credential.
"""

from __future__ import annotations

import errno
from typing import Literal

from ghbackup import exit_codes

# How a full disk (or an exhausted quota) shows: the errno of a write, and the words git and
# git-lfs print for it (strerror of ENOSPC and EDQUOT, in the C locale they run with).
OUT_OF_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
OUT_OF_SPACE_MESSAGES = ("No space left on device", "Disk quota exceeded")


class BackupError(Exception):
    """Base of every error the core raises on purpose.

    ``retryable``: whether running the same capture again later can succeed (GitHub or
    storage being unavailable, a rate limit) as opposed to a final answer (not found,
    bad item, rejected token). A batch task exits non-zero only for retryable failures.
    """

    exit_code = exit_codes.FAILED
    retryable = False


class InvalidItem(BackupError, ValueError):
    """The item (or the execution input) is malformed; retrying cannot help. A ValueError
    too: an invalid item inside another record makes that record invalid."""

    exit_code = exit_codes.USAGE


class ConfigurationError(BackupError):
    """Missing or contradictory settings (no credentials, no destination...)."""

    exit_code = exit_codes.USAGE


class GitHubError(BackupError):
    """GitHub answered with an error we do not retry. ``status`` is the HTTP status;
    ``blocked`` says why and where when GitHub blocked the resource (a DMCA or ToS notice)."""

    exit_code = exit_codes.GITHUB

    def __init__(
        self, message: str, status: int | None = None, *, blocked: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.blocked = blocked


class NotFound(GitHubError):
    """The repository, gist or account does not exist or the token cannot see it."""


class AuthenticationFailed(GitHubError):
    """The token was rejected (revoked, expired, wrong)."""


class RateLimitExceeded(GitHubError):
    """Rate limited for longer than we are allowed to wait."""

    retryable = True


class UnexpectedRedirect(GitHubError):
    """An API request was redirected to another host (which must not get the token, and
    whose answer would mean nothing), or redirected too many times on the API host."""


class GitHubUnavailable(GitHubError):
    """5xx or connection errors outlasted the bounded retries."""

    retryable = True


class WriteOutcomeUnknown(GitHubUnavailable):
    """A creating request (POST) failed in a way that does not say whether GitHub acted on
    it (a 5xx, a dropped connection): look before creating the object again."""


GitFailureKind = Literal["not_found", "denied", "other"]

# What git and git-lfs print when the remote is not there, or refuses the credentials
# (GitHub answers a missing or private repository with 404 to git over HTTPS).
_GIT_NOT_FOUND = (
    "repository not found",
    "not found",
    "404",
    "does not appear to be a git repository",
)
_GIT_DENIED = ("authentication failed", "403", "permission denied", "access denied")


class GitCommandFailed(BackupError):
    """A git or git-lfs process failed or timed out; ``output`` is what it printed
    (secrets scrubbed). ``kind`` says what failed, read once from that output: the remote
    does not exist (``not_found``), refused the credentials (``denied``), or anything else
    (``other``: a cut connection, a timeout, a damaged object), which a retry may mend."""

    exit_code = exit_codes.GIT_FAILED
    retryable = True  # a network cut or a timeout; git's own retries have run out

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output
        self.kind: GitFailureKind = _git_failure_kind(f"{message}\n{output}")


def _git_failure_kind(text: str) -> GitFailureKind:
    lowered = text.lower()
    if any(hint in lowered for hint in _GIT_NOT_FOUND):
        return "not_found"
    if any(hint in lowered for hint in _GIT_DENIED):
        return "denied"
    return "other"


class StorageError(BackupError):
    """Writing the archive or the result (S3 or disk) failed. ``code`` is S3's error code
    (``NoSuchKey``, ``InvalidObjectState``...) when S3 gave one."""

    exit_code = exit_codes.STORAGE
    retryable = True

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class CredentialsUnavailable(BackupError):
    """The stored GitHub credentials could not be read: SSM or Secrets Manager did not
    answer, or kept failing, through the bounded retries. Another try later may succeed."""

    exit_code = exit_codes.AWS
    retryable = True


class VerifyAtWriteFailed(StorageError):
    """An item zip just written failed the checks of ``ghbackup verify`` (a checksum, a
    bundle that git will not fetch or fsck, refs other than the manifest's), so it was not
    stored. Retried as a storage fault is: what the capture wrote is damaged (a disk, memory,
    a process cut short), not what GitHub holds, so capturing again can succeed."""


class UnexpectedError(BackupError):
    """Not an error we raise on purpose: a bug. Recorded so the run still reports the item."""

    exit_code = exit_codes.BUG


class ArchiveCorrupt(BackupError):
    """An archive fails verification: a checksum, a bundle, a missing or extra entry."""

    exit_code = exit_codes.ARCHIVE_CORRUPT


class NotAnArchive(BackupError):
    """What was given as an archive is not one: no such file, a directory, or a zip that
    holds no ghbackup manifest. Wrong input rather than damage (that is ArchiveCorrupt)."""

    exit_code = exit_codes.USAGE


class RunAlreadyExists(BackupError):
    """The run id is taken: another execution's run zip or manifest exists (or, locally,
    another run has the output folder). Nothing of it is replaced."""

    exit_code = exit_codes.USAGE


class InvalidInput(BackupError):
    """The execution input does not match ghbackup/input.schema.json; the message names the
    field. Raised by the validation Lambda, so it is also the ASL error name."""

    exit_code = exit_codes.USAGE


def is_out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for lack of disk space or quota."""
    return isinstance(exc, OSError) and exc.errno in OUT_OF_SPACE_ERRNOS


# -- operating a deployed stack (the CLI's exit codes tell these apart) ---------------------


class UnknownRun(BackupError):
    """The bucket holds no manifest for this run id."""

    exit_code = exit_codes.UNKNOWN_RUN


class ItemNotInRun(BackupError):
    """The run does not hold this repository (or item), or it failed in that run."""

    exit_code = exit_codes.ITEM_NOT_IN_RUN


class NotAGhbackupBucket(BackupError):
    """The bucket does not exist or holds something other than ghbackup runs."""

    exit_code = exit_codes.NOT_A_GHBACKUP_BUCKET


class AwsCredentialsMissing(BackupError):
    """boto3 found no AWS credentials, or AWS rejected them."""

    exit_code = exit_codes.NO_AWS_CREDENTIALS


class ManifestWithoutByteRanges(BackupError):
    """The run manifest predates byte ranges: one item cannot be read on its own."""

    exit_code = exit_codes.NO_BYTE_RANGES


class NoWarmCopy(BackupError):
    """No ``latest/<item key>/item.zip`` exists for the item."""

    exit_code = exit_codes.NO_WARM_COPY


class RetrievalNotAvailable(BackupError):
    """S3 refuses this retrieval tier for this object (Expedited over 250 MB, Deep Archive)."""

    exit_code = exit_codes.TIER_NOT_AVAILABLE


class AwsError(BackupError):
    """Any other AWS failure: access denied, throttled past the retries, unreachable."""

    exit_code = exit_codes.AWS


class RestoreInProgress(BackupError):
    """The run zip is being restored from Glacier: run the same command again later.
    75 is EX_TEMPFAIL: a temporary failure, try again."""

    exit_code = exit_codes.RESTORE_IN_PROGRESS


def exit_code_for(error_type: str | None) -> int:
    """The exit code of a BackupError subclass named ``error_type`` (a result record's
    ``error_type``); 1 for anything else."""
    cls = globals().get(error_type or "")
    return cls.exit_code if isinstance(cls, type) and issubclass(cls, BackupError) else 1


def is_retryable(error_type: str | None) -> bool:
    """Whether a failure recorded as ``error_type`` (a result record's) may succeed when
    captured again; unknown names are final, so a failure never loops."""
    cls = globals().get(error_type or "")
    return isinstance(cls, type) and issubclass(cls, BackupError) and cls.retryable
