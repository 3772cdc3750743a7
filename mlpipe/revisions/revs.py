"""Naming a revision: the commit a rev names, or one line saying why there is none here.

In a shallow clone (a CI checkout with `fetch-depth: 1`) the base of a pull request and the
parents of its merge commit are usually absent; the message then says what to fetch.
"""

from __future__ import annotations

from pathlib import Path

from mlpipe.errors import UsageError
from mlpipe.vcs import gitinfo


def commit_of(path: Path, rev: str) -> str:
    """The sha of the commit `rev` names in the repository holding `path`.

    Raises:
        UsageError: Not a git repository, or `rev` names no commit this clone holds (with
            what to fetch when the clone is shallow).
    """
    found = gitinfo.resolve_rev(path, rev)
    if found is not None:
        return found
    if gitinfo.repo_root(path) is None:
        raise UsageError(f"{rev}: {path} is not inside a git repository")
    if gitinfo.is_shallow(path):
        raise UsageError(f"{rev}: not in this shallow clone; {fetch_hint(rev)}")
    raise UsageError(f"{rev}: not a revision of the git repository at {path}")


def fetch_hint(rev: str) -> str:
    """What to fetch so a shallow clone holds `rev`."""
    if any(c in rev for c in "~^@:"):
        return ("fetch the history it needs (`git fetch --deepen=N`), or check out with "
                "fetch-depth: 0")
    remote, _, branch = rev.partition("/")
    if not branch:
        remote, branch = "origin", rev
    return (f"fetch it with `git fetch --depth=1 {remote} {branch}` (or check out with "
            "fetch-depth: 0)")
