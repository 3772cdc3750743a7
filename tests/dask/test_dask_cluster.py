"""`mlpipe run --executor dask --scheduler ADDRESS` against one real local cluster (two worker
processes, one thread each) shared by this module's tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import (
    PROBE,
    PYTHON,
    Cluster,
    dead,
    finish,
    local_cluster,
    probe_stage,
    probed,
    run,
    start,
    wait_until,
)
from conftest import write_tree

from mlpipe.execute.events import Event
from mlpipe.execute.executors.dask import DaskExecutor
from mlpipe.execute.task import StageTask
from mlpipe.spec.model import StageSpec
from mlpipe.state import lockfile
from mlpipe.state.hashing import hash_file
from mlpipe.state.objects import ObjectStore
from mlpipe.state.workspace import Workspace


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with local_cluster(workers=2) as running:
        yield running


@pytest.fixture
def both_workers(cluster: Cluster) -> Cluster:
    """The cluster with both workers up (after a test killed one, its nanny restarts it)."""
    cluster.client.wait_for_workers(2, timeout=60)
    return cluster


def dask_run(root: Path, cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return run(root, "run", "--executor", "dask", "--scheduler", cluster.address, *args)


def ran_on(record: dict[str, Any], workers: dict[str, int]) -> set[int]:
    """Which worker processes are among a probe's ancestors."""
    return set(record["ancestors"]) & set(workers.values())


def test_independent_stages_run_on_different_workers_at_the_same_time(
        project: Path, both_workers: Cluster) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": "stages:\n"
                         + probe_stage("left", 1.5) + probe_stage("right", 1.5)})
    result = dask_run(project, both_workers)
    assert result.returncode == 0, result.stdout + result.stderr
    workers = both_workers.worker_pids()
    left, right = probed(project, "left"), probed(project, "right")
    on_left, on_right = ran_on(left, workers), ran_on(right, workers)
    assert len(on_left) == 1 and len(on_right) == 1 and on_left != on_right
    assert left["start"] < right["end"] and right["start"] < left["end"]


VICTIM = """\
import json, os, pathlib, sys, time
import psutil
runs = pathlib.Path("runs.txt")
with runs.open("a") as f:
    f.write("run\\n")
attempt = len(runs.read_text().splitlines())
with open("out/result.txt", "a") as f:
    f.write(f"attempt {attempt}\\n")
if attempt == 1:
    chain = [p.pid for p in psutil.Process().parents()]
    pathlib.Path("ancestors.tmp").write_text(json.dumps({"self": os.getpid(), "chain": chain}))
    os.replace("ancestors.tmp", "ancestors.json")
    time.sleep(60)  # lives on unless it dies with its worker
    with open("out/result.txt", "a") as f:
        f.write("the lost attempt outlived its worker\\n")
    sys.exit(3)
"""


def test_a_killed_worker_is_survived_by_one_retry(project: Path, both_workers: Cluster) -> None:
    write_tree(project, {"victim.py": VICTIM, "mlpipe.yaml": f"""\
        stages:
          victim:
            kind: command
            cmd: {PYTHON} victim.py
            deps: [victim.py]
            outs: [out/result.txt]
        """})
    proc = start(project, "run", "--executor", "dask", "--scheduler", both_workers.address)
    try:
        wait_until(lambda: (project / "ancestors.json").exists() or proc.poll() is not None,
                   "the first attempt to start")
        assert proc.poll() is None, finish(proc).stdout
        workers = both_workers.worker_pids()
        started = json.loads((project / "ancestors.json").read_text())
        (victim,) = [pid for pid in started["chain"] if pid in workers.values()]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: dead(started["self"]), "the lost attempt's command to die with its "
                   "worker", timeout=15)
    finally:
        result = finish(proc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "runs.txt").read_text().splitlines() == ["run", "run"]
    assert (project / "out" / "result.txt").read_text() == "attempt 2\n"  # not the lost one's
    (address,) = [a for a, pid in workers.items() if pid == victim]
    assert (f"warning: stage 'victim': worker {address} died; retrying on another worker"
            in result.stdout)
    assert "victim: ran" in result.stdout
    digest = hash_file(project / "out" / "result.txt")
    assert lockfile.read(project / "mlpipe.lock")["victim"].outs == {"out/result.txt": digest}
    assert ObjectStore(Workspace.for_file(project / "mlpipe.yaml").objects_dir).has(digest)


