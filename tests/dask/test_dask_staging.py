"""`mlpipe run --executor dask --worker-files remote` on one real local cluster (two worker
processes) with a remote in a directory: stages run in scratch directories of the workers, not
in the project, and their outputs come back through the remote."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import (
    PYTHON,
    Cluster,
    dead,
    finish,
    local_cluster,
    run,
    start,
    wait_until,
)
from conftest import Invoke, write_tree

from mlpipe.state import lockfile
from mlpipe.state.hashing import hash_bytes, hash_file, is_dir_hash

STEPS = """\
import os, pathlib, sys
step = sys.argv[1]
print(f"cwd {os.getcwd()}", file=sys.stderr)
if step == "prepare":
    rows = pathlib.Path("data/raw.csv").read_text().splitlines()
    out = pathlib.Path("work/features")
    (out / "by_letter").mkdir(parents=True)
    (out / "sorted.csv").write_text("\\n".join(sorted(rows)) + "\\n")
    for row in rows:
        with open(out / "by_letter" / f"{row[0]}.csv", "a") as f:
            f.write(row + "\\n")
else:
    text = pathlib.Path("work/features/sorted.csv").read_text()
    pathlib.Path("work/model.txt").write_text(text.upper())
    print(f"trained on {len(text.splitlines())} rows")
"""
REPORT = "#!/bin/sh\necho \"cwd $PWD\" >&2\nwc -l < work/model.txt > report.txt\n" \
         "echo '{\"rows\": 4}' > metrics.json\n"
PIPELINE = """\
stages:
  prepare:
    kind: command
    cmd: python src/steps.py prepare
    deps: [src/steps.py, data/raw.csv]
    outs: [work/features]
  train:
    kind: command
    cmd: python src/steps.py train
    deps: [src/steps.py, work/features]
    outs: [work/model.txt]
  report:
    kind: command
    cmd: ./report.sh
    deps: [report.sh, work/model.txt]
    outs: [report.txt]
    metrics: [metrics.json]
