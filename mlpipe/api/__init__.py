"""The library facade: load a pipeline, plan it, run it. The CLI calls only these functions.

    from mlpipe import api
    report = api.run("mlpipe.yaml", api.RunOptions(jobs=2))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlpipe.core import graph as graphlib
from mlpipe.core.planner import Plan, PlanInputs, plan
from mlpipe.errors import ExecutorConfigError, RemoteConfigError, UsageError
from mlpipe.execute.events import Event, FailurePolicy, RunStarted, StageFinished, Status
from mlpipe.execute.session import Session
from mlpipe.spec.model import PipelineSpec
from mlpipe.spec.parse import load as load_spec
from mlpipe.state import runlock
from mlpipe.state.workspace import Workspace

if TYPE_CHECKING:
    from mlpipe.execute.executors.base import Executor
    from mlpipe.execute.executors.staging import Staging
    from mlpipe.remote.cache import RemoteStore
    from mlpipe.remote.link import RunLink
    from mlpipe.remote.sync import TransferResult
    from mlpipe.spec.settings import ExecutorSpec


@dataclass(frozen=True)
class Selection:
    """Which stages a command acts on.

    Attributes:
        targets: Stage names; empty means every stage.
        downstream: Targets and everything after them (instead of before).
        no_deps: Only the targets.
    """

    targets: tuple[str, ...] = ()
    downstream: bool = False
    no_deps: bool = False


@dataclass(frozen=True)
class RunOptions:
    """Options of `mlpipe run`.

    Attributes:
        selection: Which stages.
        force: Run the selected stages even when up to date.
        jobs: Stages run at once.
        policy: What a failure does to the rest.
        overrides: `key=value` param overrides for this run.
        shared_state: Another `.mlpipe/` to use (see `load`).
        executor: `local` or `dask`; None takes the pipeline file's `executor:`.
        scheduler: A dask scheduler address; None (with dask) starts a local cluster.
        workers: Worker processes of that local cluster; None: one per core.
        pull: Pull what the lock file needs from the remote first, and look run-cache misses
            up there before running a stage.
        push: Push what the stages that ran or were restored need to the remote after.
        remote: A remote's name or URL for pull/push and remote worker files; None: the
            configured default, else the pipeline file's `remote:`.
        worker_files: How dask workers get a stage's files: `shared` (the project at the same
            path) or `remote` (a scratch directory, files through the remote); None takes the
            pipeline file's `executor: {files: ...}`.
    """

    selection: Selection = field(default_factory=Selection)
    force: bool = False
    jobs: int = 1
    policy: FailurePolicy = FailurePolicy.FAIL_FAST
    overrides: tuple[str, ...] = ()
    shared_state: Path | None = None
    executor: str | None = None
    scheduler: str | None = None
    workers: int | None = None
    pull: bool = False
    push: bool = False
    remote: str | None = None
    worker_files: str | None = None


@dataclass(frozen=True)
class TransferOptions:
    """Options of `mlpipe push` and `mlpipe pull`.

    Attributes:
        selection: Whose outputs: the lock file's entries for these stages.
        remote: A remote's name or URL; None: the configured default, else the pipeline
            file's `remote:`.
        jobs: Transfers at once.
        shared_state: Another `.mlpipe/` to use (see `load`).
    """

    selection: Selection = field(default_factory=Selection)
    remote: str | None = None
    jobs: int = 8
    shared_state: Path | None = None


@dataclass(frozen=True)
class StageReport:
    """One stage's result in a run."""

    name: str
    status: Status
    reason: str
    duration_s: float
    stderr_tail: str = ""
    warning: str = ""


@dataclass(frozen=True)
class RunReport:
    """A whole run: each selected stage's result, in run order, and what `--pull` and
    `--push` moved (None when not asked, or when the remote could not be reached to pull)."""

    stages: tuple[StageReport, ...]
    pulled: TransferResult | None = None
    pushed: TransferResult | None = None

    @property
    def ok(self) -> bool:
        return all(s.status not in (Status.FAILED, Status.SKIPPED) for s in self.stages)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages if s.status is Status.FAILED)


@dataclass(frozen=True)
class Loaded:
    """A pipeline read from disk: its paths, its spec, its graph."""

    workspace: Workspace
    spec: PipelineSpec
    graph: graphlib.StageGraph


