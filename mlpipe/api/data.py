"""Versioned data outside git: `add`, `checkout`, and what `status`, `run` and `pull` do
with the paths the data file records (see `mlpipe.state.datafile`).

    from mlpipe.api import data
    data.add("mlpipe.yaml", ["data/raw.csv"])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlpipe.api import Loaded, load
from mlpipe.errors import CacheCorrupt, DataError, UsageError
from mlpipe.execute.session import Session
from mlpipe.state import datafile, runlock, tracked
from mlpipe.state.datafile import Tracked
from mlpipe.state.fsutil import atomic_write_text
from mlpipe.state.objects import MissingObject
from mlpipe.state.tracked import DataChange, Drift
from mlpipe.state.workspace import STATE_DIR, Workspace

PULL_HINT = "not in the local cache; run mlpipe pull"


@dataclass(frozen=True)
class CheckoutResult:
    """What `checkout` did.

    Attributes:
        restored: Paths whose recorded content was put in place.
        unchanged: How many tracked paths already held it.
        kept: Edited paths left as they are (`run` keeps an edit; it warns instead).
    """

    restored: tuple[str, ...]
    unchanged: int
    kept: tuple[DataChange, ...] = ()


def records(workspace: Workspace) -> dict[str, Tracked]:
    """The data file's entries for this pipeline."""
    return datafile.read(datafile.path_for(workspace.pipeline_file))


def add(path: Path | str | None, targets: Sequence[str], cwd: Path | None = None
        ) -> list[Tracked]:
    """Store each target's bytes, record its hash in the data file and git-ignore it.

    Args:
        path: The pipeline file.
        targets: Files or directories, relative to `cwd`.
        cwd: Where relative targets start (default: the current directory).

    Raises:
        UsageError: A target is missing, outside the root, a stage's output, tracked by git,
            or inside mlpipe's state directory.
    """
    loaded = load(path)
    ws = loaded.workspace
    rels = [_relative(loaded, Path(cwd or Path.cwd()) / target, target) for target in targets]
    with runlock.hold(ws.run_lock):
        session = Session(ws, loaded.spec)
        try:
            added = [tracked.add(session.hasher, session.store, rel) for rel in rels]
        finally:
            session.close()
        entries = records(ws)
        for entry in added:
            for old in [p for p in entries if entry.covers(p) or entries[p].covers(entry.path)]:
                del entries[old]
            entries[entry.path] = entry
        datafile.write(datafile.path_for(ws.pipeline_file), entries)
        _ignore(ws.root, [entry.path for entry in added])
    return added


def _relative(loaded: Loaded, full: Path, target: str) -> str:
    from mlpipe.vcs import gitinfo

    root = loaded.workspace.root.resolve()
    try:
        rel = full.resolve().relative_to(root).as_posix()
    except ValueError:
        raise UsageError(f"{target}: outside the pipeline root {root}") from None
    if rel == "." or rel.split("/")[0] in (STATE_DIR, ".git"):
        raise UsageError(f"{target}: not a path mlpipe can version (the root or its state)")
    if not full.exists():
        raise UsageError(f"{target}: no such file or directory to add")
    for stage in loaded.spec:
        for out in stage.outs:
            if out == rel or out.startswith(f"{rel}/") or rel.startswith(f"{out}/"):
                raise UsageError(f"{target}: written by stage '{stage.name}' (output {out}); "
                                 "stage outputs are versioned by the lock file already")
    in_git = gitinfo.tracked_under(root, root / rel)
    if in_git:
        raise UsageError(f"{target}: git tracks {in_git[0]}; run `git rm -r --cached {rel}` "
                         "first so that mlpipe versions it instead")
    return rel


def _ignore(root: Path, paths: Sequence[str]) -> None:
    """Append `/path` to the root's .gitignore for each path not already listed."""
    ignore = root / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.is_file() else ""
    listed = set(text.splitlines())
    new = [f"/{p}" for p in paths if f"/{p}" not in listed]
    if new:
        sep = "" if not text or text.endswith("\n") else "\n"
        atomic_write_text(ignore, text + sep + "".join(f"{line}\n" for line in new))


