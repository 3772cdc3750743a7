"""`mlpipe cache gc`: remove what nothing needs, planned first, then applied.

`scan` (in `mlpipe.maintenance.verify`) lists the cache, `collect_references` finds what must
stay (the lock files, at every commit with `all_commits`, and every model registry version),
`plan_gc` decides without touching disk, and `apply_gc` deletes. Whatever deletes holds the
run locks, so a concurrent `mlpipe run` never loses an object it is about to record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from mlpipe.errors import DatabaseUnusable, LockFileError, RegistryUnreadable
from mlpipe.maintenance.verify import (
    CacheFile,
    Listing,
    delete_files,
    manifest_members,
    run_locks,
    scan,
)
from mlpipe.state import lockfile
from mlpipe.state.hashing import is_dir_hash
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo


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
    versioned = _data_digests(workspace, all_commits, warnings)
    digests.update(versioned)
    if versioned:
        sources.append(f"{len(versioned)} versioned data objects")
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
    except DatabaseUnusable as exc:
        raise RegistryUnreadable(registry.db_path, exc.detail) from None


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
    delete_files([file.path for file in plan.files])


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
