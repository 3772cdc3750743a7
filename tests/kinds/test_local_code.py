"""The team's own code named by import path: found without PYTHONPATH, keyed, re-read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from conftest import Invoke, git_commit, git_init, statuses, write_tree
from test_train import iris_frame, stage_reason, write_split

from mlpipe.spec.localcode import code_files, dotted_names

PIPELINE = """\
    stages:
      train:
        kind: train
        data: data/train.parquet
        target: species
        estimator: mymodels.ThresholdLR
        hyperparams: {C: 1.0, max_iter: 300}
      evaluate:
        kind: evaluate
        model: train.model
        data: data/test.parquet
        target: species
        plots: false
"""

MODELS = """\
    from sklearn.linear_model import LogisticRegression

    from helpers import SHIFT


    class ThresholdLR(LogisticRegression):
        marker = "v1"

        def fit(self, X, y):
            self.shift_ = SHIFT
            return super().fit(X, y)
"""


def _project(root: Path) -> None:
    write_split(root, iris_frame(), "species")
    write_tree(root, {"mlpipe.yaml": PIPELINE, "mymodels.py": MODELS,
                      "helpers.py": "SHIFT = 1\n"})


def test_local_estimator_runs_without_pythonpath_in_a_subprocess(project: Path) -> None:
    _project(project)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "mlpipe", "run", "--json"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert statuses(done) == {"train": "ran", "evaluate": "ran"}
    lock = (project / "mlpipe.lock").read_text()
    assert "mymodels.py" in lock and "helpers.py" in lock


def test_editing_the_module_or_what_it_imports_makes_the_stage_stale(
        project: Path, mlpipe: Invoke) -> None:
    _project(project)
    assert statuses(mlpipe("run", "--json")) == {"train": "ran", "evaluate": "ran"}
    assert "Everything is up to date" in mlpipe("status").stdout

    (project / "mymodels.py").write_text(
        (project / "mymodels.py").read_text().replace('"v1"', '"v2"'), encoding="utf-8")
    status = json.loads(mlpipe("status", "--json").stdout)
    assert "code mymodels.py changed" in status["stages"][0]["reasons"], status
    result = mlpipe("run", "--json")
    assert statuses(result)["train"] == "ran"
    assert "code mymodels.py changed" in stage_reason(result, "train")
    model = joblib.load(project / "out/train/model.joblib")
    # the edited class was imported afresh in this long-lived process, not the first import
    assert type(model.named_steps["estimator"]).marker == "v2"

    (project / "helpers.py").write_text("SHIFT = 2\n", encoding="utf-8")
    result = mlpipe("run", "--json")
    assert "code helpers.py changed" in stage_reason(result, "train")
    assert joblib.load(project / "out/train/model.joblib").named_steps["estimator"].shift_ == 2
    assert statuses(mlpipe("run", "--json")) == {"train": "cached", "evaluate": "cached"}


def test_checkout_of_older_code_restores_the_older_model(project: Path, mlpipe: Invoke) -> None:
    git_init(project)
    _project(project)
    mlpipe("run")
    first = git_commit(project, "v1")
    model_v1 = (project / "out/train/model.joblib").read_bytes()
    (project / "helpers.py").write_text("SHIFT = 3\n", encoding="utf-8")
    mlpipe("run")
    git_commit(project, "v2")
    subprocess.run(["git", "checkout", "-q", first, "--", "helpers.py"], cwd=project, check=True)
    result = mlpipe("run", "--json")
    assert statuses(result)["train"] == "restored"
    assert (project / "out/train/model.joblib").read_bytes() == model_v1


def test_an_unknown_local_class_is_one_line_from_check(project: Path, mlpipe: Invoke) -> None:
    _project(project)
    (project / "mlpipe.yaml").write_text(
        (project / "mlpipe.yaml").read_text().replace("ThresholdLR", "ThresholdLRR"))
    result = mlpipe("run")
    assert result.exit_code != 0
    out = result.stdout + result.stderr
    assert "ThresholdLRR" in out and "did you mean 'ThresholdLR'" in out, out


class TestCodeFiles:
    def test_follows_absolute_and_relative_imports_inside_the_root(self, tmp_path: Path) -> None:
        write_tree(tmp_path, {
            "pkg/__init__.py": "",
            "pkg/models.py": "from .layers import Dense\nimport numpy\nfrom pkg import util\n",
            "pkg/layers.py": "from ..outside import x\n",
            "pkg/util.py": "",
            "other.py": "",
        })
        assert code_files(tmp_path, ["pkg.models.Net"]) == [
            "pkg/__init__.py", "pkg/layers.py", "pkg/models.py", "pkg/util.py"]

    def test_installed_packages_and_plain_strings_are_not_local(self, tmp_path: Path) -> None:
        write_tree(tmp_path, {"data.csv": "a\n"})
        names = dotted_names({"estimator": "sklearn.linear_model.Ridge",
                              "hyperparams": {"p": "data.csv", "n": 3, "f": ["numpy.log1p"]}},
                             ["estimator", "hyperparams"])
        assert names == ["sklearn.linear_model.Ridge", "data.csv", "numpy.log1p"]
        assert code_files(tmp_path, names) == []

    @pytest.mark.parametrize("source", ["def broken(:\n", "\x00"])
    def test_a_file_that_does_not_parse_is_still_keyed(self, tmp_path: Path,
                                                       source: str) -> None:
        (tmp_path / "mod.py").write_text(source)
        assert code_files(tmp_path, ["mod.X"]) == ["mod.py"]

