"""Cache maintenance: `verify` rehashes what the cache holds, `gc` removes what nothing needs.

Both read the cache's files directly, never through `ObjectStore.restore` (which deletes what
it finds corrupt): `verify` only reports, unless asked to remove. `gc` is planned, then
applied: `scan` lists the cache, `collect_references` finds what must stay (the lock files,
at every commit with `all_commits`, and every model registry version), `plan_gc` decides
without touching disk, and `apply_gc` deletes. Whatever deletes holds the run locks, so a
concurrent `mlpipe run` never loses an object it is about to record.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import EXIT_USAGE, LockFileError, MlpipeError
from mlpipe.state import lockfile, runlock
from mlpipe.state.hashing import hash_bytes, hash_file, is_dir_hash
from mlpipe.state.runcache import parse_entry
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo

DIGEST_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?$")
STALE_TEMP_S = 3600.0  # a temporary file this old belongs to a write that was killed


class RegistryUnreadable(MlpipeError):
    """The model registry cannot be read, so gc cannot tell which models must stay."""

    exit_code = EXIT_USAGE

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: cannot read the model registry ({detail}); gc removed "
                         "nothing. Repair or move the registry, then run gc again")


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


@dataclass(frozen=True)
class References:
    """What must stay in the cache.

    Attributes:
        digests: Objects named by a lock file or a registry version (directories unexpanded).
        keys: Stage keys named by a lock file (their run-cache entries stay).
        sources: Where they were read, for the user: lock files, commits, the registry.
        warnings: Lock files in history that could not be read (what they name is not kept).
    """

    digests: frozenset[str]
    keys: frozenset[str]
    sources: tuple[str, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class GcPlan:
    """What gc removes (objects, run-cache entries, stale temporary files), and how many
    objects (of how many bytes) stay."""

    objects: tuple[CacheFile, ...]
    entries: tuple[CacheFile, ...]
    temps: tuple[CacheFile, ...]
    kept_objects: int
    kept_bytes: int

    @property
    def files(self) -> tuple[CacheFile, ...]:
        return (*self.objects, *self.entries, *self.temps)

    @property
    def freed_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class GcResult:
    """A gc: its plan, what it kept and why, and whether the plan was carried out."""

    plan: GcPlan
    references: References
    dry_run: bool


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
            _delete([problem.path for problem in problems])
    return VerifyResult(len(listing.objects), len(listing.entries), tuple(problems),
                        removed=remove and bool(problems))


def lock_files(workspace: Workspace) -> list[Path]:
    """The pipeline's lock file and that of every other pipeline file beside it."""
    found = {workspace.lock_file}
    for pattern in ("*.yaml", "*.yml"):
        for pipeline in workspace.root.glob(pattern):
            if pipeline.with_suffix(".lock").is_file():
                found.add(pipeline.with_suffix(".lock"))
    return sorted(found)


def collect_references(workspace: Workspace, all_commits: bool = False) -> References:
    """Everything the lock files (at every commit too, with `all_commits`) and the model
    registry refer to.

    Raises:
        LockFileError: A lock file in the work tree cannot be read (gc would not know what
            it needs).
        RegistryUnreadable: The registry exists but cannot be read.
    """
    digests: set[str] = set()
    keys: set[str] = set()
    sources: list[str] = []
    warnings: list[str] = []

    def add(entries: dict[str, lockfile.LockEntry]) -> None:
        for entry in entries.values():
            outs = entry.outs if isinstance(entry.outs, Mapping) else {}
            digests.update(d for d in outs.values() if isinstance(d, str))
            keys.add(entry.key)

    for path in lock_files(workspace):
        add(lockfile.read(path))
        sources.append(path.name)
        if not all_commits:
            continue
        history = gitinfo.file_history(workspace.root, path)
        for sha, data in history:
            where = Path(f"{sha[:8]}:{path.name}")
            try:
                add(lockfile.loads(data.decode("utf-8", "replace"), where))
            except LockFileError as exc:
                warnings.append(f"{where}: unreadable lock file ({exc.detail}); "
                                "the objects it names are not kept")
        sources.append(f"{len(history)} committed versions of {path.name}")
    data = _data_digests(workspace, all_commits, warnings)
    digests.update(data)
    if data:
        sources.append(f"{len(data)} versioned data objects")
    models = _registry_digests(workspace)
    digests.update(models)
    sources.append(f"{len(models)} registered model versions")
    return References(frozenset(digests), frozenset(keys), tuple(sources), tuple(warnings))


