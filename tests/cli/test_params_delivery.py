"""Params reach a stage's code: the params file rewritten for a `-S` run (and put back, even
when the run is killed), `MLPIPE_PARAMS_FILE`, and `MLPIPE_PARAM_<KEY>` variables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import PY, Invoke, git_commit, git_init, statuses, write_tree

from mlpipe.execute import paramsio
from mlpipe.spec.model import StageSpec

PARAMS = "# the team's params\ntrain:\n  C: 1.0   # regularisation\n  seed: 3\n"
# A script written for DVC: it reads params.yaml itself and knows nothing of mlpipe.
TRAIN = """\
import json, os, time, yaml
C = yaml.safe_load(open("params.yaml"))["train"]["C"]
from_json = json.load(open(os.environ["MLPIPE_PARAMS_FILE"]))["train"]["C"]
json.dump({"C": C, "json_C": from_json, "env_C": os.environ["MLPIPE_PARAM_TRAIN_C"],
           "env_train": os.environ["MLPIPE_PARAM_TRAIN"]}, open("model.json", "w"))
if os.environ.get("SLOW"):
    open("started", "w").close()
    time.sleep(60)
"""
EVALUATE = """\
import json
json.dump({"score": json.load(open("model.json"))["C"] * 10}, open("metrics.json", "w"))
"""
PIPELINE = """\
params_file: params.yaml
stages:
  train:
    kind: command
    cmd: python train.py
    deps: [train.py]
    params: [train]
    outs: [model.json]
  evaluate:
    kind: command
    cmd: python evaluate.py
    deps: [evaluate.py, model.json]
    metrics: [metrics.json]
"""


def _project(root: Path) -> None:
    git_init(root)
    write_tree(root, {"params.yaml": PARAMS, "train.py": TRAIN, "evaluate.py": EVALUATE,
                      "mlpipe.yaml": PIPELINE})
    git_commit(root, "pipeline")


def test_a_script_reading_params_yaml_trains_with_the_override(project: Path,
                                                                mlpipe: Invoke) -> None:
    _project(project)
    result = mlpipe("run", "-S", "train.C=0.1", "--json")
    assert result.exit_code == 0, result.output
    model = json.loads((project / "model.json").read_text())
    assert model == {"C": 0.1, "json_C": 0.1, "env_C": "0.1",
                     "env_train": json.dumps({"C": 0.1, "seed": 3}, sort_keys=True)}
    assert json.loads((project / "metrics.json").read_text()) == {"score": 1.0}
    assert (project / "params.yaml").read_text() == PARAMS  # put back byte for byte
    assert not list((project / ".mlpipe" / "tmp").iterdir())
    lock = (project / "mlpipe.lock").read_text()
    assert "0.1" in lock

    again = mlpipe("run", "--json")  # the declared value: trains again, with 1.0
    assert statuses(again) == {"train": "ran", "evaluate": "ran"}
    assert json.loads((project / "model.json").read_text())["C"] == 1.0
    assert json.loads((project / "metrics.json").read_text()) == {"score": 10.0}


def test_without_overrides_the_params_file_is_left_alone(project: Path, mlpipe: Invoke) -> None:
    _project(project)
    before = (project / "params.yaml").stat().st_mtime_ns
    assert mlpipe("run").exit_code == 0
    assert (project / "params.yaml").stat().st_mtime_ns == before
    assert json.loads((project / "model.json").read_text())["env_C"] == "1.0"


def test_a_killed_run_leaves_the_params_file_as_it_was(project: Path) -> None:
    _project(project)
    mode = (project / "params.yaml").stat().st_mode
    proc = subprocess.Popen([PY, "-m", "mlpipe", "run", "-S", "train.C=0.25"], cwd=project,
                            env={**os.environ, "SLOW": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (project / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the stage never started"
        time.sleep(0.05)
    assert "0.25" in (project / "params.yaml").read_text()  # what the script saw
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while (project / "params.yaml").read_text() != PARAMS:
        assert time.monotonic() < deadline, "params.yaml was not put back"
        time.sleep(0.05)
    assert (project / "params.yaml").stat().st_mode == mode
    time.sleep(0.2)
    tmp = project / ".mlpipe" / "tmp"
    assert not list(tmp.glob("params-*.journal")) and not list(tmp.glob("params-*.orig"))
    assert subprocess.run(["git", "status", "--porcelain", "params.yaml"], cwd=project,
                          capture_output=True, text=True, check=True).stdout == ""
    assert subprocess.run([PY, "-m", "mlpipe", "run"], cwd=project, check=False).returncode == 0
    assert not list(tmp.iterdir())  # the dead run's params JSON went with the next run


def test_a_journal_left_by_a_dead_run_is_restored_by_the_next(project: Path,
                                                               mlpipe: Invoke) -> None:
    _project(project)
    tmp = project / ".mlpipe" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "params-dead.orig").write_text(PARAMS)
    (project / "params.yaml").write_text("train:\n  C: 9.0\n  seed: 3\n")
    dead = subprocess.run([PY, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp / "params-dead.journal").write_text(json.dumps({
        "target": str(project / "params.yaml"), "backup": str(tmp / "params-dead.orig"),
        "mode": 0o644, "pid": int(dead)}))
    assert mlpipe("run", "-S", "train.seed=4").exit_code == 0
    assert (project / "params.yaml").read_text() == PARAMS
    assert json.loads((project / "model.json").read_text())["C"] == 1.0


def test_a_kind_that_cannot_read_a_declared_param_warns(project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    write_tree(project, {"mlpipe.yaml": """\
        params: {size: 3, label: a}
        stages:
          produce:
            kind: fake_produce
            text: ${params.label}
            params: [size]
          other:
            kind: fake_produce
            text: "n=${params.size}"
            params: [size]
        """})
    result = mlpipe("run", "-S", "size=5")
    assert result.exit_code == 0, result.output
    assert "stage 'produce': param 'size' is overridden (-S size)" in result.output
    assert "stage 'other'" not in result.output
    assert "overridden" not in mlpipe("run", "-S", "label=b").output


def test_env_names_and_values() -> None:
    stage = StageSpec("s", "command", params={"model": {"C": 0.5, "kernel": "rbf"},
                                              "opt.lr-rate": 1e-3})
    env = paramsio.stage_env(stage, Path("/x/params.json"))
    assert env == {"MLPIPE_PARAMS_FILE": "/x/params.json",
                   "MLPIPE_PARAM_MODEL": '{"C": 0.5, "kernel": "rbf"}',
                   "MLPIPE_PARAM_MODEL_C": "0.5", "MLPIPE_PARAM_MODEL_KERNEL": "rbf",
                   "MLPIPE_PARAM_OPT_LR_RATE": "0.001"}