ML_PIPELINE = """\
stages:
  raw:
    kind: command
    cmd: python -c "print('a,b'); [print(f'{i},{i * i % 7}') for i in range(50)]" > raw.csv
    outs: [raw.csv]
  summary:
    kind: command
    cmd: cut -d, -f2 raw.csv | sort | uniq -c > summary.txt
    deps: [raw.csv]
    outs: [summary.txt]
  ingest:
    kind: ingest
    dataset: iris
    target: species
    test_size: 0.3
    seed: 42
  train:
    kind: train
    data: ingest.train
    schema: ingest.schema
    estimator: logistic_regression
    hyperparams: {max_iter: 500}
    search: {type: grid, params: {C: [0.5, 1.0]}, cv: 3}
    cv: 3
  evaluate:
    kind: evaluate
    model: train.model
    data: ingest.test
    schema: ingest.schema
""".replace("cmd: python ", f"cmd: {PYTHON} ")


def test_results_equal_the_local_executors_and_cv_runs_on_the_cluster(
        tmp_path: Path, both_workers: Cluster) -> None:
    from distributed import get_task_stream

    on_dask, local = tmp_path / "dask", tmp_path / "local"
    for root in (on_dask, local):
        write_tree(root, {"mlpipe.yaml": ML_PIPELINE})
    with get_task_stream(both_workers.client) as stream:
        local_proc = start(local, "run")  # both at once: the test takes less time
        try:
            results = [dask_run(on_dask, both_workers)]
        finally:
            results.append(finish(local_proc))
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    outs = [{name: entry.outs for name, entry in lockfile.read(root / "mlpipe.lock").items()}
            for root in (on_dask, local)]
    assert outs[0] == outs[1]
    assert set(outs[0]) == {"raw", "summary", "ingest", "train", "evaluate"}
    keys = [str(task["key"]) for task in stream.data]
    assert any(key.startswith("mlpipe-train-") for key in keys)
    # train's search and cross-validation went to the cluster as joblib batches
    assert any(key.startswith("batch_of__fit_and_score") for key in keys), keys


def test_the_files_executor_is_honoured_and_executor_local_overrides_it(
        project: Path, both_workers: Cluster) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": (
        f"executor: {{type: dask, scheduler: '{both_workers.address}'}}\n"
        "stages:\n" + probe_stage("where"))})
    result = run(project, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    workers = both_workers.worker_pids()
    assert len(ran_on(probed(project, "where"), workers)) == 1
    proc = start(project, "run", "--force", "--executor", "local")
    result = finish(proc)
    assert result.returncode == 0, result.stdout + result.stderr
    record = probed(project, "where")
    assert not ran_on(record, workers) and proc.pid in record["ancestors"]


def test_a_timeout_kills_the_stage_on_a_worker(project: Path, both_workers: Cluster) -> None:
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          hang:
            kind: command
            cmd: (sleep 60 & echo $! > bg.pid; wait)
            outs: [hang.txt]
            timeout: 1
        """})
    workers = both_workers.worker_pids()
    started = time.monotonic()
    result = dask_run(project, both_workers)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hang: failed in" in result.stdout and "timed out after 1s" in result.stdout
    assert took < 30
    wait_until(lambda: dead(int((project / "bg.pid").read_text())), "the stage's child to die",
               timeout=5)
    assert both_workers.worker_pids() == workers  # the stage was killed, not its worker
    assert "hang" not in lockfile.read(project / "mlpipe.lock")


def test_a_worker_without_the_project_fails_the_stage(tmp_path: Path,
                                                      both_workers: Cluster) -> None:
    from distributed import Client

    events: list[Event] = []
    executor = DaskExecutor(Client(both_workers.address, set_as_default=False), events.append)
    try:
        elsewhere = tmp_path / "not-here"
        task = StageTask(StageSpec("fit", "command", {"cmd": "true"}), elsewhere,
                         elsewhere / "logs")
        outcome = executor.submit(task).result(timeout=60)
    finally:
        executor.close()
    assert not outcome.ok and outcome.stage == "fit"
    address = outcome.error.split()[1]
    assert address in both_workers.worker_pids()
    assert outcome.error == (f"worker {address} cannot see the pipeline root {elsewhere}: "
                             "workers need the project at the same path; run with "
                             "--worker-files remote (needs a remote) so workers need no shared "
                             "file system")
    assert events == []
    assert not elsewhere.exists()  # the worker made nothing there
