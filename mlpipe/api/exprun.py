"""Running experiments: each variant of the params in its own temporary git worktree that
shares this checkout's cache, so the user's work tree is never touched and a stage whose key
two variants share runs once (the other restores it; see state/keylock.py).

A variant's record is written only after its whole run succeeded; a failed or killed one
leaves none (its worktree is removed, or pruned by the next `exp run`).
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlpipe import api
from mlpipe.errors import UsageError
from mlpipe.revisions import snapshot
from mlpipe.spec import params as paramlib
from mlpipe.state.experiments import NAME_RE, Experiment, ExperimentStore, Queued
from mlpipe.state.workspace import Workspace
from mlpipe.vcs import gitinfo

BUSY = "experiment.busy"


@dataclass(frozen=True)
class Variant:
    """One point of the grid: its name and its `key=value` overrides."""

    name: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """How one variant's run ended.

    Attributes:
        name: The variant.
        ok: Whether every stage succeeded (and the experiment was recorded).
        statuses: Stage -> status.
        error: Why it failed ('' when ok).
    """

    name: str
    ok: bool
    statuses: dict[str, str]
    error: str = ""


def _split_values(text: str) -> list[str]:
    """`C=0.1,1` -> [`C=0.1`, `C=1`]; a value in brackets or braces is one value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"-S {text}: expected KEY=VALUE[,VALUE...]")
    if raw.strip()[:1] in ("[", "{"):
        return [text]
    return [f"{key}={value}" for value in raw.split(",")]


def grid(sets: Sequence[str]) -> list[tuple[str, ...]]:
    """Every combination of the values given, first key slowest."""
    axes = [_split_values(text) for text in sets]
    return [tuple(combo) for combo in itertools.product(*axes)] if axes else [()]


def variant_name(base: str, overrides: Sequence[str]) -> str:
    """A name that says what a variant is: base commit and a digest of its params."""
    digest = hashlib.sha256(json.dumps(sorted(overrides)).encode()).hexdigest()[:6]
    return f"{base[:7]}-{digest}"


def plan_variants(pipeline_file: Path, sets: Sequence[str], name: str | None) -> list[Variant]:
    """The variants `exp run -S ...` asks for, each checked against the pipeline.

    Raises:
        UsageError: A bad `-S`, a bad or taken name, or no commit to run on.
        SpecError: The pipeline does not load with a variant's params.
    """
    combos = grid(sets)
    base = gitinfo.head_commit(pipeline_file.parent)
    if base is None:
        raise UsageError("experiments need a git repository with at least one commit")
    for combo in combos:
        api.load(pipeline_file, combo)
    if name is not None and not NAME_RE.match(name):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' and '-'")
    names = ([name] if len(combos) == 1 else [f"{name}-{i}" for i in
                                                range(1, len(combos) + 1)]) if name else [
        variant_name(base, combo) for combo in combos]
    return [Variant(n, combo) for n, combo in zip(names, combos, strict=True)]


def queue(pipeline_file: Path, variants: Sequence[Variant]) -> None:
    """Keep variants for a later `exp run --queued`."""
    store = ExperimentStore(Workspace.for_file(pipeline_file).state_dir)
    for variant in variants:
        store.enqueue(Queued(variant.name, variant.overrides))


def queued(pipeline_file: Path) -> list[Variant]:
    store = ExperimentStore(Workspace.for_file(pipeline_file).state_dir)
    return [Variant(item.name, item.overrides) for item in store.queued()]


@dataclass(frozen=True)
class _Job:
    pipeline: str
    top: str
    base: str
    tree: str
    state_dir: str
    variant: Variant


def run(pipeline_file: Path, variants: Sequence[Variant], jobs: int = 1,
        on_done: Callable[[Outcome], None] = lambda _: None) -> list[Outcome]:
    """Run variants, `jobs` at a time, each in its own worktree; record those that succeed.

    Raises:
        UsageError: Not in a git repository with a commit.
    """
    pipeline_file = pipeline_file.absolute()
    top = gitinfo.repo_root(pipeline_file.parent)
    base = gitinfo.head_commit(pipeline_file.parent)
    tree = gitinfo.snapshot_commit(pipeline_file.parent)
    if top is None or base is None or tree is None:
        raise UsageError("experiments need a git repository with at least one commit")
    _remove_stale(top)
    relative = str(pipeline_file.resolve().relative_to(top.resolve()))
    state = Workspace.for_file(pipeline_file).state_dir
    state.mkdir(parents=True, exist_ok=True)
    work = [_Job(relative, str(top), base, tree, str(state), v) for v in variants]
    outcomes: list[Outcome] = []
    if jobs <= 1 or len(work) <= 1:
        for job in work:
            outcomes.append(run_one(job))
            on_done(outcomes[-1])
        return outcomes
    import multiprocessing

    with ProcessPoolExecutor(min(jobs, len(work)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        for outcome in pool.map(run_one, work):
            outcomes.append(outcome)
            on_done(outcome)
    return outcomes


def run_one(job: _Job) -> Outcome:
    """One variant in a worktree at `job.tree`; its record is saved when the run succeeded."""
    state = Path(job.state_dir)
    store = ExperimentStore(state)
    with gitinfo.worktree(Path(job.top), job.tree) as tree, _busy(tree.parent / BUSY):
        moved = tree / job.pipeline
        try:
            report = api.run(moved, api.RunOptions(overrides=job.variant.overrides,
                                                   shared_state=state))
        except Exception as exc:  # a load or cache error: this variant fails, not the rest
            return Outcome(job.variant.name, False, {}, str(exc))
        statuses = {s.name: s.status.value for s in report.stages}
        if not report.ok:
            failed = report.failed[0] if report.failed else ""
            reason = next((s.reason for s in report.stages if s.name == failed), "")
            return Outcome(job.variant.name, False, statuses, f"stage '{failed}': {reason}")
        snap = _snapshot(moved, job)
        lock_file = moved.with_suffix(".lock")
        store.save(Experiment(
            name=job.variant.name, base=job.base, tree=job.tree, pipeline=job.pipeline,
            overrides=dict(paramlib.parse_override(o) for o in job.variant.overrides),
            params=dict(snap.params), metrics={k: dict(v) for k, v in snap.metrics.items()},
            lock=lock_file.read_text("utf-8") if lock_file.is_file() else "",
            created=datetime.now(UTC).isoformat(timespec="microseconds")))
    return Outcome(job.variant.name, True, statuses)


@contextmanager
def _busy(path: Path) -> Iterator[None]:
    """Hold a lock in the worktree's scratch directory while the experiment runs in it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_stale(top: Path) -> None:
    """Remove the worktrees of experiments whose process died (their lock is free)."""
    gitinfo.prune_worktrees(top)
    for tree in gitinfo.worktree_paths(top):
        marker = tree.parent / BUSY
        if not marker.is_file():
            continue  # not an experiment's
        fd = os.open(marker, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # another experiment is running there
        else:
            gitinfo.remove_worktree(top, tree)
            shutil.rmtree(tree.parent, ignore_errors=True)
        finally:
            os.close(fd)


def _snapshot(moved: Path, job: _Job) -> snapshot.Snapshot:
    """The worktree's metrics, with the params the variant ran with."""
    found = snapshot.workspace(moved)
    params = paramlib.apply_overrides(api.load(moved).spec.params, job.variant.overrides)
    return snapshot.Snapshot(found.label, found.commit, snapshot.flatten(params),
                             found.metrics)