def load(path: Path | str | None = None, overrides: Sequence[str] = (),
         shared_state: Path | None = None) -> Loaded:
    """Read, validate and build the DAG of a pipeline file (default `./mlpipe.yaml`).

    `shared_state` puts the cache and run history in another `.mlpipe/` directory.
    """
    from mlpipe.state import datafile

    workspace = Workspace.for_file(path, shared_state)
    spec = load_spec(workspace.pipeline_file, overrides)
    root = workspace.root
    versioned = datafile.read(datafile.path_for(workspace.pipeline_file)).values()
    graph = graphlib.build(spec, lambda dep: os.path.exists(root / dep)
                           or any(entry.covers(dep) for entry in versioned))
    return Loaded(workspace, spec, graph)


def _select(loaded: Loaded, selection: Selection) -> graphlib.StageGraph:
    return loaded.graph.select(selection.targets, downstream=selection.downstream,
                               no_deps=selection.no_deps)


def status(path: Path | str | None = None, selection: Selection = Selection(),
           overrides: Sequence[str] = (), force: bool = False,
           on_event: Callable[[Event], None] = lambda _: None,
           shared_state: Path | None = None) -> Plan:
    """What `run` would do, and why, without doing it."""
    loaded = load(path, overrides, shared_state)
    graph = _select(loaded, selection)
    order = graph.order()
    session = Session(loaded.workspace, loaded.spec, on_event)
    try:
        paths = [p for stage in order for p in (*stage.deps, *stage.outs)]
        from mlpipe.api import data

        disk = data.disk_as_run_sees(session, session.hasher.hash(paths))
        return session.checked_lock(lambda: plan(PlanInputs(
            order=order, writers=graph.writers, disk=disk, versions=session.versions,
            lock=session.lock, run_hit=session.run_hit, stored=session.store.has_all,
            force=force, unmerged=session.lock.unmerged, listing=session.listing)))
    finally:
        session.close()


def _executor(spec: ExecutorSpec, options: RunOptions, on_event: Callable[[Event], None],
              staging: Staging | None = None) -> Executor:
    """What runs the stages: `options` (the command line) win over the file's `executor:`;
    with `staging`, dask workers get stage files through the remote.

    Raises:
        ExecutorConfigError: an unknown executor, options that do not fit it, or no dask.
        ClusterUnavailable: the dask scheduler cannot be reached.
    """
    from mlpipe.execute.executors import base

    request = base.ExecutorRequest(spec, options.jobs, options.scheduler, options.workers,
                                   on_event, staging)
    return base.build(options.executor or spec.type, request)


def _remote_files(spec: ExecutorSpec, options: RunOptions) -> str | None:
    """What asks dask workers to get stage files through the remote (for messages), or None
    when they see the project (`shared`).

    Raises:
        ExecutorConfigError: An unknown `--worker-files`, or one without the dask executor.
    """
    from mlpipe.spec.settings import WORKER_FILES

    kind = options.executor or spec.type
    if options.worker_files is None:
        from_file = kind == "dask" and spec.type == "dask" and spec.files == "remote"
        return "the pipeline file's 'executor: {files: remote}'" if from_file else None
    if options.worker_files not in WORKER_FILES:
        raise ExecutorConfigError(f"unknown --worker-files '{options.worker_files}' (one of: "
                                  f"{', '.join(WORKER_FILES)})")
    if kind == "local":
        raise ExecutorConfigError("--worker-files needs --executor dask (or 'executor: dask' "
                                  "in the pipeline file)")
    return "--worker-files remote" if options.worker_files == "remote" else None


def run(path: Path | str | None = None, options: RunOptions = RunOptions(),
        on_event: Callable[[Event], None] = lambda _: None) -> RunReport:
    """Bring the selected stages up to date; holds the pipeline's run lock meanwhile."""
    from mlpipe.api import gitops
    from mlpipe.execute import paramsio  # status does not need them
    from mlpipe.execute.scheduler import Scheduler

    loaded = load(path, options.overrides, options.shared_state)
    gitops.check_siblings(loaded)
    graph = _select(loaded, options.selection)
    order = graph.order()
    results: list[StageReport] = []
    remote_files = _remote_files(loaded.spec.executor, options)
    remote = _run_remote(loaded, options, remote_files)
    pulled = pushed = None

    def collect(event: Event) -> None:
        if isinstance(event, StageFinished):
            results.append(StageReport(event.stage, event.status, event.reason,
                                       event.duration_s, event.stderr_tail, event.warning))
        on_event(event)

    with runlock.hold(loaded.workspace.run_lock):
        on_event(RunStarted(tuple(stage.name for stage in order)))
        session = Session(loaded.workspace, loaded.spec, collect)
        executor: Executor | None = None
        try:
            from mlpipe.api import data

            link = _link(remote, session)
            if link is not None and options.pull:
                pulled = link.pull(session.lock, order, data.objects(loaded.workspace))
                session.fetch = link.fetch
            data.warn_kept(data.put_in_place(session, edited_ok=True), session.warn)
            staging = _staging(remote, session) if remote_files else None
            executor = _executor(loaded.spec.executor, options, collect, staging)
            with paramsio.delivered(loaded.spec, loaded.workspace.state_dir / "tmp",
                                    session.run_id, session.warn) as stage_env:
                scheduler = Scheduler(session, executor, options.policy, options.force,
                                      collect, stage_env)
                scheduler.run(order, {stage.name: graph.upstream(stage.name) for stage in order})
            if session.removed:  # drop the entries of stages the pipeline no longer has
                session.write_lock()
            gitops.sync_ignored(loaded)
            if link is not None and options.push:
                done = {r.name for r in results if r.status in (Status.RAN, Status.RESTORED)}
                pushed = link.push(session.lock, [s for s in order if s.name in done])
        finally:
            if executor is not None:
                executor.close()
            session.close()
    position = {stage.name: i for i, stage in enumerate(order)}
    return RunReport(tuple(sorted(results, key=lambda r: position[r.name])), pulled, pushed)


