"""The executor interface, what a run asks of an executor, and building one by name.

An executor only says how a StageTask is started (in this process, in a process pool, on a
cluster); deciding, restoring, recording and events stay in the Scheduler. Executors are found
by name in `mlpipe.spec.settings.EXECUTORS` (name -> module), the one table the pipeline
file's `executor:` and `--executor` are both checked against. An executor module has a
`build(request) -> Executor` that refuses, in one line, the options it cannot honour.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlpipe.errors import ExecutorConfigError
from mlpipe.spec.settings import EXECUTORS, ExecutorSpec

if TYPE_CHECKING:
    from mlpipe.execute.events import Event
    from mlpipe.execute.executors.staging import Staging
    from mlpipe.execute.task import StageTask, TaskOutcome


class Executor(ABC):
    """Runs StageTasks; `capacity` of them at once."""

    capacity: int = 1

    @abstractmethod
    def submit(self, task: StageTask) -> Future[TaskOutcome]:
        """Start a task and return its future."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release workers."""


@dataclass(frozen=True)
class ExecutorRequest:
    """What one run asks of its executor.

    Attributes:
        spec: The pipeline file's `executor:` (its defaults when the file has none).
        jobs: `-j/--jobs`: stages at once on this machine.
        scheduler: `--scheduler`: a cluster's address, or None.
        workers: `--workers`: the size of a cluster started for this run, or None.
        on_event: Receives notices (e.g. a cluster's dashboard address).
        staging: Ships stage files through the remote (`--worker-files remote`), or None.
    """

    spec: ExecutorSpec = field(default_factory=ExecutorSpec)
    jobs: int = 1
    scheduler: str | None = None
    workers: int | None = None
    on_event: Callable[[Event], None] = lambda _: None
    staging: Staging | None = None


def build(name: str, request: ExecutorRequest) -> Executor:
    """The executor called `name`, built for `request`.

    Raises:
        ExecutorConfigError: An unknown name, or options the executor cannot honour.
    """
    module = EXECUTORS.get(name)
    if module is None:
        raise ExecutorConfigError(f"unknown executor '{name}' (one of: {', '.join(EXECUTORS)})")
    executor: Executor = importlib.import_module(module).build(request)
    return executor
