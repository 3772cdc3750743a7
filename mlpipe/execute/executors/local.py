"""Stages on this machine: one at a time in this process, or `-j N` at once in a process pool."""

from __future__ import annotations

from concurrent.futures import Future

from mlpipe.errors import ExecutorConfigError
from mlpipe.execute import deadline
from mlpipe.execute.executors.base import Executor, ExecutorRequest
from mlpipe.execute.task import StageTask, TaskOutcome


class InlineExecutor(Executor):
    """Runs each task in this process (a stage with a timeout in a child), one at a time."""

    def submit(self, task: StageTask) -> Future[TaskOutcome]:
        future: Future[TaskOutcome] = Future()
        future.set_result(deadline.run_stage(task))
        return future


class PoolExecutor(Executor):
    """Runs up to `jobs` tasks at once in worker processes that die with this one."""

    def __init__(self, jobs: int) -> None:
        import multiprocessing  # only with -j N: a no-op run does not pay for it
        import os
        from concurrent.futures import ProcessPoolExecutor

        from mlpipe.execute import lifeline

        self.capacity = jobs
        self._pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                         initializer=lifeline.bind_to_parent,
                                         initargs=(os.getpid(),))

    def submit(self, task: StageTask) -> Future[TaskOutcome]:
        return self._pool.submit(deadline.run_stage, task)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def local_executor(jobs: int) -> Executor:
    return InlineExecutor() if jobs <= 1 else PoolExecutor(jobs)


def build(request: ExecutorRequest) -> Executor:
    """`-j N` processes on this machine; cluster options are refused."""
    if request.scheduler or request.workers:
        raise ExecutorConfigError("--scheduler and --workers need --executor dask (or "
                                  "'executor: dask' in the pipeline file)")
    return local_executor(request.jobs)