def _run_remote(loaded: Loaded, options: RunOptions,
                remote_files: str | None) -> RemoteStore | None:
    """The remote of `run --pull/--push` and of remote worker files (`remote_files` says
    what asked for them), chosen before anything runs.

    Raises:
        UsageError: `--remote` without `--pull`, `--push` or remote worker files.
        RemoteConfigError: None is set, or it cannot be opened.
    """
    if not (options.pull or options.push or remote_files):
        if options.remote is not None:
            raise UsageError("--remote needs --pull or --push, or --worker-files remote")
        return None
    from mlpipe.remote.link import choose

    try:
        return choose(loaded.workspace, loaded.spec, options.remote)
    except RemoteConfigError as exc:
        if options.pull or options.push:
            raise
        raise RemoteConfigError(f"{remote_files} needs a remote: {exc.problem}") from None


def _staging(remote: RemoteStore | None, session: Session) -> Staging:
    """Ships deps to the remote and lands outputs from it, for workers without the project."""
    from mlpipe.remote.link import Local
    from mlpipe.remote.shipping import RemoteStaging

    assert remote is not None  # _run_remote chose one for remote worker files
    return RemoteStaging(remote, session.workspace, Local(session.store, session.runcache),
                         session.hasher.manifest)


def _link(remote: RemoteStore | None, session: Session) -> RunLink | None:
    from mlpipe.remote.link import Local, RunLink

    if remote is None:
        return None
    return RunLink(remote, Local(session.store, session.runcache), session.warn)


def push(path: Path | str | None = None,
         options: TransferOptions = TransferOptions()) -> TransferResult:
    """Upload to the remote what the lock file records for the selected stages (and what
    they need): their outputs and run-cache entries, skipping what it already holds.

    Raises:
        RemoteConfigError: No remote is set, or it cannot be opened.
        RemoteError: The remote cannot be reached.
    """
    return _transfer("push", path, options)


def pull(path: Path | str | None = None,
         options: TransferOptions = TransferOptions()) -> TransferResult:
    """Download into the local cache what the lock file records for the selected stages
    (and what they need); the work tree is not touched (`run` then restores).

    Raises:
        RemoteConfigError: No remote is set, or it cannot be opened.
        RemoteError: The remote cannot be reached.
    """
    return _transfer("pull", path, options)


def _transfer(direction: str, path: Path | str | None,
              options: TransferOptions) -> TransferResult:
    from mlpipe.api import data
    from mlpipe.remote import link
    from mlpipe.state import lockfile

    loaded = load(path, (), options.shared_state)
    stages = _select(loaded, options.selection).order()
    remote = link.choose(loaded.workspace, loaded.spec, options.remote)
    lock = lockfile.read(loaded.workspace.lock_file)
    from mlpipe.models import sync as registry_sync
    from mlpipe.remote import registry

    state = loaded.workspace.state_dir
    deps = [d for s in stages for d in s.deps] if options.selection.targets else None
    if direction == "pull":
        registry.pull_records(remote, state)
    extra = {**registry_sync.model_digests(state), **data.objects(loaded.workspace, deps)}
    move = link.push_lock if direction == "push" else link.pull_lock
    result = move(remote, link.Local.of(loaded.workspace), lock, stages, options.jobs, extra)
    if direction == "push" and result.ok:
        registry.push_records(remote, state)
    return result
