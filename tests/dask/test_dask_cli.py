"""`mlpipe run --executor dask` without a cluster of the test's own: the local cluster mlpipe
starts for a run, an unreachable scheduler, dask missing, options that clash, and what
`mlpipe status` and `--help` leave unimported."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_helpers import PROBE, dead, probe_stage, probed, run, start, wait_until
from conftest import Invoke, write_tree

PIPELINE = "stages:\n" + probe_stage("where")


def test_executor_dask_starts_a_local_cluster_for_the_run_and_stops_it(project: Path) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": PIPELINE})
    proc = start(project, "run", "--executor", "dask", "--workers", "1")
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err
    assert "where: ran" in out and "Traceback" not in err
    record = probed(project, "where")
    # the worker process, and the process group it forked for the command stage
    workers = [pid for pid, command in zip(record["ancestors"], record["commands"],
                                           strict=True) if "spawn_main" in command]
    assert workers and proc.pid in record["ancestors"]  # a worker of mlpipe's own cluster
    wait_until(lambda: all(dead(pid) for pid in workers), "the cluster's worker to stop",
               timeout=10)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("address", ["closed", "127.0.0.1", "http://127.0.0.1:8786"])
def test_an_unreachable_scheduler_is_one_line_and_fast(project: Path, address: str) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": PIPELINE})
    if address == "closed":
        address = f"tcp://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    result = run(project, "run", "--executor", "dask", "--scheduler", address, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"mlpipe: error: cannot use the dask scheduler at {address}: ")
    assert line.endswith("check the address and that the scheduler is running, or leave out "
                         "--scheduler to start a local cluster")
    assert took < 15
    assert not (project / "out" / "where.json").exists()


def test_executor_dask_without_dask_says_how_to_install_it(project: Path) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": PIPELINE})
    code = ("import sys\n"
            "sys.modules['dask'] = sys.modules['distributed'] = None\n"
            "sys.argv = ['mlpipe', 'run', '--executor', 'dask']\n"
            "from mlpipe.cli.app import main\nmain()\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == ("mlpipe: error: the dask executor needs dask: "
                                     "pip install 'mlpipe[dask]'")
    assert not (project / "out" / "where.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("--executor", "local", "--scheduler", "tcp://127.0.0.1:1"),
     "--scheduler and --workers need --executor dask (or 'executor: dask' in the pipeline "
     "file)"),
    (("--workers", "2"),
     "--scheduler and --workers need --executor dask (or 'executor: dask' in the pipeline "
     "file)"),
    (("--executor", "dask", "-j", "2"),
     "-j/--jobs is for --executor local; on dask, the cluster's worker threads set how many "
     "stages run at once"),
    (("--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"),
     "--workers sizes a local cluster; leave it out with --scheduler"),
    (("--executor", "spark"), "unknown executor 'spark' (one of: local, dask)"),
])
def test_options_that_clash_are_usage_errors(project: Path, mlpipe: Invoke,
                                             args: tuple[str, ...], message: str) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": PIPELINE})
    result = mlpipe("run", *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"mlpipe: error: {message}"
    assert not (project / "out" / "where.json").exists()


@pytest.mark.parametrize("argv", [["--help"], ["status"], ["run", "--dry-run"]])
def test_status_and_help_do_not_import_dask(project: Path, argv: list[str]) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": "executor: dask\n" + PIPELINE})
    code = (f"import sys\nsys.argv = ['mlpipe', *{argv!r}]\n"
            "from mlpipe.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_run_with_nothing_to_do_starts_no_cluster(project: Path) -> None:
    write_tree(project, {"probe.py": PROBE, "mlpipe.yaml": "executor: dask\n" + PIPELINE})
    assert run(project, "run", "--executor", "local").returncode == 0
    code = ("import sys\nsys.argv = ['mlpipe', 'run']\n"
            "from mlpipe.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    print('exit', exc.code)\n"
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                            text=True, timeout=60, check=True, env={**os.environ, "CI": "1"})
    lines = result.stdout.strip().splitlines()
    assert "where: cached" in lines and lines[-2:] == ["exit 0", "[]"]
