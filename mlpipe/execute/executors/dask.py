"""Stages on a dask.distributed cluster: `mlpipe run --executor dask [--scheduler ADDRESS]`.

The coordinating process (the one that ran `mlpipe run`) still decides what runs, records
results and alone writes the lock file. A worker only runs `deadline.execute(task)`, so a
stage's `timeout:` holds there too, and sends back the TaskOutcome.

Workers read and write the pipeline's root directly: they need the project at the same path,
which a local cluster always has. A worker without it fails the stage and says so. With
`--worker-files remote` they need no shared file system: the executor is given a Staging
(`mlpipe.execute.executors.staging`; api.py injects the remote's), ships each stage's deps before it
submits the stage, and sends a Shipment along; the worker runs the stage in a scratch
directory of its own, and the outputs it uploaded are landed in the workspace before the
Scheduler records them.

Lost workers. When a worker dies while it runs a task, the dask scheduler runs the task again
elsewhere, silently, as often as the cluster's `allowed-failures` setting says. mlpipe does not
leave that to the cluster: an attempt marks itself on the scheduler (`set_metadata`) before it
does any work, so a second run of the same attempt finds the mark, does nothing and returns
`LostWorker`. The executor then says so (a Notice) and submits a new attempt, once; that
attempt first clears what the lost one left at the stage's outputs. A second loss fails the
stage, naming the workers. A `KilledWorker` error (a cluster that allows no failures) is a loss
too. A stage whose kind starts processes (a command's shell and its programs) runs in its own
process group that dies with its worker, so a lost attempt cannot go on writing outputs after
the retry cleared them.

Inside a stage, joblib work (`n_jobs`: cross-validation, searches, forests) goes to the same
cluster through joblib's dask backend (`StageTask.parallel_backend`). joblib secedes from the
worker's thread pool while it waits, so a one-thread worker does not deadlock. A stage with a
timeout runs in a forked child that cannot use the worker's connection, so its joblib work
stays in that child.

dask and distributed are imported only inside the functions here that need them.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from mlpipe import kinds
from mlpipe.errors import ClusterUnavailable, ExecutorConfigError
from mlpipe.execute import deadline
from mlpipe.execute.events import Event, Notice
from mlpipe.execute.executors.base import Executor, ExecutorRequest
from mlpipe.execute.executors.staging import Shipment, StagedResult, Staging
from mlpipe.execute.task import StageTask, TaskOutcome
from mlpipe.spec.refs import escaping_output
from mlpipe.state.fsutil import remove

CONNECT_TIMEOUT_S = 5.0
RETRIES = 1  # new attempts after a lost worker; then the stage fails
MARKS = "mlpipe-attempts"  # scheduler metadata under which attempts mark themselves
NO_ROOT_FIX = ("workers need the project at the same path; run with --worker-files remote "
               "(needs a remote) so workers need no shared file system")


@dataclass(frozen=True)
class LostWorker:
    """What an attempt returns when it finds its own mark: the worker that ran it was lost.

    Attributes:
        address: That worker's address.
    """

    address: str


@dataclass(frozen=True)
class Attempt:
    """One try at running a stage on the cluster.

    Attributes:
        mark: Scheduler metadata path the attempt sets (to its worker's address) when it starts.
        retry: Whether an earlier attempt was lost (its outputs are cleared first; a staged
            attempt starts from a fresh scratch directory anyway).
    """

    mark: tuple[str, ...]
    retry: bool = False


def run_attempt(task: StageTask, attempt: Attempt, shipment: Shipment | None = None
                ) -> TaskOutcome | StagedResult | LostWorker:
    """On a worker: run one attempt at a stage, unless this attempt already ran and was lost.

    Args:
        task: The stage's task, as the coordinator built it.
        attempt: Which try this is.
        shipment: The stage's deps on the remote (`--worker-files remote`): it then runs in a
            scratch directory of this worker, not in `task.root`.

    Returns:
        The task's outcome (with the uploaded outputs and logs when shipped), or LostWorker
        when the scheduler re-ran a lost attempt.
    """
    from distributed import get_client, get_worker

    worker = get_worker()
    address = worker.address
    client = get_client()
    earlier = client.get_metadata(list(attempt.mark), None)
    if earlier is not None:
        return LostWorker(str(earlier))
    client.set_metadata(list(attempt.mark), address)
    if shipment is not None:
        return shipment.run(task, run_here, getattr(worker, "local_directory", None))
    if not task.root.is_dir():
        return TaskOutcome(task.stage.name, False, 0.0, f"worker {address} cannot see the "
                           f"pipeline root {task.root}: {NO_ROOT_FIX}")
    if attempt.retry:
        problem = clear_outputs(task)
        if problem:
            return TaskOutcome(task.stage.name, False, 0.0, f"{problem}; not retried")
    return run_here(task)


def run_here(task: StageTask) -> TaskOutcome:
    """Run a task on this worker, in `task.root` (the deadline paths, as without dask)."""
    # the programs a stage starts must die with the worker, or a lost attempt writes on
    return deadline.execute(task, own_group=kinds.get(task.stage.kind).spawns_processes)


def clear_outputs(task: StageTask) -> str | None:
    """Remove what a lost attempt left at the stage's outputs.

    Returns:
        Why they cannot be cleared (an output leads out of the root), or None.
    """
    escape = escaping_output(task.root, task.stage.outs)
    if escape:
        return escape
    for out in task.stage.outs:
        path = task.root / out
        remove(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    return None


def lost_message(addresses: tuple[str, ...]) -> str:
    """Why a stage failed after losing a worker on each of its attempts."""
    workers = ", then ".join(f"worker {address}" for address in addresses)
    return f"{workers} died while running it; retried once, not again"


def _killed_worker(exc: BaseException) -> str | None:
    """The last worker's address when `exc` is dask's KilledWorker, else None."""
    from distributed import KilledWorker

    if not isinstance(exc, KilledWorker):
        return None
    worker = exc.last_worker
    return str(getattr(worker, "address", worker))


class DaskExecutor(Executor):
    """Submits tasks to a dask cluster; `capacity` is the cluster's worker threads.

    Args:
        client: A connected `distributed.Client` (or an object with the same methods).
        on_event: Receives the Notice of a lost worker (from dask's callback thread).
        cluster: A cluster started for this run, closed with the executor.
        staging: Ships deps and lands outputs through the remote, for workers that cannot see
            the project (None: they read and write the root).
    """

    def __init__(self, client: Any, on_event: Callable[[Event], None],
                 cluster: Any = None, staging: Staging | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self.emit = on_event
        self.staging = staging
        self.capacity = max(1, sum(client.nthreads().values()))
        self._run = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._live: dict[str, Any] = {}
        self._closed = False
        self._local: ThreadPoolExecutor | None = None

    def _here(self) -> ThreadPoolExecutor:
        """Runs the stages that need the project on this machine, one at a time."""
        if self._local is None:
            self._local = ThreadPoolExecutor(1, thread_name_prefix="mlpipe-here")
        return self._local

    def submit(self, task: StageTask) -> Future[TaskOutcome]:
        bridge: Future[TaskOutcome] = Future()
        backend = "dask" if task.stage.timeout is None else None
        task = replace(task, parallel_backend=backend)
        shipment = None
        if self.staging is not None and kinds.get(task.stage.kind).needs_project(
                task.stage.config):  # the registry or git: only here
            return self._here().submit(run_here, replace(task, parallel_backend=None))
        if self.staging is not None:  # in this thread: the Scheduler's hasher is not shared
            try:
                shipped = self.staging.ship(task)
            except Exception as exc:  # a dep directory removed meanwhile, an unreadable file
                shipped = _failed(task, f"cannot ship its files: {type(exc).__name__}: {exc}")
            if isinstance(shipped, TaskOutcome):
                bridge.set_result(shipped)
                return bridge
            shipment = shipped
        self._attempt(task, shipment, bridge, ())
        return bridge

    def _attempt(self, task: StageTask, shipment: Shipment | None,
                 bridge: Future[TaskOutcome], lost: tuple[str, ...]) -> None:
        """Submit one attempt; `lost` holds the workers earlier attempts were lost with."""
        key = f"mlpipe-{task.stage.name}-{uuid.uuid4().hex[:12]}"
        attempt = Attempt((MARKS, self._run, key), retry=bool(lost))
        try:
            future = self.client.submit(run_attempt, task, attempt, shipment, key=key,
                                        pure=False)
        except Exception as exc:  # a closed client, an unpicklable task
            bridge.set_result(_failed(task, f"cannot submit it to the dask cluster: {exc}"))
            return
        with self._lock:
            self._live[key] = future
        future.add_done_callback(
            lambda done: self._settle(done, key, task, shipment, bridge, lost))

    def _settle(self, done: Any, key: str, task: StageTask, shipment: Shipment | None,
                bridge: Future[TaskOutcome], lost: tuple[str, ...]) -> None:
        """In dask's callback thread: resolve the bridge, or try again after a lost worker.

        The bridge resolves whatever happens here; otherwise the run would wait forever.
        """
        with self._lock:
            self._live.pop(key, None)
        try:
            self._resolve(done, task, shipment, bridge, lost)
        except Exception as exc:
            if not bridge.done():
                bridge.set_result(_failed(task, f"{type(exc).__name__}: {exc}"))

    def _resolve(self, done: Any, task: StageTask, shipment: Shipment | None,
                 bridge: Future[TaskOutcome], lost: tuple[str, ...]) -> None:
        try:
            result = done.result()
        except Exception as exc:
            address = _killed_worker(exc)
            result = LostWorker(address) if address else _failed(
                task, f"on the dask cluster: {type(exc).__name__}: {exc}")
        if isinstance(result, StagedResult):
            assert self.staging is not None  # only a shipped attempt gives one
            bridge.set_result(self.staging.land(task, result))  # in this thread: one at a time
            return
        if not isinstance(result, LostWorker):
            bridge.set_result(result)
            return
        lost = (*lost, result.address)
        if self._closed:
            bridge.set_result(_failed(task, f"worker {result.address} died while running it; "
                                            "not retried: the run is stopping"))
        elif len(lost) > RETRIES:
            bridge.set_result(_failed(task, lost_message(lost)))
        else:
            self.emit(Notice(f"stage '{task.stage.name}': worker {result.address} died; "
                             "retrying on another worker"))
            self._attempt(task, shipment, bridge, lost)  # the deps are on the remote already

    def close(self) -> None:
        """Cancel what is still submitted, then close the client (and a cluster of our own)."""
        self._closed = True
        if self._local is not None:
            self._local.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            live = list(self._live.values())
        try:
            if live:
                self.client.cancel(live)
            self.client.set_metadata([MARKS, self._run], None)
        except (OSError, TimeoutError):  # the scheduler is gone: nothing left to tidy there
            pass
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def _failed(task: StageTask, error: str) -> TaskOutcome:
    return TaskOutcome(task.stage.name, False, 0.0, error)


class LocalClusterExecutor(Executor):
    """A DaskExecutor on a local cluster that starts at the first submit, so a run with nothing
    to do starts none, and stops at `close`.

    Args:
        workers: Worker processes (one thread each); also the capacity.
        on_event: Receives notices.
        staging: See DaskExecutor.
    """

    def __init__(self, workers: int, on_event: Callable[[Event], None],
                 staging: Staging | None = None) -> None:
        self.capacity = workers
        self.emit = on_event
        self.staging = staging
        self._started: DaskExecutor | None = None

    def submit(self, task: StageTask) -> Future[TaskOutcome]:
        if self._started is None:
            self._started = start_local_cluster(self.capacity, self.emit, self.staging)
        return self._started.submit(task)

    def close(self) -> None:
        if self._started is not None:
            self._started.close()


def start_local_cluster(workers: int, on_event: Callable[[Event], None],
                        staging: Staging | None = None) -> DaskExecutor:
    """A DaskExecutor on a new cluster of `workers` worker processes on this machine.

    Raises:
        ClusterUnavailable: the cluster did not start.
    """
    from distributed import Client, LocalCluster

    try:  # no dashboard; the scheduler's small HTTP server on any free loopback port; mlpipe
        # reports lost workers itself, so only dask's errors are logged
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                               silence_logs=logging.ERROR)
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ClusterUnavailable(None, str(exc) or type(exc).__name__) from None
    return DaskExecutor(Client(cluster, set_as_default=False), on_event, cluster, staging)


def connect(scheduler: str | None, workers: int | None, on_event: Callable[[Event], None],
            staging: Staging | None = None) -> Executor:
    """A DaskExecutor on the scheduler at `scheduler`, or on a local cluster for this run.

    Args:
        scheduler: A scheduler address (`tcp://host:8786`); None: a local cluster, started
            when the first stage is submitted.
        workers: Worker processes of that local cluster (one thread each; None: one per core).
        on_event: Receives notices.
        staging: Ships deps and lands outputs through the remote (`--worker-files remote`).

    Raises:
        ExecutorConfigError: dask is not installed.
        ClusterUnavailable: the scheduler cannot be reached in time, or has no workers.
    """
    if importlib.util.find_spec("distributed") is None:
        raise ExecutorConfigError("the dask executor needs dask: pip install 'mlpipe[dask]'")
    if scheduler is None:
        return LocalClusterExecutor(workers or os.cpu_count() or 1, on_event, staging)
    from distributed import Client

    problem = ""
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        problem = str(exc) or type(exc).__name__
    if problem:
        gc.collect()  # close the half-made client now: at exit it would hang for 10 s
        raise ClusterUnavailable(scheduler, problem)
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except TimeoutError:
        client.close()
        raise ClusterUnavailable(
            scheduler, f"it has no workers (waited {CONNECT_TIMEOUT_S:g}s)") from None
    return DaskExecutor(client, on_event, staging=staging)


def build(request: ExecutorRequest) -> Executor:
    """The dask executor for a run: `--scheduler`/`--workers` win over the file's; `-j` is
    refused (the cluster's worker threads set how many stages run at once).

    Raises:
        ExecutorConfigError: Options that do not fit a cluster, or no dask.
        ClusterUnavailable: The scheduler cannot be reached.
    """
    if request.jobs > 1:
        raise ExecutorConfigError("-j/--jobs is for --executor local; on dask, the cluster's "
                                  "worker threads set how many stages run at once")
    if request.scheduler and request.workers:
        raise ExecutorConfigError("--workers sizes a local cluster; leave it out with --scheduler")
    scheduler, workers = request.scheduler, request.workers
    if not (scheduler or workers) and request.spec.type == "dask":
        scheduler, workers = request.spec.scheduler, request.spec.workers
    return connect(scheduler, workers, request.on_event, request.staging)
