"""After a stage: restore outputs from the store, or record what a run produced.

Recording happens only after success, in this order: check the declared outputs exist and
the metrics files hold JSON, check the deps did not change while the stage ran, put the
outputs in the store, then the run-cache entry, the lock entry (lock file rewritten
atomically) and a history row. A stage that failed, timed out or was killed records nothing
but a "failed" history row (or nothing at all), so its partial outputs never count as valid.

The git commit is recorded here (lock file and history) and deliberately kept out of stage
keys (see fingerprint.py).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlpipe import kinds
from mlpipe.core.fingerprint import template_hash
from mlpipe.core.planner import Decision
from mlpipe.errors import StageFailed
from mlpipe.execute.session import Session
from mlpipe.spec.model import StageSpec
from mlpipe.state.fsutil import remove
from mlpipe.state.hashing import dir_hash, is_dir_hash
from mlpipe.state.history import HistoryRow
from mlpipe.state.lockfile import LockEntry
from mlpipe.state.runcache import RunEntry, can_cache


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording a run.

    Attributes:
        saved: Whether lock, store and run-cache were updated.
        warning: Why not, when not.
        metrics: What the stage's metrics files hold (see `read_metrics`).
    """

    saved: bool
    warning: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)


def _entry(session: Session, stage: StageSpec, key: str, deps: Mapping[str, Any],
           outs: Mapping[str, str], commit: str | None) -> LockEntry:
    return LockEntry(kind=stage.kind, key=key, definition=template_hash(stage),
                     cmd=kinds.get(stage.kind).display(stage.config),
                     params=dict(stage.params), deps=dict(deps), outs=dict(outs), commit=commit)


def restore(session: Session, stage: StageSpec, decision: Decision) -> None:
    """Bring a stage's outputs back from the store and record them in the lock file.

    Raises:
        CacheCorrupt, MissingObject: the store cannot give back an output.
    """
    root = session.workspace.root
    for path, digest in decision.restore.items():
        manifest = session.store.restore(digest, root / path)
        session.hasher.forget([path])
        session.hasher.remember(path, digest, manifest)
    deps = session.hasher.hash(stage.deps)
    assert decision.key is not None  # a restore always has a key
    session.lock[stage.name] = _entry(session, stage, decision.key, deps, decision.restore,
                                      decision.restore_commit)
    session.write_lock()


def clear_outputs(session: Session, stage: StageSpec) -> None:
    """Remove a stage's outputs before it runs, so stale files cannot pass for new ones, and
    make sure their parent directories exist.

    Raises:
        StageFailed: An output cannot be removed (something else keeps writing into it).
    """
    session.hasher.forget(stage.outs)
    for path in stage.outs:
        full = session.workspace.root / path
        try:
            remove(full)
            full.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StageFailed(stage.name, f"cannot clear output {path} before running it "
                                          f"({exc.strerror or exc}); is another process "
                                          "writing into it?") from None


def _stamps(session: Session, outs: Mapping[str, str | None]) -> dict[str, tuple[int, int]]:
    """Path -> (size, mtime_ns) of every file of these outputs (inside directories too)."""
    found: dict[str, tuple[int, int]] = {}
    for out in outs:
        top = session.workspace.root / out
        files = [str(top)] if not top.is_dir() else [
            os.path.join(folder, name) for folder, _, names in os.walk(top) for name in names]
        for file in files:
            with contextlib.suppress(OSError):
                info = os.stat(file)
                found[file] = (info.st_size, info.st_mtime_ns)
    return found


def record_run(session: Session, stage: StageSpec, key: str | None,
               deps_before: Mapping[str, Any]) -> Recorded:
    """Record a successful run (see the module docstring for the order).

    Raises:
        StageFailed: a declared output was not written, or a metrics file is not JSON.
    """
    session.hasher.forget([*stage.outs, *stage.deps])
    before = _stamps(session, dict.fromkeys(stage.outs))
    outs = session.hasher.hash(stage.outs)
    missing = [path for path, digest in outs.items() if digest is None]
    if missing:
        raise StageFailed(stage.name, f"declared output {', '.join(missing)} was not written")
    metrics = read_metrics(session, stage)
    deps_after = session.hasher.hash(stage.deps)
    if key is None:
        missing_deps = [path for path in stage.deps if deps_before.get(path) is None]
        return Recorded(False, f"result not recorded: dep {', '.join(missing_deps)} was "
                               "missing when the stage started", metrics)
    changed = [path for path in stage.deps if deps_after[path] != deps_before.get(path)]
    if changed:
        return Recorded(False, f"result not recorded: dep {', '.join(changed)} changed while "
                               "the stage ran; it will run again next time", metrics)
    root = session.workspace.root
    for path, digest in outs.items():
        assert digest is not None
        manifest = session.hasher.manifest(path) if is_dir_hash(digest) else None
        if manifest is not None and dir_hash(manifest) != digest:
            raise _changed(session, stage)
        if manifest is not None:
            session.store.put_tree(root / path, manifest, digest)
        else:
            session.store.put_file(root / path, digest)
    if _stamps(session, outs) != before:
        raise _changed(session, stage)
    stored_outs = {path: digest for path, digest in outs.items() if digest is not None}
    if can_cache(stage):
        session.runcache.put(key, RunEntry(stored_outs, session.commit))
    session.lock[stage.name] = _entry(session, stage, key, deps_after, stored_outs,
                                      session.commit)
    session.write_lock()
    return Recorded(True, metrics=metrics)


def _changed(session: Session, stage: StageSpec) -> StageFailed:
    """The failure of a stage whose outputs changed while they were being recorded."""
    session.hasher.forget(stage.outs)
    return StageFailed(stage.name, "its outputs changed while they were being recorded; is "
                                   "another process writing into them?")


def read_metrics(session: Session, stage: StageSpec) -> dict[str, Any]:
    """Metrics files of a stage merged into one mapping (file name -> content when several).

    Raises:
        StageFailed: a metrics file is not JSON, so the run's result cannot be trusted.
    """
    found: dict[str, Any] = {}
    for path in stage.metrics:
        try:
            found[path] = json.loads((session.workspace.root / path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise StageFailed(stage.name, f"metrics file {path} is not valid JSON "
                                          f"({exc})") from None
    if len(found) == 1 and isinstance(only := next(iter(found.values())), dict):
        return only
    return found


def history_row(session: Session, stage: StageSpec, key: str | None, status: str, reason: str,
                duration_s: float, metrics: Mapping[str, Any] | None = None) -> None:
    session.history.append(HistoryRow(
        run_id=session.run_id, pipeline=session.workspace.pipeline_file.name, stage=stage.name,
        key=key, status=status, reason=reason, duration_s=round(duration_s, 4),
        commit=session.commit, dirty=session.dirty, metrics=metrics or {}))
