"""A swapped model file is refused before it is unpickled, at every place that loads one.

The swapped file holds a pickle whose loading creates a marker file, as a malicious model
could run any code: each test asserts the one-line refusal (file, recorded hash, actual hash)
and that the marker was never created.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree

from mlpipe.models.registry import ModelVersion, Registry
from mlpipe.state import lockfile
from mlpipe.state.hashing import hash_file
from mlpipe.state.lockcheck import Producer, producer_of
from mlpipe.state.lockfile import LockEntry

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
META = {"task": "classification", "target": "species", "classes": [0, 1, 2],
        "features": [{"name": n, "dtype": "float64"} for n in FEATURES]}


class Payload:
    """Unpickling this runs code: it creates `marker`, as a malicious model file could."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def swap(path: Path, marker: Path) -> str:
    """Replace the model file at `path` with the payload; returns the new file's hash."""
    path.chmod(0o644)
    joblib.dump(Payload(marker), path)
    return hash_file(path)


@pytest.fixture(scope="module")
def iris() -> tuple[Any, pd.DataFrame]:
    """A fitted iris pipeline and the iris frame (features plus `species`)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "species"]
    x, y = frame[FEATURES], frame["species"]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x, y), frame


def register(root: Path, model: Any) -> tuple[ModelVersion, Path]:
    """Register `model` as iris@champion; returns the version and its stored file."""
    source = root.parent / "model.joblib"
    joblib.dump(model, source)
    registry = Registry(root / ".mlpipe")
    version = registry.register("iris", source, META, {}, {})
    registry.set_alias("iris", "champion", version.version)
    return version, registry.store.path_of(version.digest)


def reason(result: Any, stage: str) -> str:
    return next(s["reason"] for s in json.loads(result.stdout)["stages"] if s["name"] == stage)


def assert_refused(message: str, path: Path | str, recorded: str, actual: str) -> None:
    assert "\n" not in message.strip()
    assert str(path) in message
    assert f"recorded {recorded}" in message or f"records {recorded}" in message
    assert f"hashes to {actual}" in message
    assert "refusing to load it" in message


def test_serve_refuses_a_swapped_registry_file(project: Path, mlpipe: Invoke, iris: tuple,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr("mlpipe.serving.server.run_server", lambda *a, **k: started.append("x"))
    version, stored = register(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    marker = project / "pwned"
    actual = swap(stored, marker)
    result = mlpipe("serve", "iris@champion")
    assert result.exit_code == 2 and result.stderr.startswith("mlpipe: error: model iris:1")
    assert_refused(result.stderr, stored, version.digest, actual)
    assert not marker.exists() and not started


def test_deploy_batch_and_bundle_refuse_a_swapped_registry_file(project: Path, mlpipe: Invoke,
                                                                iris: tuple) -> None:
    version, stored = register(project, iris[0])
    iris[1].head(5).to_parquet(project / "rows.parquet", index=False)
    marker = project / "pwned"
    actual = swap(stored, marker)
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          batch: {kind: deploy, model: "iris:1", target: batch, data: rows.parquet}
          bundle: {kind: deploy, model: "iris:1", target: bundle}
    """})
    result = mlpipe("run", "--json", "--keep-going")
    assert result.exit_code == 1
    assert statuses(result) == {"batch": "failed", "bundle": "failed"}
    for stage in ("batch", "bundle"):
        assert_refused(reason(result, stage), stored, version.digest, actual)
    assert not marker.exists()
    assert not (project / "out/batch/predictions.parquet").exists()
    assert not (project / "out/bundle/bundle").exists()


def test_bundle_server_refuses_a_swapped_model_file(project: Path, mlpipe: Invoke,
                                                    iris: tuple) -> None:
    version, _ = register(project, iris[0])
    write_tree(project, {"mlpipe.yaml": "stages:\n  b: {kind: deploy, model: iris, "
                                        "target: bundle}\n"})
    assert mlpipe("run").exit_code == 0
    bundle = project / "out/b/bundle"
    marker = project / "pwned"
    actual = swap(bundle / "model.joblib", marker)
    launcher = ("import runpy, sys; sys.modules['mlpipe'] = None; sys.argv = ['serve.py']; "
                "runpy.run_path('serve.py', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", launcher], cwd=bundle, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.startswith("serve.py: error: model file")
    assert_refused(done.stderr, bundle / "model.joblib", version.digest, actual)
    assert not marker.exists()