def _data_digests(workspace: Workspace, all_commits: bool, warnings: list[str]) -> set[str]:
    """What the data files (`mlpipe add`) beside the lock files record, now and, with
    `all_commits`, at every commit."""
    from mlpipe.errors import SpecError
    from mlpipe.state import datafile

    found: set[str] = set()
    for lock in lock_files(workspace):
        path = datafile.path_for(lock.with_suffix(".yaml"))
        try:
            found.update(entry.digest for entry in datafile.read(path).values())
        except SpecError as exc:
            warnings.append(f"{exc}; the data it records is not kept")
        for sha, text in gitinfo.file_history(workspace.root, path) if all_commits else ():
            try:
                entries = datafile.parse(text.decode("utf-8", "replace"),
                                         Path(f"{sha[:8]}:{path.name}"))
            except SpecError as exc:
                warnings.append(f"{exc}; the data it records is not kept")
                continue
            found.update(entry.digest for entry in entries.values())
    return found


def _registry_digests(workspace: Workspace) -> list[str]:
    """The digest of every registered model version, and of the table it was trained on
    (`mlpipe monitor` compares live inputs with it)."""
    from mlpipe.models.registry import Registry

    registry = Registry(workspace.state_dir)
    try:
        versions = registry.list()
        return [*(v.digest for v in versions),
                *(v.meta["training_data_hash"] for v in versions
                  if isinstance(v.meta.get("training_data_hash"), str))]
    except sqlite3.DatabaseError as exc:
        raise RegistryUnreadable(registry.db_path, str(exc)) from None


def read_members(objects_dir: Path) -> Callable[[str], list[str]]:
    """A lookup: directory digest -> its files' digests ([] when its manifest is unusable)."""

    def members(digest: str) -> list[str]:
        try:
            return manifest_members((objects_dir / digest[:2] / digest[2:]).read_bytes())
        except (OSError, ValueError):
            return []

    return members


def plan_gc(listing: Listing, refs: References,
            members: Callable[[str], Iterable[str]]) -> GcPlan:
    """Decide what gc removes: every object and run-cache entry nothing refers to.

    Kept: the referenced objects, the files of referenced directories, the run-cache entries
    of referenced stage keys, and the objects those entries name. Removed: everything else,
    run-cache entries that do not parse, and stale temporary files.

    Args:
        listing: What the cache holds.
        refs: What must stay.
        members: Directory digest -> its files' digests.
    """
    entries_kept = [e for e in listing.entries if e.name in refs.keys and e.outs is not None]
    keep = set(refs.digests)
    for entry in entries_kept:
        keep |= entry.outs or frozenset()
    for digest in [d for d in keep if is_dir_hash(d)]:
        keep.update(members(digest))
    kept = [o for o in listing.objects if o.name in keep]
    kept_entries = {e.path for e in entries_kept}
    return GcPlan(
        objects=tuple(o for o in listing.objects if o.name not in keep),
        entries=tuple(e for e in listing.entries if e.path not in kept_entries),
        temps=listing.temps,
        kept_objects=len(kept),
        kept_bytes=sum(o.size for o in kept),
    )


def apply_gc(plan: GcPlan) -> None:
    """Delete what the plan removes."""
    _delete([file.path for file in plan.files])


def _delete(paths: list[Path]) -> None:
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


def gc(workspace: Workspace, dry_run: bool = False, all_commits: bool = False) -> GcResult:
    """Remove the objects and run-cache entries no lock file and no registry version needs.

    Args:
        workspace: The pipeline's paths.
        dry_run: Plan only; remove nothing (and take no lock).
        all_commits: Keep what the lock files at every commit of every branch and tag need,
            not only the work tree's.

    Raises:
        RunLocked: A run of a pipeline sharing this cache is in progress.
        LockFileError, RegistryUnreadable: What must stay cannot be known.
    """
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(run_locks(workspace))
        listing = scan(workspace)
        refs = collect_references(workspace, all_commits)
        plan = plan_gc(listing, refs, read_members(workspace.objects_dir))
        if not dry_run:
            apply_gc(plan)
    return GcResult(plan, refs, dry_run)
