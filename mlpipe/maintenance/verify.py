"""`mlpipe cache verify`: rehash what the cache holds and parse its run-cache entries.

It reads the cache's files directly, never through `ObjectStore.restore` (which deletes what
it finds corrupt), so it only reports, unless asked to remove. `scan` lists the cache for
`verify` and for gc (`mlpipe.maintenance.gc`).
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlpipe.state import runlock
from mlpipe.state.hashing import hash_bytes, hash_file, is_dir_hash
from mlpipe.state.runcache import parse_entry
from mlpipe.state.workspace import Workspace

DIGEST_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
STALE_TEMP_S = 3600.0  # a temporary file this old belongs to a write that was killed


@dataclass(frozen=True)
class CacheFile:
    """One file of the cache: its path, name (an object's digest or a run-cache entry's
    stage key), size, and for a run-cache entry the digests it names (None: unreadable)."""

    path: Path
    name: str
    size: int
    outs: frozenset[str] | None = None


@dataclass(frozen=True)
class Listing:
    """What the cache holds: objects, run-cache entries and stale temporary files."""

    objects: tuple[CacheFile, ...]
    entries: tuple[CacheFile, ...]
    temps: tuple[CacheFile, ...]


@dataclass(frozen=True)
class Problem:
    """A bad file found by `verify`: where it is, and what is wrong with it."""

    path: Path
    detail: str


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` checked (objects rehashed, run-cache entries parsed), the bad files it
    found, and whether it removed them."""

    objects: int
    entries: int
    problems: tuple[Problem, ...]
    removed: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def _files(shards: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every regular file one level below the shard directories of `shards`."""
    for shard in sorted(shards.iterdir()) if shards.is_dir() else ():
        for path in sorted(shard.iterdir()) if shard.is_dir() else ():
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                yield path, info


def scan(workspace: Workspace, now: float | None = None) -> Listing:
    """List the objects, run-cache entries and stale temporary files of a workspace's cache."""
    now = time.time() if now is None else now
    objects: list[CacheFile] = []
    entries: list[CacheFile] = []
    temps: list[CacheFile] = []
    for base, is_objects in ((workspace.objects_dir, True), (workspace.runs_dir, False)):
        for path, info in _files(base):
            if path.name.startswith("."):
                if now - info.st_mtime > STALE_TEMP_S:
                    temps.append(CacheFile(path, path.name, info.st_size))
            elif is_objects:
                objects.append(CacheFile(path, path.parent.name + path.name, info.st_size))
            else:
                entries.append(CacheFile(path, path.stem, info.st_size, _entry_outs(path)))
    return Listing(tuple(objects), tuple(entries), tuple(temps))


def _entry_outs(path: Path) -> frozenset[str] | None:
    try:
        return frozenset(parse_entry(path.read_bytes()).outs.values())
    except (OSError, ValueError):
        return None


def manifest_members(data: bytes) -> list[str]:
    """The file digests a directory manifest lists.

    Raises:
        ValueError: The bytes are not a manifest.
    """
    rows = json.loads(data.decode("utf-8"))
    if not isinstance(rows, list) or not all(
            isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row)
            for row in rows):
        raise ValueError("not a list of [path, digest] pairs")
    return [digest for _, digest in rows]


def object_problem(file: CacheFile) -> str | None:
    """Why a stored object is bad, or None when its bytes match its name.

    A manifest whose files are missing is not bad: the store treats that directory as absent,
    and the next run that produces it puts the files back.
    """
    if not DIGEST_RE.match(file.name):
        return "not an object of this cache (bad name)"
    try:
        if not is_dir_hash(file.name):
            if hash_file(file.path) != file.name:
                return "content does not match its hash (truncated or modified)"
            return None
        data = file.path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if hash_bytes(data) + ".dir" != file.name:
        return "directory manifest does not match its hash (truncated or modified)"
    try:
        manifest_members(data)
    except ValueError as exc:
        return f"directory manifest does not parse: {exc}"
    return None


def entry_problem(file: CacheFile) -> str | None:
    """Why a run-cache entry is bad, or None when it parses."""
    if file.path.suffix != ".json" or file.path.parent.name != file.name[:2]:
        return "not a run-cache entry (bad name)"
    try:
        parse_entry(file.path.read_bytes())
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    except ValueError as exc:
        return f"corrupt run-cache entry: {exc}"
    return None


def delete_files(paths: list[Path]) -> None:
    """Delete cache files, then the shard directories they leave empty."""
    for path in paths:
        path.unlink(missing_ok=True)
    for shard in {path.parent for path in paths}:
        try:
            shard.rmdir()
        except OSError:  # not empty
            continue


@contextmanager
def run_locks(workspace: Workspace) -> Iterator[None]:
    """Hold the run lock of every pipeline sharing this `.mlpipe/` (none when it does not
    exist yet: then there is nothing to protect)."""
    paths = {workspace.run_lock, *workspace.state_dir.glob("*.runlock")}
    if not workspace.state_dir.is_dir():
        paths = set()
    with ExitStack() as stack:
        for path in sorted(paths):
            stack.enter_context(runlock.hold(path))
        yield


def verify(workspace: Workspace, remove: bool = False) -> VerifyResult:
    """Rehash every object and parse every run-cache entry of a workspace's cache.

    Args:
        workspace: The pipeline's paths.
        remove: Delete the bad files (holding the run locks), so the stages that produced
            them run again.

    Returns:
        What was checked and what is bad.
    """
    with ExitStack() as stack:
        if remove:
            stack.enter_context(run_locks(workspace))
        listing = scan(workspace)
        problems = [Problem(f.path, detail) for f in listing.objects
                    if (detail := object_problem(f)) is not None]
        problems += [Problem(f.path, detail) for f in listing.entries
                     if (detail := entry_problem(f)) is not None]
        if remove:
            delete_files([problem.path for problem in problems])
    return VerifyResult(len(listing.objects), len(listing.entries), tuple(problems),
                        removed=remove and bool(problems))