TRAIN_EVALUATE = """\
    stages:
      train: {kind: train, data: data/train.parquet, target: species,
              estimator: logistic_regression, hyperparams: {max_iter: 300}}
      evaluate: {kind: evaluate, model: train.model, data: data/test.parquet, target: species}
"""


def write_data(root: Path, frame: pd.DataFrame) -> None:
    (root / "data").mkdir(exist_ok=True)
    frame.iloc[::2].to_parquet(root / "data/train.parquet", index=False)
    frame.iloc[1::2].to_parquet(root / "data/test.parquet", index=False)


def test_evaluate_refuses_a_model_swapped_after_train(project: Path, mlpipe: Invoke,
                                                      iris: tuple) -> None:
    write_data(project, iris[1])
    write_tree(project, {"mlpipe.yaml": TRAIN_EVALUATE})
    assert statuses(mlpipe("run", "--json")) == {"train": "ran", "evaluate": "ran"}
    recorded = lockfile.read(project / "mlpipe.lock")["train"].outs["out/train/model.joblib"]
    marker = project / "pwned"
    actual = swap(project / "out/train/model.joblib", marker)

    result = mlpipe("run", "evaluate", "--no-deps", "--json")
    assert result.exit_code == 1 and statuses(result) == {"evaluate": "failed"}
    message = reason(result, "evaluate")
    assert_refused(message, "out/train/model.joblib", recorded, actual)
    assert "mlpipe.lock (stage 'train')" in message and "mlpipe run train" in message
    assert not marker.exists()
    # With its upstream selected, the run puts back the recorded model and its results.
    assert statuses(mlpipe("run", "--json")) == {"train": "restored", "evaluate": "restored"}
    assert not marker.exists()


def test_evaluate_checks_a_model_inside_an_output_directory(project: Path, mlpipe: Invoke,
                                                            iris: tuple) -> None:
    write_data(project, iris[1])
    joblib.dump(iris[0], project / "fitted.joblib")
    write_tree(project, {"mlpipe.yaml": """\
        stages:
          publish: {kind: command, cmd: "mkdir -p models && cp fitted.joblib models/m.joblib",
                    deps: [fitted.joblib], outs: [models]}
          evaluate: {kind: evaluate, model: models/m.joblib, data: data/test.parquet,
                     target: species}
    """})
    assert statuses(mlpipe("run", "--json")) == {"publish": "ran", "evaluate": "ran"}
    recorded = lockfile.read(project / "mlpipe.lock")["publish"].outs["models"]
    marker = project / "pwned"
    swap(project / "models/m.joblib", marker)
    result = mlpipe("run", "evaluate", "--no-deps", "--json")
    assert statuses(result) == {"evaluate": "failed"}
    message = reason(result, "evaluate")
    assert f"records {recorded} for models, which hashes to " in message
    assert "models/m.joblib" in message and not marker.exists()


def test_producer_of_matches_whole_path_components(tmp_path: Path) -> None:
    lock = tmp_path / "mlpipe.lock"
    lockfile.write(lock, {"a": LockEntry("command", "k", "d", outs={"models": "h1.dir"}),
                          "b": LockEntry("command", "k", "d", outs={"out/m.joblib": "h2"})})
    assert producer_of(lock, "models/x/m.joblib") == Producer("a", "models", "h1.dir")
    assert producer_of(lock, "out/m.joblib") == Producer("b", "out/m.joblib", "h2")
    assert producer_of(lock, "models2/m.joblib") is None
    assert producer_of(lock, "out/m.joblib.bak") is None
    assert producer_of(tmp_path / "absent.lock", "out/m.joblib") is None
