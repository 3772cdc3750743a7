"""A past commit's pipeline in a temporary git worktree that shares this checkout's cache.

`status_at` says what would run if the work tree were at a revision; `reproduce` rebuilds that
revision's outputs and compares each output's hash with what the revision's lock file records.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlpipe import api
from mlpipe.core.planner import Plan
from mlpipe.errors import UsageError
from mlpipe.execute.events import Event
from mlpipe.revisions.revs import commit_of
from mlpipe.state import lockfile
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo


@dataclass(frozen=True)
class OutputCheck:
    """One output of the revision: the hash its lock file records, and the rebuilt one."""

    stage: str
    path: str
    expected: str | None
    actual: str | None

    @property
    def matches(self) -> bool:
        return self.expected is not None and self.expected == self.actual


@dataclass(frozen=True)
class Reproduction:
    """The outcome of `reproduce`."""

    rev: str
    commit: str
    report: api.RunReport
    checks: tuple[OutputCheck, ...]

    @property
    def ok(self) -> bool:
        return self.report.ok and all(check.matches for check in self.checks)


@contextmanager
def _at(pipeline_file: Path, rev: str) -> Iterator[tuple[Path, str]]:
    """(pipeline file inside a worktree at `rev`, commit sha)."""
    pipeline_file = pipeline_file.absolute()
    commit = commit_of(pipeline_file.parent, rev)
    top = gitinfo.repo_root(pipeline_file.parent)
    assert top is not None  # commit_of found a repository
    with gitinfo.worktree(pipeline_file.parent, commit) as tree:
        moved = tree / pipeline_file.resolve().relative_to(top.resolve())
        if not moved.is_file():
            raise UsageError(f"{rev}:{moved.relative_to(tree)}: no pipeline file at that revision")
        yield moved, commit


@contextmanager
def _scratch_state(state: Path) -> Iterator[Path]:
    """A state directory for a rebuild: this checkout's cache, shared, and a copy of its
    registry, so a rebuilt model gets the version it had (same bytes, same version) while
    aliases and versions here do not move."""
    from mlpipe.models.registry import DB_NAME

    with tempfile.TemporaryDirectory(prefix="mlpipe-reproduce-") as tmp:
        scratch = Path(tmp)
        (state / "cache").mkdir(parents=True, exist_ok=True)
        (scratch / "cache").symlink_to(state / "cache", target_is_directory=True)
        if (state / DB_NAME).is_file():
            with closing(sqlite3.connect(state / DB_NAME)) as source, \
                    closing(sqlite3.connect(scratch / DB_NAME)) as copy:
                source.backup(copy)
        yield scratch


def status_at(pipeline_file: Path, rev: str) -> Plan:
    """What would run if the work tree were at `rev` (this checkout's cache counts)."""
    state = Workspace.for_file(pipeline_file).state_dir
    with _at(pipeline_file, rev) as (moved, _):
        return api.status(moved, shared_state=state)


def reproduce(pipeline_file: Path, rev: str, force: bool = True, jobs: int = 1,
              on_event: Callable[[Event], None] = lambda _: None) -> Reproduction:
    """Rebuild `rev`'s outputs and compare them with its lock file.

    Args:
        pipeline_file: The pipeline file in this checkout.
        rev: The revision to rebuild.
        force: Execute every stage (True) or let the shared cache restore what it can.
        jobs: Stages run at once.
        on_event: Progress callback.

    Raises:
        UsageError: No such revision, no pipeline file there, or no lock file to compare with.
    """
    state = Workspace.for_file(pipeline_file).state_dir
    with _at(pipeline_file, rev) as (moved, commit), _scratch_state(state) as scratch:
        lock_path = moved.with_suffix(".lock")
        if not lock_path.is_file():
            raise UsageError(f"{rev}:{lock_path.name}: no lock file committed at that revision; "
                             "nothing to compare with")
        recorded = lockfile.read(lock_path)
        options = api.RunOptions(force=force, jobs=jobs, shared_state=scratch)
        report = api.run(moved, options, on_event)
        rebuilt = lockfile.read(lock_path)
    checks = tuple(
        OutputCheck(name, path, digest,
                    rebuilt[name].outs.get(path) if name in rebuilt else None)
        for name, entry in sorted(recorded.items()) for path, digest in sorted(entry.outs.items()))
    return Reproduction(rev, commit, report, checks)
