"""`mlpipe models export --format mlflow` and `mlpipe models import`, checked with the real
mlflow package: its loader, its `models serve`, and models it saved itself."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from conftest import Invoke, write_tree
from test_serve import FEATURES, _free_port, iris, mlpipe_serve, post, register

from mlpipe.models.registry import Registry

assert iris  # the fixture, imported for this module's tests


def test_export_writes_a_model_mlflow_loads(project: Path, mlpipe: Invoke,
                                            iris: tuple) -> None:
    import mlflow.pyfunc
    from mlflow.models import Model

    model, _, rows = iris
    register(project, model)
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    result = mlpipe("models", "export", "iris@champion", "--format", "mlflow", "exported")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "exported iris:1 (iris@champion) to exported (mlflow)\n"
    out = project / "exported"
    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {"python_function", "sklearn"}
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [(c["name"], c["type"]) for c in inputs] == [(n, "double") for n in FEATURES]
    requirements = (out / "requirements.txt").read_text().split()
    assert f"scikit-learn=={version('scikit-learn')}" in requirements
    assert f"mlflow=={version('mlflow')}" in requirements
    loaded = mlflow.pyfunc.load_model(str(out))
    assert loaded.predict(rows).tolist() == model.predict(rows).tolist()
    assert loaded.metadata.get_input_schema().input_names() == FEATURES
    example = Model.load(str(out)).load_input_example(str(out))
    assert list(example.columns) == FEATURES and len(example) == 1


def test_export_refuses_what_it_cannot_do(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    register(project, iris[0], gates_passed=False)
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    result = mlpipe("models", "export", "iris", "--format", "mlflow", "out")
    assert result.exit_code == 2 and "failed its evaluation gates" in result.stderr
    result = mlpipe("models", "export", "iris", "--format", "onnx", "out")
    assert result.exit_code == 2 and "unknown export format 'onnx'" in result.stderr
    assert not (project / "out").exists()


@contextlib.contextmanager
def mlflow_serve(model_dir: Path) -> Iterator[str]:
    """`mlflow models serve --env-manager local` on a free loopback port; yields its URL."""
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = model_dir.parent / f"mlflow-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(bin_dir / "mlflow"), "models", "serve", "-m",
                                 str(model_dir), "--env-manager", "local", "--host",
                                 "127.0.0.1", "-p", str(port), "-w", "1"],
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(url + "/ping", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow models serve did not start"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_mlflow_serves_the_export_with_the_same_predictions(project: Path, mlpipe: Invoke,
                                                            iris: tuple) -> None:
    model, _, rows = iris
    register(project, model)
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    assert mlpipe("models", "export", "iris", "--format", "mlflow", "exported").exit_code == 0
    payload = {"dataframe_split": rows.to_dict(orient="split")}
    with mlpipe_serve(project, "127.0.0.1") as (ours, _, _):
        status, answer = post(ours + "/invocations", payload)
        assert status == 200
    with mlflow_serve(project / "exported") as theirs:
        assert post(theirs + "/invocations", payload) == (200, answer)
    assert answer["predictions"] == model.predict(rows).tolist()


def test_import_registers_a_model_mlflow_saved(project: Path, mlpipe: Invoke,
                                               iris: tuple) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model, _, rows = iris
    saved = project.parent / "from-mlflow"
    mlflow.sklearn.save_model(model, str(saved), signature=infer_signature(rows))
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    result = mlpipe("models", "import", str(saved), "--name", "imported")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"registered imported:1 from {saved}\n"
    again = mlpipe("models", "import", str(saved), "--name", "imported")
    assert again.stdout == f"imported:1 already holds the model in {saved}\n"
    stored = Registry(project / ".mlpipe").get("imported")
    assert stored.meta["features"] == [{"name": n, "dtype": "float64"} for n in FEATURES]
    assert stored.meta["task"] == "classification" and stored.meta["classes"] == [0, 1, 2]
    assert stored.lineage["imported_from"] == "mlflow"


@pytest.mark.parametrize(("files", "error"), [
    ({}, "is not an MLflow model directory (no MLmodel file)"),
    ({"MLmodel": "flavors: {python_function: {}}\n"}, "has no sklearn flavor"),
    ({"MLmodel": "flavors: {sklearn: {serialization_format: onnx}}\n"},
     "serialization format 'onnx' is not supported"),
    ({"MLmodel": "flavors: {sklearn: {pickled_model: model.pkl}}\n"}, "has no input signature"),
    ({"MLmodel": "flavors: {sklearn: {pickled_model: model.pkl}}\nsignature:\n  inputs: "
                 "'[{\"type\": \"double\", \"name\": \"a\"}]'\n"},
     "model.pkl cannot be loaded"),
    ({"MLmodel": "flavors: [\n"}, "cannot be read"),
])
def test_import_refuses_what_it_cannot_take(project: Path, mlpipe: Invoke,
                                            files: dict[str, str], error: str) -> None:
    directory = project.parent / "bad-model"
    directory.mkdir()
    write_tree(directory, files)
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    result = mlpipe("models", "import", str(directory), "--name", "x")
    assert result.exit_code == 2
    assert error in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert Registry(project / ".mlpipe").list() == []


def test_an_imported_model_is_served_by_mlpipe(project: Path, mlpipe: Invoke,
                                                iris: tuple) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model, _, rows = iris
    saved = project.parent / "from-mlflow"
    mlflow.sklearn.save_model(model, str(saved), signature=infer_signature(rows),
                              serialization_format="cloudpickle")
    write_tree(project, {"mlpipe.yaml": "stages: {}\n"})
    assert mlpipe("models", "import", str(saved), "--name", "iris").exit_code == 0
    with mlpipe_serve(project, "127.0.0.1") as (url, _, _):
        status, answer = post(url + "/invocations", {"inputs": rows.to_dict("list")})
    assert (status, answer) == (200, {"predictions": model.predict(rows).tolist()})
