"""Versioned data outside git: store a path's bytes, compare it with what the data file
records, and put the recorded content back in place.

Each file is read once when it is added (hashed while it is copied into the store) and not
at all when the state cache already knows its hash and the store holds it. Restores go
through `ObjectStore.restore`, which checks every byte against its hash.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import UsageError
from mlpipe.state.datafile import Tracked
from mlpipe.state.filehash import PathHasher
from mlpipe.state.hashing import dir_hash, is_dir_hash
from mlpipe.state.hashmemo import stat_key
from mlpipe.state.objects import ObjectStore


class Drift(enum.Enum):
    """How a tracked path on disk differs from what the data file records."""

    MISSING = "missing"  # not on disk
    OUTDATED = "outdated"  # holds other content the store knows (e.g. after git checkout)
    MODIFIED = "modified"  # holds content nobody recorded: an edit since `add`


@dataclass(frozen=True)
class DataChange:
    """A tracked path whose disk content is not the recorded one."""

    path: str
    drift: Drift

    def __str__(self) -> str:
        if self.drift is Drift.MODIFIED:
            return f"{self.path} modified: run mlpipe add to record it"
        if self.drift is Drift.MISSING:
            return f"{self.path} missing: run mlpipe checkout (mlpipe pull if the cache lacks it)"
        return f"{self.path} differs from the recorded data: run mlpipe checkout"


def add(hasher: PathHasher, store: ObjectStore, rel: str) -> Tracked:
    """Store the file or directory at `rel` (under the hasher's root) and describe it.

    Raises:
        UsageError: It does not exist, or a file changed while it was being stored.
        CacheWriteError: The store cannot be written.
    """
    full = hasher.full(rel)
    if full.is_file():
        digest, size = _add_file(hasher, store, full, rel)
        return Tracked(rel, digest, size, 1)
    if not full.is_dir():
        raise UsageError(f"{rel}: no such file or directory to add")
    manifest: list[tuple[str, str]] = []
    total = 0
    hasher.state.preload(str(full))  # one query for the whole directory's memo
    for file in _files(full):
        digest, size = _add_file(hasher, store, file, f"{rel}/{file.relative_to(full)}")
        manifest.append((file.relative_to(full).as_posix(), digest))
        total += size
    digest = dir_hash(manifest)
    store.put_manifest(manifest, digest)
    return Tracked(rel, digest, total, len(manifest))


def _add_file(hasher: PathHasher, store: ObjectStore, file: Path, rel: str) -> tuple[str, int]:
    before = file.stat()
    known = hasher.state.get(str(file), before)
    if known is not None and store.path_of(known).is_file():
        return known, before.st_size
    digest = store.ingest(file)
    after = file.stat()
    if stat_key(after) != stat_key(before):
        raise UsageError(f"{rel}: changed while it was being added; add it again when it is "
                         "no longer being written")
    hasher.state.put(str(file), after, digest)
    return digest, after.st_size


def _files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for current, dirs, names in os.walk(directory):
        dirs.sort()
        found.extend(Path(current) / name for name in names)
    return sorted(found)


def compare(records: Mapping[str, Tracked], disk: Mapping[str, str | None],
            store: ObjectStore) -> list[DataChange]:
    """The tracked paths whose disk content (`disk`: path -> hash) is not the recorded one."""
    changes: list[DataChange] = []
    for path, entry in sorted(records.items()):
        now = disk.get(path)
        if now == entry.digest:
            continue
        if now is None:
            changes.append(DataChange(path, Drift.MISSING))
        elif store.has(now):
            changes.append(DataChange(path, Drift.OUTDATED))
        else:
            changes.append(DataChange(path, Drift.MODIFIED))
    return changes


def as_run_sees(records: Mapping[str, Tracked], disk: Mapping[str, str | None],
                store: ObjectStore) -> dict[str, str | None]:
    """`disk` as it will be once `run` has checked the data out: missing and outdated
    paths hold their recorded content; an edited one keeps its edit."""
    seen = dict(disk)
    for change in compare(records, disk, store):
        if change.drift is not Drift.MODIFIED:
            seen[change.path] = records[change.path].digest
    return seen


def lacking(records: Iterable[Tracked], store: ObjectStore) -> list[Tracked]:
    """The entries whose recorded content the store does not hold (in full)."""
    return [entry for entry in records if not store.has(entry.digest)]


def restore(hasher: PathHasher, store: ObjectStore, entry: Tracked) -> None:
    """Put the recorded content at the entry's path, checked against its hash.

    Raises:
        MissingObject: The store lacks it.
        CacheCorrupt: A stored object does not match its hash.
    """
    full = hasher.full(entry.path)
    manifest: list[tuple[str, str]] | None
    if is_dir_hash(entry.digest) and full.is_dir() and not full.is_symlink():
        manifest = _update_tree(hasher, store, entry)
    else:
        manifest = store.restore(entry.digest, full)
    hasher.forget([entry.path])
    hasher.remember(entry.path, entry.digest, manifest)


def _update_tree(hasher: PathHasher, store: ObjectStore, entry: Tracked
                 ) -> list[tuple[str, str]]:
    """Turn the directory on disk into the recorded one file by file: remove what it should
    not hold, then restore (checked) only the files that differ. Each file is replaced
    atomically; a checkout cut off midway leaves a mix that `checkout --force` completes."""
    full = hasher.full(entry.path)
    target = store.read_manifest(entry.digest)
    current = dict(hasher.manifest(entry.path))
    wanted = dict(target)
    for rel in sorted(current.keys() - wanted.keys()):
        (full / rel).unlink()
    for rel, digest in target:
        if current.get(rel) != digest:
            store.restore(digest, full / rel)
    for here, _, _ in os.walk(full, topdown=False):  # the directories left empty
        if here != str(full) and not os.listdir(here):
            os.rmdir(here)
    return target