def changes(path: Path | str | None = None, shared_state: Path | None = None
            ) -> list[DataChange]:
    """Tracked paths whose disk content is not what the data file records."""
    ws = Workspace.for_file(path, shared_state)
    entries = records(ws)
    if not entries:
        return []
    session = Session(ws, load(path, (), shared_state).spec)
    try:
        return tracked.compare(entries, session.hasher.hash(entries), session.store)
    finally:
        session.close()


def checkout(path: Path | str | None = None, force: bool = False) -> CheckoutResult:
    """Put every tracked path's recorded content in place, checked against its hash.

    Raises:
        DataError: A path holds an edit nobody recorded (unless `force`), or its content
            is not in the local cache; nothing is changed then.
        CacheCorrupt: A stored object does not match its hash.
    """
    loaded = load(path)
    with runlock.hold(loaded.workspace.run_lock):
        session = Session(loaded.workspace, loaded.spec)
        try:
            return put_in_place(session, edited_ok=False, force=force)
        finally:
            session.close()


def restore_missing(path: Path | str | None = None) -> CheckoutResult:
    """Restore the tracked paths that are not on disk (after `pull` brought their content).

    Raises:
        DataError: The content of one is not in the local cache.
    """
    loaded = load(path)
    with runlock.hold(loaded.workspace.run_lock):
        session = Session(loaded.workspace, loaded.spec)
        try:
            return put_in_place(session, edited_ok=True, only_missing=True)
        finally:
            session.close()


def put_in_place(session: Session, edited_ok: bool, force: bool = False,
                 only_missing: bool = False) -> CheckoutResult:
    """Restore the tracked paths that are missing or hold other recorded content.

    Args:
        session: The pipeline's services (hasher, store).
        edited_ok: Keep an edited path and report it in `kept` (what `run` does) instead of
            refusing.
        force: Replace edited paths too.
        only_missing: Restore only paths that are not on disk (what `pull` does).

    Raises:
        DataError: See `checkout`.
    """
    entries = records(session.workspace)
    found = tracked.compare(entries, session.hasher.hash(entries), session.store)
    edited = tuple(c for c in found if c.drift is Drift.MODIFIED and not force)
    if edited and not edited_ok and not only_missing:
        raise DataError(edited[0].path, "modified since it was added: run mlpipe add to record "
                        "it, or mlpipe checkout --force to discard the edit")
    todo = [entries[c.path] for c in found if c not in edited
            and (c.drift is Drift.MISSING or not only_missing)]
    for entry in tracked.lacking(todo, session.store):
        raise DataError(entry.path, f"its recorded content {entry.digest} is {PULL_HINT}")
    for entry in todo:
        try:
            tracked.restore(session.hasher, session.store, entry)
        except MissingObject as exc:
            raise DataError(entry.path, f"object {exc.args[0]} is {PULL_HINT}") from None
        except CacheCorrupt as exc:
            raise DataError(entry.path, f"{exc}; run mlpipe pull to fetch it again") from None
    return CheckoutResult(tuple(e.path for e in todo), len(entries) - len(found), edited)


def objects(workspace: Workspace, deps: Sequence[str] | None = None) -> dict[str, str]:
    """Digest -> `data PATH` for the tracked paths (those that `deps` need, when given)."""
    entries = records(workspace)
    wanted = [e for e in entries.values()
              if deps is None or any(e.covers(d) or e.path.startswith(f"{d}/") for d in deps)]
    return {entry.digest: f"data {entry.path}" for entry in wanted}


def disk_as_run_sees(session: Session, disk: Mapping[str, str | None]
                     ) -> dict[str, str | None]:
    """What `status` plans with: tracked paths as `run` will find them after checkout."""
    entries = records(session.workspace)
    if not entries:
        return dict(disk)
    seen = tracked.as_run_sees(entries, session.hasher.hash(entries), session.store)
    return {path: seen[path] if path in entries else digest for path, digest in disk.items()}


def warn_kept(result: CheckoutResult, warn: Callable[[str], None]) -> None:
    for change in result.kept:
        warn(str(change))