""".replace("cmd: python ", f"cmd: {PYTHON} ")
SOURCES = {"src/steps.py": STEPS, "data/raw.csv": "b,2\na,1\nc,3\na,4\n", "report.sh": REPORT}
OUTPUTS = ("work/features", "work/model.txt", "report.txt", "metrics.json")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with local_cluster(workers=2) as running:
        yield running


@pytest.fixture
def both_workers(cluster: Cluster) -> Cluster:
    cluster.client.wait_for_workers(2, timeout=60)
    return cluster


def project_at(root: Path, top: str = "") -> Path:
    write_tree(root, {**SOURCES, "mlpipe.yaml": top + PIPELINE})
    (root / "report.sh").chmod(0o755)
    return root


def files_under(root: Path, paths: tuple[str, ...]) -> dict[str, bytes]:
    """Relative path -> bytes of every file at or under `paths`."""
    found: dict[str, bytes] = {}
    for path in paths:
        full = root / path
        for file in sorted(full.rglob("*")) if full.is_dir() else [full]:
            if file.is_file():
                found[file.relative_to(root).as_posix()] = file.read_bytes()
    return found


def remote_objects(remote: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}{p.name}": p.read_bytes()
            for p in (remote / "objects").rglob("*") if p.is_file()}


def test_stages_run_off_the_project_and_their_outputs_equal_a_local_run(
        tmp_path: Path, both_workers: Cluster) -> None:
    remote = tmp_path / "remote"
    top = (f"remote: {remote}\n"
           f"executor: {{type: dask, scheduler: '{both_workers.address}', files: remote}}\n")
    staged, local = project_at(tmp_path / "staged", top), project_at(tmp_path / "local", top)
    result = run(staged, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("prepare", "train", "report"):
        assert f"{name}: ran in " in result.stdout
        log = (staged / ".mlpipe" / "logs" / "mlpipe" / f"{name}.err").read_text()
        (cwd,) = [Path(line.removeprefix("cwd ")) for line in log.splitlines()]
        assert cwd.name == "root" and cwd.parent.name.startswith(f"mlpipe-{name}-")
        assert staged not in (cwd, *cwd.parents) and not cwd.exists()  # scratch, then removed
    out_log = staged / ".mlpipe" / "logs" / "mlpipe" / "train.out"
    assert out_log.read_text() == "trained on 4 rows\n"

    result = run(local, "run", "--executor", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert files_under(staged, OUTPUTS) == files_under(local, OUTPUTS)
    assert set(files_under(staged, ("work/features",))) == {
        "work/features/sorted.csv", "work/features/by_letter/a.csv",
        "work/features/by_letter/b.csv", "work/features/by_letter/c.csv"}
    locks = [lockfile.read(root / "mlpipe.lock") for root in (staged, local)]
    assert {n: e.outs for n, e in locks[0].items()} == {n: e.outs for n, e in locks[1].items()}

    on_remote = remote_objects(remote)
    for entry in locks[0].values():
        for digest in [*entry.outs.values(), *entry.deps.values()]:
            assert digest in on_remote
            if not is_dir_hash(digest):
                assert hash_bytes(on_remote[digest]) == digest
    for data in files_under(staged, OUTPUTS).values():
        assert hash_bytes(data) in on_remote  # a directory's files too

    again = run(staged, "run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3 cached" in again.stdout and "ran" not in again.stdout
    for path in ("work/model.txt", "report.txt"):
        (staged / path).unlink()
    again = run(staged, "run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "train: restored" in again.stdout and "report: restored" in again.stdout
    assert (staged / "report.txt").read_bytes() == (local / "report.txt").read_bytes()

    # a fresh copy with only the sources and the lock file gets every output from the remote
    fresh = project_at(tmp_path / "fresh", top)
    shutil.copy(staged / "mlpipe.lock", fresh / "mlpipe.lock")
    pulled = run(fresh, "pull")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    restored = run(fresh, "run", "--executor", "local")
    assert restored.returncode == 0 and "3 restored" in restored.stdout, restored.stdout
    assert files_under(fresh, OUTPUTS) == files_under(local, OUTPUTS)


FAILING = """\
stages:
  boom:
    kind: command
    cmd: echo partial > boom.txt && echo 'first line' >&2 && echo 'it broke' >&2 && exit 4
    outs: [boom.txt]
  lazy:
    kind: command
    cmd: mkdir -p out && echo 'forgot to write it'
    outs: [out/lazy.txt]
  after:
    kind: command
    cmd: cp boom.txt after.txt
    deps: [boom.txt]
    outs: [after.txt]
"""


def test_a_failure_on_a_worker_is_reported_under_its_name_and_lands_nothing(
        tmp_path: Path, both_workers: Cluster) -> None:
    project, remote = tmp_path / "project", tmp_path / "remote"
    write_tree(project, {"mlpipe.yaml": FAILING})
    result = run(project, "run", "--executor", "dask", "--scheduler", both_workers.address,
                 "--worker-files", "remote", "--remote", str(remote), "--keep-going")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    (boom,) = [i for i, line in enumerate(lines) if line.startswith("boom: failed in ")]
    assert lines[boom].endswith("command exited with code 4")
    assert lines[boom + 1:boom + 3] == ["    | first line", "    | it broke"]
    assert any(line.startswith("lazy: failed in ") and
               line.endswith("declared output out/lazy.txt was not written") for line in lines)
    assert "after: skipped" in result.stdout
    logs = project / ".mlpipe" / "logs" / "mlpipe"
    assert (logs / "boom.err").read_text() == "first line\nit broke\n"
    assert (logs / "lazy.out").read_text() == "forgot to write it\n"
    assert not (project / "boom.txt").exists() and not (project / "out" / "lazy.txt").exists()
    assert sorted(p.name for p in project.iterdir()) == [".mlpipe", "mlpipe.yaml", "out"]
    assert list((project / "out").iterdir()) == []  # nothing half-written, no temporary file
    assert lockfile.read(project / "mlpipe.lock") == {}
    assert hash_bytes(b"partial\n") not in remote_objects(remote)


VICTIM = """\
import json, os, pathlib, sys, time
import psutil
probe = pathlib.Path(sys.argv[1])
with open(probe / "runs.txt", "a") as f:
    f.write(os.getcwd() + "\\n")
