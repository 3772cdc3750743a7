"""The library facade: load a pipeline, plan it, run it. The CLI calls only these functions.

    from mlpipe import api
    report = api.run("mlpipe.yaml", api.RunOptions(jobs=2))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlpipe import graph as graphlib
from mlpipe import runlock
from mlpipe.execute.events import Event, FailurePolicy, RunStarted, StageFinished, Status
from mlpipe.execute.session import Session
from mlpipe.planner import Plan, PlanInputs, plan
from mlpipe.spec.model import PipelineSpec
from mlpipe.spec.parse import load as load_spec
from mlpipe.workspace import Workspace


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
    """

    selection: Selection = field(default_factory=Selection)
    force: bool = False
    jobs: int = 1
    policy: FailurePolicy = FailurePolicy.FAIL_FAST
    overrides: tuple[str, ...] = ()
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
    """A whole run: each selected stage's result, in run order."""

    stages: tuple[StageReport, ...]

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
    workspace = Workspace.for_file(path, shared_state)
    spec = load_spec(workspace.pipeline_file, overrides)
    root = workspace.root
    graph = graphlib.build(spec, lambda dep: os.path.exists(root / dep))
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
        disk = session.hasher.hash(paths)
        return plan(PlanInputs(order=order, writers=graph.writers, disk=disk,
                               versions=session.versions, lock=session.lock,
                               run_hit=session.run_hit, stored=session.store.has_all,
                               force=force))
    finally:
        session.close()


def run(path: Path | str | None = None, options: RunOptions = RunOptions(),
        on_event: Callable[[Event], None] = lambda _: None) -> RunReport:
    """Bring the selected stages up to date; holds the pipeline's run lock meanwhile."""
    from mlpipe.execute.executor import Scheduler, local_executor  # status does not need it

    loaded = load(path, options.overrides, options.shared_state)
    graph = _select(loaded, options.selection)
    order = graph.order()
    results: list[StageReport] = []

    def collect(event: Event) -> None:
        if isinstance(event, StageFinished):
            results.append(StageReport(event.stage, event.status, event.reason,
                                       event.duration_s, event.stderr_tail, event.warning))
        on_event(event)

    with runlock.hold(loaded.workspace.run_lock):
        on_event(RunStarted(tuple(stage.name for stage in order)))
        session = Session(loaded.workspace, loaded.spec, collect)
        executor = local_executor(options.jobs)
        try:
            scheduler = Scheduler(session, executor, options.policy, options.force, collect)
            scheduler.run(order, {stage.name: graph.upstream(stage.name) for stage in order})
        finally:
            executor.close()
            session.close()
    position = {stage.name: i for i, stage in enumerate(order)}
    return RunReport(tuple(sorted(results, key=lambda r: position[r.name])))
