"""The executor seam: the Scheduler driven by a fake executor, and a new executor added by
one module and one name-table entry, used from the pipeline file and from the CLI."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import Invoke, write_tree

from mlpipe import api
from mlpipe.execute.events import Event, FailurePolicy, StageFinished, Status
from mlpipe.execute.executors.base import Executor, ExecutorRequest
from mlpipe.execute.scheduler import Scheduler
from mlpipe.execute.session import Session
from mlpipe.execute.task import StageTask, TaskOutcome, run_task
from mlpipe.spec import settings

PIPELINE = """\
stages:
  produce:
    kind: fake_produce
    text: hello
  consume:
    kind: fake_consume
    source: produce.data
  other:
    kind: fake_produce
    text: other
"""


class FakeExecutor(Executor):
    """Does each task's work in this thread, keeps every task it was given, and fails the
    stages named in `fail` without doing their work."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.submitted: list[str] = []
        self.fail = fail

    def submit(self, task: StageTask) -> Future[TaskOutcome]:
        self.submitted.append(task.stage.name)
        future: Future[TaskOutcome] = Future()
        if task.stage.name in self.fail:
            future.set_result(TaskOutcome(task.stage.name, False, 0.0, "the fake said no"))
        else:
            future.set_result(run_task(task))
        return future


def drive(root: Path, executor: Executor) -> dict[str, Status]:
    """One run of the pipeline under `root` through the Scheduler, with `executor`."""
    loaded = api.load(root / "mlpipe.yaml")
    order = loaded.graph.order()
    finished: dict[str, Status] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, StageFinished):
            finished[event.stage] = event.status

    session = Session(loaded.workspace, loaded.spec, on_event)
    try:
        Scheduler(session, executor, FailurePolicy.FAIL_FAST, False, on_event).run(
            order, {stage.name: loaded.graph.upstream(stage.name) for stage in order})
    finally:
        session.close()
    return finished


class TestSchedulerWithAFakeExecutor:
    def test_stages_go_to_the_executor_in_dependency_order_then_never_again(
            self, tmp_path: Path) -> None:
        write_tree(tmp_path, {"mlpipe.yaml": PIPELINE})
        executor = FakeExecutor()
        assert set(drive(tmp_path, executor).values()) == {Status.RAN}
        assert executor.submitted.index("produce") < executor.submitted.index("consume")
        again = FakeExecutor()
        assert set(drive(tmp_path, again).values()) == {Status.CACHED}
        assert again.submitted == []

    def test_a_recorded_output_comes_back_from_the_store_without_the_executor(
            self, tmp_path: Path) -> None:
        write_tree(tmp_path, {"mlpipe.yaml": PIPELINE})
        drive(tmp_path, FakeExecutor())
        spec = api.load(tmp_path / "mlpipe.yaml").spec
        produced = tmp_path / spec.stage("produce").outputs["data"]
        produced.unlink()
        executor = FakeExecutor()
        statuses = drive(tmp_path, executor)
        assert statuses["produce"] is Status.RESTORED and executor.submitted == []
        assert produced.read_text() == "hello"

    def test_a_failed_stage_skips_what_needs_it_and_records_nothing(
            self, tmp_path: Path) -> None:
        write_tree(tmp_path, {"mlpipe.yaml": PIPELINE})
        executor = FakeExecutor(fail=("produce",))
        statuses = drive(tmp_path, executor)
        assert statuses["produce"] is Status.FAILED
        assert statuses["consume"] is Status.SKIPPED
        assert "consume" not in executor.submitted
        lock = tmp_path / "mlpipe.lock"
        assert not lock.exists() or "produce" not in lock.read_text()


class ThreadsExecutor(Executor):
    """A new executor for the test: each stage on a thread of a small pool."""

    threads_used: set[str] = set()

    def __init__(self, jobs: int) -> None:
        self.capacity = jobs
        self._pool = ThreadPoolExecutor(jobs, thread_name_prefix="test-threads")

    def submit(self, task: StageTask) -> Future[TaskOutcome]:
        def work() -> TaskOutcome:
            ThreadsExecutor.threads_used.add(threading.current_thread().name)
            return run_task(task)

        return self._pool.submit(work)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def build(request: ExecutorRequest) -> Executor:
    """The module-level builder every executor module has."""
    return ThreadsExecutor(max(request.jobs, 1))


@pytest.fixture
def threads_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adds `threads` to the one name table: this module is its module."""
    monkeypatch.setitem(settings.EXECUTORS, "threads", __name__)
    ThreadsExecutor.threads_used = set()


@pytest.mark.usefixtures("threads_executor")
class TestANewExecutor:
    def test_chosen_on_the_command_line(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"mlpipe.yaml": PIPELINE})
        result = mlpipe("run", "--executor", "threads", "-j", "2", "--json")
        assert result.exit_code == 0, result.stderr
        stages = {s["name"]: s["status"] for s in json.loads(result.stdout)["stages"]}
        assert stages == {"produce": "ran", "consume": "ran", "other": "ran"}
        assert ThreadsExecutor.threads_used
        assert all(name.startswith("test-threads") for name in ThreadsExecutor.threads_used)

    def test_chosen_in_the_pipeline_file(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"mlpipe.yaml": "executor: threads\n" + PIPELINE})
        assert mlpipe("check").exit_code == 0
        result = mlpipe("run", "--json")
        assert result.exit_code == 0, result.stderr
        assert ThreadsExecutor.threads_used

    def test_an_unknown_one_lists_the_table(self, project: Path, mlpipe: Invoke) -> None:
        write_tree(project, {"mlpipe.yaml": PIPELINE})
        result = mlpipe("run", "--executor", "spark")
        assert result.exit_code == 2
        assert "unknown executor 'spark' (one of: local, dask, threads)" in result.stderr
