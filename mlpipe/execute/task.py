"""A stage's work as a picklable task, and the function that runs it in any process."""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlpipe import kinds
from mlpipe.errors import StageFailed
from mlpipe.kinds.plugin import StageContext
from mlpipe.spec import localcode
from mlpipe.spec.model import StageSpec
from mlpipe.state import runlock


@dataclass(frozen=True)
class StageTask:
    """Everything a worker needs to run one stage.

    Attributes:
        stage: The stage.
        root: The pipeline root (working directory).
        logs_dir: Where `<stage>.out` and `<stage>.err` go.
        lock_file: The pipeline's lock file (kinds may check inputs against it).
        pipeline_file: The pipeline file (e.g. for its `description`).
        parallel_backend: joblib backend for the stage's own `n_jobs` work (e.g. "dask" on a
            dask worker, so it runs on the same cluster); None keeps joblib's default.
        deps: Dep path -> the content hash the Scheduler observed when it started the stage
            (None: missing); what `--worker-files remote` ships, without hashing again.
        state_dir: The pipeline's state directory (None: `root/.mlpipe`).
        stages_lock: The file the processes working on the run's stages hold shared while
            they live (runlock.share), so a later run waits for them; None: nothing to hold.
        env: Environment variables for the stage (its params, see paramsio.py).
    """

    stage: StageSpec
    root: Path
    logs_dir: Path
    lock_file: Path | None = None
    parallel_backend: str | None = None
    deps: Mapping[str, str | None] = field(default_factory=dict)
    pipeline_file: Path | None = None
    state_dir: Path | None = None
    stages_lock: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def stdout_path(self) -> Path:
        return self.logs_dir / f"{self.stage.name}.out"

    @property
    def stderr_path(self) -> Path:
        return self.logs_dir / f"{self.stage.name}.err"


@dataclass(frozen=True)
class TaskOutcome:
    """What running a task gave.

    Attributes:
        stage: Stage name.
        ok: Whether the work succeeded.
        duration_s: Wall time of the work.
        error: Why it failed ('' when ok).
        stderr_tail: Last lines of standard error, for a failure.
        summary: The kind's one-line summary, when ok.
        warning: The kind's warning, when ok (StageResult.warning).
    """

    stage: str
    ok: bool
    duration_s: float
    error: str = ""
    stderr_tail: str = ""
    summary: str = ""
    warning: str = ""


def run_task(task: StageTask) -> TaskOutcome:
    """Run a stage's kind; every failure becomes a TaskOutcome naming the stage, never a raise."""
    started = time.perf_counter()
    task.logs_dir.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(stage=task.stage, root=task.root, stdout_path=task.stdout_path,
                       stderr_path=task.stderr_path,
                       env={**task.env, "MLPIPE_STAGE": task.stage.name,
                            "MLPIPE_ROOT": str(task.root)},
                       lock_file=task.lock_file, pipeline_file=task.pipeline_file,
                       state_dir=task.state_dir)
    try:
        with runlock.share(task.stages_lock), _joblib_backend(task.parallel_backend), \
                localcode.importable(task.root, task.stage.code):
            result = kinds.get(task.stage.kind).run(ctx)
    except StageFailed as exc:
        return TaskOutcome(task.stage.name, False, time.perf_counter() - started, exc.reason,
                           exc.stderr_tail)
    except Exception as exc:  # a kind's bug or bad data: report it under the stage's name
        with task.stderr_path.open("a", encoding="utf-8") as err:
            err.write(traceback.format_exc())
        return TaskOutcome(task.stage.name, False, time.perf_counter() - started,
                           f"{type(exc).__name__}: {exc}")
    return TaskOutcome(task.stage.name, True, time.perf_counter() - started,
                       summary=result.summary, warning=result.warning)


def _joblib_backend(name: str | None) -> contextlib.AbstractContextManager[object]:
    """joblib's `parallel_backend(name)` for the stage's work; nothing when `name` is None.

    With "dask" inside a dask task, joblib finds the worker's client itself (`get_client`) and
    secedes from the worker's thread pool while it waits for its batches.
    """
    if name is None:
        return contextlib.nullcontext()
    import joblib  # only on a worker that was asked for a backend

    return joblib.parallel_backend(name)
