"""The services one run (or one status check) works with, opened once and closed once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mlpipe import kinds
from mlpipe.core.planner import StageFacts, gather_facts
from mlpipe.errors import CacheCorrupt
from mlpipe.execute.events import Event, Notice
from mlpipe.spec.model import PipelineSpec, StageSpec
from mlpipe.state import lockfile
from mlpipe.state.filehash import PathHasher
from mlpipe.state.fsutil import fsync_file
from mlpipe.state.hashmemo import StateCache
from mlpipe.state.history import History
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.objects import ObjectStore
from mlpipe.state.runcache import RunCache, RunEntry
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo


def _git_blobs(root: Path) -> Callable[[list[Path]], dict[Path, str]]:
    return lambda files: gitinfo.clean_blob_ids(root, files)


@dataclass
class Session:
    """Hasher, store, run-cache, lock entries and history for one pipeline.

    Attributes:
        workspace: Paths of the pipeline.
        spec: The pipeline.
        on_event: Receives notices (and, during a run, stage events).
        lock: Stage name -> lock entry, as read at the start and updated as stages finish.
        fetch: On a run-cache miss, brings a key's entry and objects from elsewhere (the
            remote of `run --pull`) into the local cache; True when it brought something.
    """

    workspace: Workspace
    spec: PipelineSpec
    on_event: Callable[[Event], None] = lambda _: None
    lock: dict[str, LockEntry] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    fetch: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        ws = self.workspace
        self.state = StateCache(ws.state_db)
        self.hasher = PathHasher(ws.root, self.state, _git_blobs(ws.root))
        self.store = ObjectStore(ws.objects_dir)
        self.runcache = RunCache(ws.runs_dir, self.warn)
        self.history = History(ws.history_db)
        self.lock = lockfile.read(ws.lock_file, ws.lock_memo)
        self._lock_writer = lockfile.LockWriter(ws.lock_file)
        self._lock_written = False

    def warn(self, message: str) -> None:
        self.on_event(Notice(message))

    @cached_property
    def versions(self) -> Mapping[str, Mapping[str, str]]:
        return {kind: kinds.get(kind).versions() for kind in {s.kind for s in self.spec}}

    @cached_property
    def commit(self) -> str | None:
        return gitinfo.head_commit(self.workspace.root)

    @cached_property
    def dirty(self) -> bool:
        return gitinfo.is_dirty(self.workspace.root)

    def run_hit(self, key: str) -> RunEntry | None:
        """The run-cache entry for `key`, only when the store holds all of its outputs."""
        entry = self.runcache.get(key)
        hit = entry is not None and self.store.has_all(entry.outs)
        if not hit and self.fetch is not None and self.fetch(key):
            entry = self.runcache.get(key)
            hit = entry is not None and self.store.has_all(entry.outs)
        return entry if hit else None

    def listing(self, digest: str) -> list[tuple[str, str]] | None:
        """A stored directory's files (relative path, hash); None when it is not readable."""
        try:
            return self.store.read_manifest(digest)
        except (OSError, ValueError, CacheCorrupt):
            return None

    def facts(self, stage: StageSpec) -> StageFacts:
        """Observe a stage on disk now (after its upstream stages finished)."""
        hashes = self.hasher.hash([*stage.deps, *stage.outs])
        return gather_facts(stage, {d: hashes[d] for d in stage.deps},
                            {o: hashes[o] for o in stage.outs}, self.versions[stage.kind],
                            self.lock.get(stage.name), self.run_hit, self.store.has_all)

    def write_lock(self) -> None:
        """Rewrite the lock file (atomically); `close` makes the last one durable."""
        self._lock_writer.write(self.lock, durable=False)
        self._lock_written = True

    def close(self) -> None:
        self.state.close()
        if self._lock_written:
            fsync_file(self.workspace.lock_file)