attempt = len((probe / "runs.txt").read_text().splitlines())
pathlib.Path("result.txt").write_text(f"attempt {attempt}\\n")
if attempt == 1:
    chain = [p.pid for p in psutil.Process().parents()]
    (probe / "ancestors.tmp").write_text(json.dumps({"self": os.getpid(), "chain": chain}))
    os.replace(probe / "ancestors.tmp", probe / "ancestors.json")
    time.sleep(60)  # lives on unless it dies with its worker
"""


def test_a_lost_worker_is_retried_from_a_fresh_scratch_directory(
        tmp_path: Path, both_workers: Cluster) -> None:
    project, probe = tmp_path / "project", tmp_path / "probe"
    probe.mkdir()
    write_tree(project, {"victim.py": VICTIM, "mlpipe.yaml": f"""\
        stages:
          victim:
            kind: command
            cmd: {PYTHON} victim.py {probe}
            deps: [victim.py]
            outs: [result.txt]
        """})
    proc = start(project, "run", "--executor", "dask", "--scheduler", both_workers.address,
                 "--worker-files", "remote", "--remote", str(tmp_path / "remote"))
    try:
        wait_until(lambda: (probe / "ancestors.json").exists() or proc.poll() is not None,
                   "the first attempt to start")
        assert proc.poll() is None, finish(proc).stdout
        workers = both_workers.worker_pids()
        started = json.loads((probe / "ancestors.json").read_text())
        (victim,) = [pid for pid in started["chain"] if pid in workers.values()]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: dead(started["self"]), "the lost attempt to die with its worker",
                   timeout=15)
    finally:
        result = finish(proc)
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = (probe / "runs.txt").read_text().splitlines()
    assert first != second and project.as_posix() not in (first, second)
    assert "died; retrying on another worker" in result.stdout
    assert (project / "result.txt").read_text() == "attempt 2\n"
    digest = hash_file(project / "result.txt")
    assert lockfile.read(project / "mlpipe.lock")["victim"].outs == {"result.txt": digest}


CLOSED = ("--scheduler", "tcp://127.0.0.1:1")  # reaching it would fail with exit 1


@pytest.mark.parametrize(("top", "args", "message"), [
    ("", ("--executor", "dask", *CLOSED, "--worker-files", "remote"),
     "--worker-files remote needs a remote: no remote configured: pass --remote URL, run "
     "`mlpipe remote add NAME URL --default`, or set `remote: URL` in the pipeline file"),
    ("executor: {type: dask, files: remote}\n", (),
     "the pipeline file's 'executor: {files: remote}' needs a remote: no remote configured: "
     "pass --remote URL, run `mlpipe remote add NAME URL --default`, or set `remote: URL` in "
     "the pipeline file"),
    ("", ("--worker-files", "remote"),
     "--worker-files needs --executor dask (or 'executor: dask' in the pipeline file)"),
    ("executor: {type: dask, files: remote}\n", ("--executor", "local", "--worker-files",
                                                 "remote"),
     "--worker-files needs --executor dask (or 'executor: dask' in the pipeline file)"),
    ("", ("--executor", "dask", *CLOSED, "--worker-files", "nfs"),
     "unknown --worker-files 'nfs' (one of: shared, remote)"),
])
def test_remote_worker_files_without_what_they_need_is_a_usage_error(
        project: Path, mlpipe: Invoke, top: str, args: tuple[str, ...], message: str) -> None:
    write_tree(project, {**SOURCES, "mlpipe.yaml": top + PIPELINE})
    result = mlpipe("run", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"mlpipe: error: {message}"
    assert not (project / "work").exists() and not (project / "mlpipe.lock").exists()
