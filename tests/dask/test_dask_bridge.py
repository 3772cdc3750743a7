"""DaskExecutor without a cluster: futures bridged, lost workers retried once, then failed.

A fake client stands in for `distributed.Client`: each submit takes the next scripted result
(a TaskOutcome, a StagedResult, a LostWorker, or an exception) and calls back at once, as dask
would later. `run_attempt` is tested with the worker and its client faked the same way, and
the staging of `--worker-files remote` with a fake Staging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import distributed
import pytest

from mlpipe.execute.events import Event, Notice
from mlpipe.execute.executors import dask as dask_executor
from mlpipe.execute.executors.dask import (
    Attempt,
    DaskExecutor,
    LocalClusterExecutor,
    LostWorker,
    run_attempt,
)
from mlpipe.execute.executors.staging import Runner, StagedResult
from mlpipe.execute.task import StageTask, TaskOutcome
from mlpipe.spec.model import StageSpec


def stage(name: str = "train", outs: tuple[str, ...] = (), timeout: float | None = None
          ) -> StageSpec:
    return StageSpec(name=name, kind="command", config={"cmd": "true"}, outs=outs,
                     timeout=timeout)


def task_for(spec: StageSpec, root: Path = Path("/nonexistent")) -> StageTask:
    return StageTask(spec, root, root / ".mlpipe" / "logs")


class FakeFuture:
    def __init__(self, result: Any) -> None:
        self._result = result

    def result(self) -> Any:
        if isinstance(self._result, BaseException):
            raise self._result
        return self._result

    def add_done_callback(self, fn: Callable[[FakeFuture], None]) -> None:
        fn(self)


@dataclass
class FakeClient:
    """Hands out `results` in order, one per submit; records what was submitted."""

    results: list[Any]
    threads: dict[str, int] = field(default_factory=lambda: {"tcp://w1": 1, "tcp://w2": 1})
    submitted: list[tuple[StageTask, Attempt, str]] = field(default_factory=list)
    shipments: list[Any] = field(default_factory=list)
    metadata: dict[tuple[str, ...], Any] = field(default_factory=dict)
    cancelled: list[Any] = field(default_factory=list)
    closed: bool = False

    def nthreads(self) -> dict[str, int]:
        return self.threads

    def submit(self, fn: Callable[..., Any], task: StageTask, attempt: Attempt,
               shipment: Any = None, *, key: str, pure: bool) -> FakeFuture:
        assert fn is run_attempt and pure is False
        self.submitted.append((task, attempt, key))
        self.shipments.append(shipment)
        return FakeFuture(self.results.pop(0))

    def cancel(self, futures: list[Any]) -> None:
        self.cancelled.extend(futures)

    def set_metadata(self, keys: list[str], value: Any) -> None:
        self.metadata[tuple(keys)] = value

    def get_metadata(self, keys: list[str], default: Any = None) -> Any:
        return self.metadata.get(tuple(keys), default)

    def close(self) -> None:
        self.closed = True


def ok(name: str = "train") -> TaskOutcome:
    return TaskOutcome(name, True, 0.5, summary="done")


def executor(results: list[Any]) -> tuple[DaskExecutor, FakeClient, list[Event]]:
    events: list[Event] = []
    client = FakeClient(results)
    return DaskExecutor(client, events.append), client, events


def test_capacity_is_the_clusters_worker_threads() -> None:
    dask_exec, _, _ = executor([])
    assert dask_exec.capacity == 2
    client = FakeClient([], threads={"tcp://a": 4, "tcp://b": 2, "tcp://c": 1})
    assert DaskExecutor(client, lambda _: None).capacity == 7


def test_a_local_cluster_starts_only_when_a_stage_is_submitted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []

    def start(workers: int, on_event: Callable[[Event], None],
              staging: Any = None) -> DaskExecutor:
        started.append(workers)
        return DaskExecutor(FakeClient([ok()], threads={"tcp://a": 1, "tcp://b": 1, "tcp://c": 1}),
                            on_event)

    monkeypatch.setattr(dask_executor, "start_local_cluster", start)
    lazy = LocalClusterExecutor(3, lambda _: None)
    assert lazy.capacity == 3 and started == []
    lazy.close()
    assert started == []
    assert lazy.submit(task_for(stage())).result().ok and started == [3]


def test_the_bridge_resolves_with_the_workers_outcome() -> None:
    dask_exec, client, events = executor([ok()])
    future = dask_exec.submit(task_for(stage()))
    assert future.done() and future.result() == ok()
    (task, attempt, key), = client.submitted
    assert key.startswith("mlpipe-train-") and not attempt.retry
    assert attempt.mark[-1] == key
    assert task.parallel_backend == "dask"
    assert events == []


def test_a_stage_with_a_timeout_keeps_joblib_in_its_own_process() -> None:
    dask_exec, client, _ = executor([ok()])
    dask_exec.submit(task_for(stage(timeout=5)))
    assert client.submitted[0][0].parallel_backend is None


def test_one_lost_worker_is_retried_once_with_a_notice() -> None:
    dask_exec, client, events = executor([LostWorker("tcp://10.0.0.1:4001"), ok()])
    future = dask_exec.submit(task_for(stage()))
    assert future.result().ok
    assert [attempt.retry for _, attempt, _ in client.submitted] == [False, True]
    first, second = (key for _, _, key in client.submitted)
    assert first != second
    assert events == [Notice("stage 'train': worker tcp://10.0.0.1:4001 died; "
                             "retrying on another worker")]


def test_a_second_lost_worker_fails_the_stage_naming_both_workers() -> None:
    dask_exec, client, events = executor([LostWorker("tcp://a:1"), LostWorker("tcp://b:2")])
    outcome = dask_exec.submit(task_for(stage("fit"))).result()
    assert not outcome.ok and outcome.stage == "fit"
    assert outcome.error == ("worker tcp://a:1, then worker tcp://b:2 died while running it; "
                             "retried once, not again")
    assert len(client.submitted) == 2 and len(events) == 1


def test_killed_worker_from_the_scheduler_counts_as_a_lost_worker() -> None:
    class Worker:
        address = "tcp://gone:9"

    killed = distributed.KilledWorker("mlpipe-train-x", Worker(), 0)
    dask_exec, client, events = executor([killed, ok()])
    assert dask_exec.submit(task_for(stage())).result().ok
    assert len(client.submitted) == 2
    assert "worker tcp://gone:9 died" in events[0].message  # type: ignore[union-attr]


def test_any_other_error_fails_the_stage_instead_of_raising() -> None:
    dask_exec, _, events = executor([ModuleNotFoundError("No module named 'mlpipe'")])
    outcome = dask_exec.submit(task_for(stage())).result()
    assert not outcome.ok
    assert outcome.error == ("on the dask cluster: ModuleNotFoundError: No module named "
                             "'mlpipe'")
    assert events == []


def test_a_loss_while_closing_is_not_retried() -> None:
    dask_exec, client, events = executor([LostWorker("tcp://a:1"), ok()])
    dask_exec.close()
    outcome = dask_exec.submit(task_for(stage())).result()
    assert not outcome.ok and "not retried" in outcome.error
    assert len(client.submitted) == 1 and events == []


def test_close_cancels_live_futures_and_closes_the_client() -> None:
    class Pending(FakeFuture):
        def add_done_callback(self, fn: Callable[[FakeFuture], None]) -> None:
            self.callback = fn

    client = FakeClient([])
    dask_exec = DaskExecutor(client, lambda _: None)
    pending = Pending(None)
    client.submit = lambda *a, **k: pending  # type: ignore[method-assign]
    future = dask_exec.submit(task_for(stage()))
    dask_exec.close()
    assert client.cancelled == [pending] and client.closed
    assert not future.done()


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    """`get_worker()` and `get_client()` as seen from inside a task on worker tcp://w1."""
    client = FakeClient([])

    @dataclass
    class Worker:
        address: str = "tcp://w1:1"

    monkeypatch.setattr(distributed, "get_worker", Worker)
    monkeypatch.setattr(distributed, "get_client", lambda: client)
    return client


