"""The deploy kind through `mlpipe run`: server records, batch predictions, bundles, refusals."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from conftest import Invoke, statuses, write_tree

from mlpipe.models.registry import ModelVersion, Registry

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def iris() -> tuple[Any, Any, pd.DataFrame]:
    """Two different fitted iris pipelines and a small frame of rows to predict."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = FEATURES
    models = [make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=300)).fit(x, y)
              for c in (1.0, 0.05)]
    return models[0], models[1], x.iloc[::10].reset_index(drop=True)


META = {"task": "classification", "target": "species", "classes": [0, 1, 2],
        "features": [{"name": n, "dtype": "float64"} for n in FEATURES]}


def register(root: Path, model: Any, gates_passed: bool = True,
             alias: str | None = "champion") -> ModelVersion:
    """Register `model` as the next version of `iris` in the project's registry."""
    path = root / "scratch" / f"model-{id(model)}-{gates_passed}.joblib"
    path.parent.mkdir(exist_ok=True)
    joblib.dump(model, path)
    registry = Registry(root / ".mlpipe")
    version = registry.register("iris", path, META, {"accuracy": 0.9}, {"stage": "test"},
                                gates_passed=gates_passed)
    if alias:
        registry.set_alias("iris", alias, version.version)
    return version


def deploy_stage(name: str = "dep", **fields: Any) -> str:
    lines = [f"  {name}:", "    kind: deploy"] + [f"    {k}: {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def run(mlpipe: Invoke, project: Path, *stages: str) -> Any:
    write_tree(project, {"mlpipe.yaml": "stages:\n" + "".join(stages)})
    return mlpipe("run", "--json")


def reason(result: Any, stage: str) -> str:
    return next(s["reason"] for s in json.loads(result.stdout)["stages"] if s["name"] == stage)


def test_server_target_records_the_deployment(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    version = register(project, iris[0])
    result = run(mlpipe, project, deploy_stage(model="iris@champion", target="server",
                                               port=9001))
    assert result.exit_code == 0, result.output
    expected = {"name": "iris", "version": 1, "digest": version.digest, "target": "server",
                "host": "127.0.0.1", "port": 9001}
    assert json.loads((project / "out/dep/deployment.json").read_text()) == expected
    record = json.loads((project / ".mlpipe/deployments/dep.json").read_text())
    assert {k: record[k] for k in expected} == expected and record["stage"] == "dep"
    register(project, iris[1])  # champion moves to version 2: the server stage follows
    again = mlpipe("run", "--json")
    assert statuses(again) == {"dep": "ran"}
    assert json.loads((project / "out/dep/deployment.json").read_text())["version"] == 2


def test_batch_predictions_equal_model_predict(project: Path, mlpipe: Invoke,
                                               iris: tuple) -> None:
    model, _, rows = iris
    register(project, model)
    data = rows.assign(row_id=range(len(rows)))
    data.to_parquet(project / "rows.parquet", index=False)
    result = run(mlpipe, project, deploy_stage(model="iris:1", target="batch",
                                               data="rows.parquet"))
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(project / "out/dep/predictions.parquet")
    assert list(out.columns) == [*FEATURES, "row_id", "prediction", "proba_0", "proba_1",
                                 "proba_2"]
    assert out["row_id"].tolist() == list(range(len(rows)))
    assert out["prediction"].tolist() == model.predict(rows).tolist()
    proba = model.predict_proba(rows)
    for cls in range(3):
        assert out[f"proba_{cls}"].tolist() == pytest.approx(proba[:, cls].tolist())
    assert statuses(mlpipe("run", "--json")) == {"dep": "cached"}  # pinned: not re-run


def test_batch_names_a_missing_column(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    register(project, iris[0])
    iris[2].drop(columns=["petal_width"]).to_csv(project / "rows.csv", index=False)
    result = run(mlpipe, project, deploy_stage(model="iris", target="batch", data="rows.csv"))
    assert result.exit_code == 1
    assert statuses(result) == {"dep": "failed"}
    assert "lacks the model's column(s) 'petal_width'" in reason(result, "dep")


def test_gates_failed_version_is_refused(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    register(project, iris[0], gates_passed=False)
    result = run(mlpipe, project, deploy_stage(model="iris:1", target="server"))
    assert result.exit_code == 1
    assert "iris:1 (iris:1) failed its evaluation gates; refusing to deploy" in reason(
        result, "dep")
    assert not (project / ".mlpipe/deployments/dep.json").exists()
    assert not (project / "out/dep/deployment.json").exists()


def test_tampered_model_file_is_refused(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    version = register(project, iris[0])
    stored = Registry(project / ".mlpipe").store.path_of(version.digest)
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes() + b"tampered")
    result = run(mlpipe, project, deploy_stage(model="iris@champion", target="server"))
    assert result.exit_code == 1
    assert "does not match its digest" in reason(result, "dep")


def test_unknown_alias_fails_the_stage(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    register(project, iris[0])
    result = run(mlpipe, project, deploy_stage(model="iris@prod", target="server"))
    assert result.exit_code == 1
    assert "unknown alias 'prod' of model 'iris'" in reason(result, "dep")


@pytest.mark.parametrize(("fields", "message"), [
    ({"model": "iris", "target": "cloud"}, "'target' must be one of server, batch, bundle"),
    ({"target": "server"}, "give exactly one of 'model'"),
    ({"model": "iris:x", "target": "server"}, "version must be a positive integer"),
    ({"model": "iris", "target": "batch"}, "target 'batch' needs 'data'"),
    ({"model": "iris", "target": "server", "port": 70000}, "'port' must be an integer"),
])
def test_bad_config_is_a_file_error(project: Path, mlpipe: Invoke, fields: dict,
                                    message: str) -> None:
    result = run(mlpipe, project, deploy_stage(**fields))
    assert result.exit_code == 2
    assert "mlpipe.yaml:" in result.stderr and message in result.stderr


def test_entry_from_a_register_stage(project: Path, mlpipe: Invoke, iris: tuple) -> None:
    (project / "art").mkdir()
    joblib.dump(iris[1], project / "art/model.joblib")
    (project / "art/meta.json").write_text(json.dumps(META))
    register_stage = ("  reg:\n    kind: register\n    name: iris\n"
                      "    model: art/model.joblib\n    meta: art/meta.json\n")
    result = run(mlpipe, project, deploy_stage(entry="reg.entry", target="server"),
                 register_stage)
    assert result.exit_code == 0, result.output
    assert [s["name"] for s in json.loads(result.stdout)["stages"]] == ["reg", "dep"]
    deployment = json.loads((project / "out/dep/deployment.json").read_text())
    assert (deployment["name"], deployment["version"]) == ("iris", 1)


def _get(url: str, body: bytes | None = None) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bundle_contents_and_standalone_server(project: Path, mlpipe: Invoke,
                                               iris: tuple) -> None:
    from importlib.metadata import version as installed

    model, _, rows = iris
    registered = register(project, model)
    result = run(mlpipe, project, deploy_stage(model="iris@champion", target="bundle"))
    assert result.exit_code == 0, result.output
    bundle = project / "out/dep/bundle"
    assert {p.name for p in bundle.iterdir()} == {
        "model.joblib", "model_meta.json", "model_info.json", "requirements.txt", "Dockerfile",
        "serve.py", "mlpipe_serving"}
    assert json.loads((bundle / "model_meta.json").read_text()) == META
    requirements = (bundle / "requirements.txt").read_text().splitlines()
    for package in ("scikit-learn", "pandas", "joblib", "numpy"):
        assert f"{package}=={installed(package)}" in requirements
    assert "serve.py" in (bundle / "Dockerfile").read_text()
    # serve.py runs with mlpipe made unimportable: the bundle is self-contained.
    port = _free_port()
    launcher = ("import runpy, sys; sys.modules['mlpipe'] = None; "
                f"sys.argv = ['serve.py', '--port', '{port}']; "
                "runpy.run_path('serve.py', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", launcher], cwd=bundle,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                _get(url + "/health")
                break
            except OSError:
                assert time.monotonic() < deadline, "bundle server did not start"
                time.sleep(0.1)
        status, body = _get(url + "/predict", json.dumps(
            {"records": rows.head(3).to_dict("records")}).encode())
        assert status == 200 and body["predictions"] == model.predict(rows.head(3)).tolist()
        assert _get(url + "/metadata")[1]["digest"] == registered.digest
    finally:
        proc.terminate()
        proc.wait(timeout=10)
