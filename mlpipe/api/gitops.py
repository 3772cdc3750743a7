"""The repository side of a pipeline: the lock gate, the lock merge, ignored outputs, and the
other pipeline files beside it. The CLI calls these; `run` calls the last two."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlpipe.api import Loaded, load

if TYPE_CHECKING:
    from mlpipe.core.lockgate import Mismatch


def check_lock(path: Path | str | None = None,
               shared_state: Path | None = None) -> tuple[Mismatch, ...]:
    """The stages whose committed lock entry does not match the pipeline (see core/lockgate).

    Reads the pipeline file, the params, the lock file and the source deps (those no stage
    writes); never an output, so it answers alike with or without the data.
    """
    from mlpipe import kinds
    from mlpipe.core import lockgate
    from mlpipe.state import lockfile
    from mlpipe.state.filehash import PathHasher
    from mlpipe.state.hashmemo import StateCache
    from mlpipe.vcs import gitinfo

    loaded = load(path, (), shared_state)
    ws, order, writers = loaded.workspace, loaded.graph.order(), loaded.graph.writers
    lock = lockfile.read(ws.lock_file, ws.lock_memo)
    state = StateCache(ws.state_db)
    try:
        hasher = PathHasher(ws.root, state, lambda files: gitinfo.clean_blob_ids(ws.root, files))
        sources = hasher.hash(lockgate.source_deps(order, writers))
    finally:
        state.close()
    versions = {kind: kinds.get(kind).versions() for kind in {s.kind for s in order}}
    return lockgate.check(lockgate.GateInputs(
        order=order, writers=writers, sources=sources, versions=versions, lock=lock,
        unmerged=lock.unmerged, known=loaded.spec.names))


def merge_lock(base: Path, ours: Path, theirs: Path) -> tuple[str, ...]:
    """Merge two lock files stage by stage into `ours` (git's merge driver: %O %A %B).

    Returns:
        The stages changed on both sides to different results: dropped from the merged lock
        and listed as unmerged, so they run again (see state/lockmerge.py).

    Raises:
        LockFileError, LockConflictError: One of the three cannot be read (nothing written).
    """
    from mlpipe.state import lockfile, lockmerge

    result = lockmerge.merge(*(lockfile.read(path) for path in (base, ours, theirs)))
    lockfile.write(ours, result.lock)
    return result.dropped


def sync_ignored(loaded: Loaded) -> bool:
    """Keep the pipeline's outputs in `.gitignore` at its root (see state/ignorefile.py),
    unless the pipeline file says `gitignore: false` or the root is not in a git work tree.

    Returns:
        Whether `.gitignore` changed.
    """
    from mlpipe.state import ignorefile
    from mlpipe.vcs import gitinfo

    ws = loaded.workspace
    if not loaded.spec.gitignore or gitinfo.repo_root(ws.root) is None:
        return False
    outs = [out for stage in loaded.spec for out in stage.outs if out not in stage.metrics]
    return ignorefile.sync(ws.root, ws.pipeline_file.name, outs)


def check_siblings(loaded: Loaded) -> None:
    """Refuse a pipeline that writes a path another pipeline file in its directory writes
    (they share the directory, its `.mlpipe/` and its `.gitignore`).

    Raises:
        OutputConflictError: Naming both files, both stages and the path.
    """
    from mlpipe.errors import MlpipeError, OutputConflictError
    from mlpipe.spec.parse import load as load_spec

    mine = {out: stage.name for stage in loaded.spec for out in stage.outs}
    ours = loaded.workspace.pipeline_file
    for other in sorted([*ours.parent.glob("*.yaml"), *ours.parent.glob("*.yml")]):
        if other == ours or not _looks_like_pipeline(other):
            continue
        try:
            spec = load_spec(other)
        except MlpipeError:  # its own errors are reported when it is used
            continue
        for stage in spec:
            for out in stage.outs:
                clash = next((path for path in mine if _overlap(path, out)), None)
                if clash is not None:
                    raise OutputConflictError(clash, other, ours, (stage.name, mine[clash]))


def _looks_like_pipeline(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("stages:") for line in text.splitlines())


def _overlap(one: str, other: str) -> bool:
    """Whether two outputs are one path, or one lies inside the other."""
    return one == other or one.startswith(other + "/") or other.startswith(one + "/")