def test_an_attempt_run_again_reports_the_lost_worker(fake_worker: FakeClient, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[StageTask] = []
    monkeypatch.setattr(dask_executor.deadline, "execute",
                        lambda task, **_: ran.append(task) or ok())
    task, attempt = task_for(stage(), tmp_path), Attempt(("mlpipe-attempts", "run", "k1"))
    assert run_attempt(task, attempt) == ok()
    assert fake_worker.metadata[attempt.mark] == "tcp://w1:1"
    assert run_attempt(task, attempt) == LostWorker("tcp://w1:1")
    assert len(ran) == 1


def test_a_worker_without_the_root_fails_the_stage(fake_worker: FakeClient) -> None:
    outcome = run_attempt(task_for(stage(), Path("/no/such/project")),
                          Attempt(("m", "r", "k")))
    assert isinstance(outcome, TaskOutcome) and not outcome.ok
    assert outcome.error == ("worker tcp://w1:1 cannot see the pipeline root /no/such/project: "
                             "workers need the project at the same path; run with "
                             "--worker-files remote (needs a remote) so workers need no shared "
                             "file system")


def test_a_retry_clears_what_the_lost_attempt_left(fake_worker: FakeClient, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out" / "model").mkdir(parents=True)
    (tmp_path / "out" / "model" / "partial.bin").write_text("half")
    (tmp_path / "metrics.json").write_text("{")
    seen: list[bool] = []
    monkeypatch.setattr(dask_executor.deadline, "execute", lambda task, **_: seen.append(
        (tmp_path / "out" / "model").exists() or (tmp_path / "metrics.json").exists()) or ok())
    spec = stage(outs=("out/model", "metrics.json"))
    run_attempt(task_for(spec, tmp_path), Attempt(("m", "r", "k2"), retry=True))
    assert seen == [False]
    assert (tmp_path / "out").is_dir()  # parents are made again for the stage to write into


def test_a_first_attempt_leaves_outputs_to_the_coordinator(fake_worker: FakeClient,
                                                           tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    (tmp_path / "data.txt").write_text("kept")
    monkeypatch.setattr(dask_executor.deadline, "execute", lambda task, **_: ok())
    run_attempt(task_for(stage(outs=("data.txt",)), tmp_path), Attempt(("m", "r", "k3")))
    assert (tmp_path / "data.txt").read_text() == "kept"


def test_a_retry_does_not_clear_through_a_link_out_of_the_root(
        fake_worker: FakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, outside = tmp_path / "project", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (root / "data").symlink_to(outside)
    monkeypatch.setattr(dask_executor.deadline, "execute", lambda task, **_: ok())
    outcome = run_attempt(task_for(stage(outs=("data/precious.txt",)), root),
                          Attempt(("m", "r", "k4"), retry=True))
    assert isinstance(outcome, TaskOutcome) and not outcome.ok
    assert "leads out of the pipeline's root" in outcome.error
    assert outcome.error.endswith("; not retried")
    assert (outside / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(("kind", "own_group"), [("command", True), ("ingest", False)])
def test_a_stage_that_starts_programs_runs_in_a_group_that_dies_with_the_worker(
        fake_worker: FakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str,
        own_group: bool) -> None:
    asked: list[bool] = []
    monkeypatch.setattr(dask_executor.deadline, "execute",
                        lambda task, own_group=False: asked.append(own_group) or ok())
    spec = StageSpec(name="s", kind=kind, config={})
    run_attempt(task_for(spec, tmp_path), Attempt(("m", "r", f"k-{kind}")))
    assert asked == [own_group]


@dataclass
class FakeShipment:
    """Records how a worker ran it; gives back `result`."""

    result: StagedResult
    runs: list[tuple[StageTask, Runner, str | None]] = field(default_factory=list)

    def run(self, task: StageTask, runner: Runner, scratch_parent: str | None) -> StagedResult:
        self.runs.append((task, runner, scratch_parent))
        return self.result


@dataclass
class FakeStaging:
    """Ships a FakeShipment (or refuses with `refuse`); lands by recording the result."""

    refuse: TaskOutcome | None = None
    shipped: list[StageTask] = field(default_factory=list)
    landed: list[StagedResult] = field(default_factory=list)

    def ship(self, task: StageTask) -> FakeShipment | TaskOutcome:
        self.shipped.append(task)
        return self.refuse or FakeShipment(StagedResult(ok(task.stage.name)))

    def land(self, task: StageTask, result: StagedResult) -> TaskOutcome:
        self.landed.append(result)
        return TaskOutcome(task.stage.name, True, 0.5, summary="landed")


def staged_executor(results: list[Any], staging: FakeStaging
                    ) -> tuple[DaskExecutor, FakeClient, list[Event]]:
    events: list[Event] = []
    client = FakeClient(results)
    return DaskExecutor(client, events.append, staging=staging), client, events


def test_a_staged_stage_is_shipped_submitted_with_its_shipment_and_landed() -> None:
    staging = FakeStaging()
    staged = StagedResult(ok(), {"model.txt": "ab" * 16}, "out text", "err text")
    dask_exec, client, _ = staged_executor([staged], staging)
    outcome = dask_exec.submit(task_for(stage(outs=("model.txt",)))).result()
    assert outcome.summary == "landed"  # what land returned, not the worker's outcome
    assert [t.stage.name for t in staging.shipped] == ["train"]
    assert isinstance(client.shipments[0], FakeShipment)
    assert staging.landed == [staged]


def test_a_stage_that_cannot_be_shipped_fails_without_reaching_the_cluster() -> None:
    refused = TaskOutcome("train", False, 0.0, "cannot send dep data.csv to remote '/r': full")
    dask_exec, client, _ = staged_executor([], FakeStaging(refuse=refused))
    assert dask_exec.submit(task_for(stage())).result() == refused
    assert client.submitted == []


def test_a_staged_retry_after_a_lost_worker_reuses_the_shipment() -> None:
    staging = FakeStaging()
    dask_exec, client, events = staged_executor(
        [LostWorker("tcp://a:1"), StagedResult(ok())], staging)
    assert dask_exec.submit(task_for(stage())).result().ok
    assert len(staging.shipped) == 1 and len(staging.landed) == 1  # deps were sent once
    assert [attempt.retry for _, attempt, _ in client.submitted] == [False, True]
    first, second = client.shipments
    assert first is second and first is not None
    assert "worker tcp://a:1 died; retrying" in events[0].message  # type: ignore[union-attr]


def test_a_shipped_attempt_runs_in_the_workers_scratch_not_the_root(
        fake_worker: FakeClient) -> None:
    shipment = FakeShipment(StagedResult(ok()))
    task = task_for(stage(), Path("/no/such/project"))  # the root need not exist there
    result = run_attempt(task, Attempt(("m", "r", "k5"), retry=True), shipment)
    assert result == StagedResult(ok())
    ((ran, runner, parent),) = shipment.runs
    assert ran == task and runner is dask_executor.run_here and parent is None
    assert run_attempt(task, Attempt(("m", "r", "k5")), shipment) == LostWorker("tcp://w1:1")
    assert len(shipment.runs) == 1


@pytest.mark.parametrize(("spec", "here"), [
    (StageSpec(name="reg", kind="register", config={"name": "m"}), True),
    (StageSpec(name="dep", kind="deploy", config={"target": "server"}), True),
    (StageSpec(name="ev", kind="evaluate", config={"baseline": {"rev": "main"}}), True),
    (StageSpec(name="ev", kind="evaluate", config={}), False),
])
def test_with_remote_files_a_stage_that_needs_the_project_runs_here(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: StageSpec, here: bool) -> None:
    ran_here: list[Path] = []
    monkeypatch.setattr(dask_executor.deadline, "execute",
                        lambda task, **_: ran_here.append(task.root) or ok(task.stage.name))
    staging = FakeStaging()
    dask_exec, client, _ = staged_executor([StagedResult(ok(spec.name))], staging)
    outcome = dask_exec.submit(task_for(spec, tmp_path)).result()
    dask_exec.close()
    assert outcome.ok
    assert ran_here == ([tmp_path] if here else [])  # in the project, on this machine
    assert len(client.submitted) == (0 if here else 1)
    assert len(staging.shipped) == (0 if here else 1)
