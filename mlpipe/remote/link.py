"""A remote tied to one pipeline: which remote (flag, config, pipeline file), and the three
things commands do with it: push, pull, and the run-cache lookup of `mlpipe run --pull`.

During `run --pull` the remote is a help, not a requirement: when it cannot be reached or an
object fails its check, a warning says so and the run goes on locally (the stages concerned
run instead of being restored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import RemoteError
from mlpipe.remote import config
from mlpipe.remote.cache import RemoteStore
from mlpipe.remote.fs import open_remote
from mlpipe.remote.sync import (
    DEFAULT_JOBS,
    TransferFailure,
    TransferResult,
    Wanted,
    pull,
    push,
    wanted,
)
from mlpipe.spec.model import PipelineSpec, StageSpec
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import RunCache
from mlpipe.state.workspace import Workspace


def choose(workspace: Workspace, spec: PipelineSpec, flag: str | None) -> RemoteStore:
    """The remote a command uses (see `mlpipe.remote.config.choose`), opened.

    Raises:
        RemoteConfigError: None is set, the flag names no remote, or it cannot be opened.
    """
    chosen = config.choose(flag, config.read(config.config_path(workspace.state_dir)),
                           spec.remote, workspace.root, Path.cwd())
    return RemoteStore(open_remote(chosen.url, chosen.options))


@dataclass(frozen=True)
class Local:
    """The local side of a transfer: the object store and the run-cache."""

    store: ObjectStore
    runcache: RunCache

    @classmethod
    def of(cls, workspace: Workspace, warn: Callable[[str], None] = lambda _: None) -> Local:
        return cls(ObjectStore(workspace.objects_dir), RunCache(workspace.runs_dir, warn))


def push_lock(remote: RemoteStore, local: Local, lock: Mapping[str, LockEntry],
              stages: Iterable[StageSpec], jobs: int = DEFAULT_JOBS,
              data: Mapping[str, str] | None = None) -> TransferResult:
    """Upload what the lock file records for these stages, and the versioned `data`
    (digest -> where it is used).

    Raises:
        RemoteError: The remote cannot be reached or listed.
    """
    def commit_of(key: str) -> str | None:
        entry = local.runcache.get(key)
        return entry.commit if entry is not None else None

    what = wanted(lock, stages, commit_of)
    return push(remote, local.store, Wanted({**(data or {}), **what.objects}, what.entries),
                jobs)


def pull_lock(remote: RemoteStore, local: Local, lock: Mapping[str, LockEntry],
              stages: Iterable[StageSpec], jobs: int = DEFAULT_JOBS,
              data: Mapping[str, str] | None = None) -> TransferResult:
    """Download what the lock file records for these stages, and the versioned `data`.

    Raises:
        RemoteError: The remote cannot be reached or listed.
    """
    what = wanted(lock, stages)
    return pull(remote, local.store, local.runcache, {**(data or {}), **what.objects},
                what.entries, jobs)


def failure_error(result: TransferResult) -> RemoteError:
    """The one-line error for a transfer that left something behind."""
    first = result.failures[0]
    if not result.reached:
        return RemoteError(result.url, first.reason)
    more = f" and {len(result.failures) - 1} more" if len(result.failures) > 1 else ""
    return RemoteError(result.url, f"{result.direction} incomplete: {first}{more}")


class RunLink:
    """The remote during `mlpipe run`: pull first, look keys up on a miss, push after."""

    def __init__(self, remote: RemoteStore, local: Local, warn: Callable[[str], None],
                 jobs: int = DEFAULT_JOBS) -> None:
        self.remote = remote
        self.local = local
        self.warn = warn
        self.jobs = jobs
        self.reachable = True
        self._asked: set[str] = set()

    def _unreachable(self, exc: RemoteError) -> None:
        self.reachable = False
        self.warn(f"{exc}; running without it")

    def pull(self, lock: Mapping[str, LockEntry], stages: Iterable[StageSpec],
             data: Mapping[str, str] | None = None) -> TransferResult | None:
        """Pull what the lock file records (and the versioned `data`); problems are
        warnings (None: not reached)."""
        try:
            result = pull_lock(self.remote, self.local, lock, stages, self.jobs, data)
        except RemoteError as exc:
            self._unreachable(exc)
            return None
        for failure in result.failures:
            self.warn(f"pull from {self.remote.url}: {failure}; the stage that needs it will "
                      "run instead")
        return result

    def fetch(self, key: str) -> bool:
        """Bring a stage key's run-cache entry and its objects from the remote, if it has
        them; True when they are now in the local cache (asks once per key)."""
        if not self.reachable or key in self._asked:
            return False
        self._asked.add(key)
        try:
            result = pull(self.remote, self.local.store, self.local.runcache, {}, [key],
                          self.jobs, missing_ok=True)
        except RemoteError as exc:
            self._unreachable(exc)
            return False
        for failure in result.failures:
            self.warn(f"pull from {self.remote.url}: {failure}; running the stage instead")
        return result.objects > 0 or result.entries > 0

    def push(self, lock: Mapping[str, LockEntry], stages: Iterable[StageSpec]) -> TransferResult:
        """Push what the lock file records; an unreachable remote is a failed result."""
        try:
            return push_lock(self.remote, self.local, lock, stages, self.jobs)
        except RemoteError as exc:
            return TransferResult("push", self.remote.url, reached=False,
                                  failures=(TransferFailure(exc.url, "", exc.detail),))

