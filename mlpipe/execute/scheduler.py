"""Walking the selected stages: decide each one with fresh hashes, then restore it, run it or
skip it, honouring the failure policy; the work itself goes to an Executor.

An executor (`mlpipe.execute.executors`) only says how a task is started (in this process, in
a process pool, or on a cluster); scheduling, decisions, recording and events stay here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path

from mlpipe.core.planner import Action, Observed, Pending, decide
from mlpipe.errors import CacheCorrupt, StageFailed
from mlpipe.execute import record
from mlpipe.execute.events import Event, FailurePolicy, StageFinished, StageStarted, Status
from mlpipe.execute.executors.base import Executor
from mlpipe.execute.session import Session
from mlpipe.execute.task import StageTask, TaskOutcome
from mlpipe.spec.model import StageSpec
from mlpipe.spec.refs import escaping_output
from mlpipe.state import keylock
from mlpipe.state.objects import MissingObject
from mlpipe.state.runcache import can_cache


@dataclass(frozen=True)
class _Running:
    stage: StageSpec
    key: str | None
    deps_before: Mapping[str, str | None]
    reason: str
    started: float
    key_lock: int | None = None


class Scheduler:
    """Walks the selected stages in dependency order and reports each one's final status."""

    def __init__(self, session: Session, executor: Executor, policy: FailurePolicy,
                 force: bool, on_event: Callable[[Event], None],
                 stage_env: Callable[[StageSpec], Mapping[str, str]] = lambda _: {}) -> None:
        self.session = session
        self.stage_env = stage_env
        self.executor = executor
        self.policy = policy
        self.force = force
        self.emit = on_event
        self.status: dict[str, Status] = {}
        self.first_failure: str | None = None

    def run(self, order: Sequence[StageSpec], upstream: Mapping[str, Sequence[str]]) -> None:
        waiting = list(order)
        running: dict[Future[TaskOutcome], _Running] = {}
        while waiting or running:
            for stage in list(waiting):
                if self.first_failure and self.policy is FailurePolicy.FAIL_FAST:
                    break
                ups = upstream[stage.name]
                bad = [u for u in ups if self.status.get(u) in (Status.FAILED, Status.SKIPPED)]
                if bad:
                    waiting.remove(stage)
                    self._finish(stage, Status.SKIPPED, f"upstream '{bad[0]}' did not complete")
                    continue
                if any(u not in self.status for u in ups):
                    continue
                if len(running) >= self.executor.capacity:
                    break
                waiting.remove(stage)
                self._start(stage, running)
            if running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    self._complete(running.pop(future), future.result())
            elif waiting and self.first_failure and self.policy is FailurePolicy.FAIL_FAST:
                for stage in waiting:
                    self._finish(stage, Status.SKIPPED, f"not run: the run stopped when "
                                 f"'{self.first_failure}' failed (see --keep-going)")
                waiting.clear()

    def _start(self, stage: StageSpec, running: dict[Future[TaskOutcome], _Running]) -> None:
        session = self.session
        facts = session.facts(stage)
        decision = decide(stage, facts, session.lock.get(stage.name), self.force,
                          stage.name in session.lock.unmerged)
        key_lock = None
        if decision.action is Action.RUN and facts.key is not None and can_cache(stage):
            # another run sharing the cache may be producing this key: wait, then look again
            key_lock = keylock.acquire(session.workspace.state_dir / "locks", facts.key)
            facts = session.facts(stage)
            decision = decide(stage, facts, session.lock.get(stage.name), self.force,
                              stage.name in session.lock.unmerged)
            if decision.action is not Action.RUN:
                keylock.release(key_lock)
                key_lock = None
        if decision.action is Action.UP_TO_DATE:
            self._finish(stage, Status.CACHED, decision.reason or "up to date")
            return
        escape = escaping_output(session.workspace.root, stage.outs)
        if escape:  # an earlier stage made a link: clearing or restoring would write through it
            job = _Running(stage, facts.key, _settled(facts.deps), decision.reason,
                           time.perf_counter(), key_lock)
            self._complete(job, TaskOutcome(stage.name, False, 0.0, f"{escape}; not run"))
            return
        if decision.action is Action.RESTORE:
            started = time.perf_counter()
            self.emit(StageStarted(stage.name, "restoring", decision.reason))
            try:
                record.restore(session, stage, decision)
            except (CacheCorrupt, MissingObject) as exc:
                session.warn(f"stage '{stage.name}': cannot restore ({exc}); running it")
            else:
                record.history_row(session, stage, decision.key, "restored", decision.reason,
                                   time.perf_counter() - started)
                self._finish(stage, Status.RESTORED, decision.reason,
                             time.perf_counter() - started)
                return
        self.emit(StageStarted(stage.name, "running", decision.reason))
        job = _Running(stage, facts.key, _settled(facts.deps), decision.reason,
                       time.perf_counter(), key_lock)
        try:
            record.clear_outputs(session, stage)
        except StageFailed as exc:
            self._complete(job, TaskOutcome(stage.name, False, 0.0, exc.reason))
            return
        task = StageTask(stage, session.workspace.root, session.workspace.logs_dir,
                         session.workspace.lock_file, deps=_settled(facts.deps),
                         pipeline_file=session.workspace.pipeline_file,
                         stages_lock=session.workspace.stages_lock,
                         state_dir=session.workspace.state_dir,
                         env=dict(self.stage_env(stage)))
        try:
            future = self.executor.submit(task)
        except BaseException:
            if key_lock is not None:
                keylock.release(key_lock)
            raise
        running[future] = job

    def _complete(self, job: _Running, outcome: TaskOutcome) -> None:
        try:
            self._record(job, outcome)
        finally:
            if job.key_lock is not None:
                keylock.release(job.key_lock)

    def _record(self, job: _Running, outcome: TaskOutcome) -> None:
        stage, session = job.stage, self.session
        duration = time.perf_counter() - job.started
        log = session.workspace.logs_dir / f"{stage.name}.err"
        if outcome.ok:
            try:
                saved = record.record_run(session, stage, job.key, job.deps_before)
            except StageFailed as exc:
                outcome = TaskOutcome(stage.name, False, outcome.duration_s, exc.reason)
            else:
                record.history_row(session, stage, job.key, "ran", job.reason, duration,
                                   saved.metrics)
                self._finish(stage, Status.RAN, job.reason, duration, log=log,
                             warning="; ".join(w for w in (outcome.warning, saved.warning) if w))
                return
        record.history_row(session, stage, job.key, "failed", outcome.error, duration)
        self.first_failure = self.first_failure or stage.name
        self._finish(stage, Status.FAILED, outcome.error, duration, outcome.stderr_tail, log)

    def _finish(self, stage: StageSpec, status: Status, reason: str, duration: float = 0.0,
                stderr_tail: str = "", log: Path | None = None, warning: str = "") -> None:
        self.status[stage.name] = status
        self.emit(StageFinished(stage.name, status, reason, round(duration, 4), stderr_tail,
                                log, warning))


def _settled(deps: Mapping[str, Observed]) -> dict[str, str | None]:
    """The dep hashes of a stage being started: everything upstream of it has finished, so no
    dep is still pending (one that is means the Scheduler started a stage too early)."""
    settled: dict[str, str | None] = {}
    for path, value in deps.items():
        if isinstance(value, Pending):
            raise RuntimeError(f"dep '{path}' still waits for stage '{value.stage}'")
        settled[path] = value
    return settled
