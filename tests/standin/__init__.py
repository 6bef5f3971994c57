"""A local stand-in for github.com: REST API, git over smart HTTP, LFS, faults on demand."""

from tests.standin.faults import Faults
from tests.standin.model import AccountSpec
from tests.standin.standin import GitHubStandIn

__all__ = ["AccountSpec", "Faults", "GitHubStandIn"]
