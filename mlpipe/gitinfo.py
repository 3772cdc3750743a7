"""Everything mlpipe asks git, behind small typed functions; the only module importing gitpython.

Outside a git repository, or without git installed, every function answers None/False/{}
instead of raising: mlpipe works in a plain directory too, it just records no commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from git import Repo


_REPOS: dict[Path, Repo] = {}


def _repo(path: Path) -> Repo | None:
    """The repository holding `path`; found repositories are remembered, misses are not."""
    if path in _REPOS:
        return _REPOS[path]
    try:
        import git
    except ImportError:  # git executable missing
        return None
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return None
    _REPOS[path] = repo
    return repo


def repo_root(path: Path) -> Path | None:
    """The work tree that holds `path`, or None."""
    repo = _repo(path)
    return Path(repo.working_tree_dir) if repo and repo.working_tree_dir else None


def head_commit(path: Path) -> str | None:
    """The commit HEAD points at, or None (no repository, or no commit yet)."""
    repo = _repo(path)
    if repo is None:
        return None
    try:
        return repo.head.commit.hexsha
    except ValueError:
        return None


def is_dirty(path: Path) -> bool:
    """Whether tracked files differ from HEAD (untracked files do not count)."""
    repo = _repo(path)
    return bool(repo and repo.is_dirty(untracked_files=False))


def clean_blob_ids(path: Path, files: Iterable[Path]) -> dict[Path, str]:
    """Git blob ids of those `files` that are tracked and unmodified in the work tree."""
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return {}
    top = Path(repo.working_tree_dir)
    rel = {}
    for file in files:
        try:
            rel[file.relative_to(top).as_posix()] = file
        except ValueError:
            continue
    if not rel:
        return {}
    import git

    try:
        staged = repo.git.ls_files("-s", "-z", "--", *rel).split("\0")
        modified = set(repo.git.diff_files("--name-only", "-z", "--", *rel).split("\0"))
    except git.GitCommandError:
        return {}
    blobs: dict[Path, str] = {}
    for row in filter(None, staged):
        meta, _, name = row.partition("\t")
        if name in rel and name not in modified:
            blobs[rel[name]] = meta.split()[1]
    return blobs


def hooks_dir(path: Path) -> tuple[Path, Path] | None:
    """The work tree's top and its hooks directory (honouring core.hooksPath), or None."""
    repo = _repo(path)
    if repo is None or repo.working_tree_dir is None:
        return None
    top = Path(repo.working_tree_dir)
    return top, top / repo.git.rev_parse("--git-path", "hooks")
